/*
 * util.h: the base layer shared by daemon/, agent/, plugins/ and lua/.
 *
 * Allocation that never returns NULL (x*alloc: out of memory ends the
 * process, as for any small fixed-size allocation), the logger, capped
 * buffers and a monotonic clock.  It depends only on libc.  inference/
 * and the plugin ABI must not include it; they take callbacks instead.
 */
#ifndef AGENTD_DAEMON_UTIL_H
#define AGENTD_DAEMON_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#define printflike(a, b) __attribute__((format(printf, a, b)))

/*
 * Allocation.  Each returns memory the caller owns and frees with free();
 * on out-of-memory or on a size that overflows, each calls fatalx().  Use
 * them for small allocations whose size the program chooses; sizes taken
 * from input must be checked by the caller first, or use malloc and
 * report the failure.
 */
void *xmalloc(size_t size);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *ptr, size_t size);
void *xreallocarray(void *ptr, size_t nmemb, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
int xasprintf(char **ret, const char *fmt, ...) printflike(2, 3);
int xvasprintf(char **ret, const char *fmt, va_list ap) printflike(2, 0);

/*
 * Logging.  Lines go to stderr with the sd-daemon(3) priority prefix
 * ("<3>" for errors ... "<7>" for debug), so journald keeps the level.
 * The macros test the level before formatting anything.  Safe to call
 * from any thread; each line is written with a single write(2).
 */
enum log_level {
	LOG_LEVEL_ERR = 3,
	LOG_LEVEL_WARN = 4,
	LOG_LEVEL_NOTICE = 5,
	LOG_LEVEL_INFO = 6,
	LOG_LEVEL_DEBUG = 7,
};

extern int log_level;

/* Parses "err", "warn", "notice", "info" or "debug"; -1 if none. */
int log_level_parse(const char *name);
/* Returns the name of a level, as log_level_parse() accepts it. */
const char *log_level_name(int level);
/* Writes one line at the given priority (use the macros instead). */
void log_write(int level, const char *fmt, ...) printflike(2, 3);
void log_vwrite(int level, const char *fmt, va_list ap) printflike(2, 0);

#define log_at(lvl, ...)                                                  \
	do {                                                              \
		if (log_level >= (lvl))                                   \
			log_write((lvl), __VA_ARGS__);                    \
	} while (0)
#define log_err(...)	log_at(LOG_LEVEL_ERR, __VA_ARGS__)
#define log_warn(...)	log_at(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_notice(...) log_at(LOG_LEVEL_NOTICE, __VA_ARGS__)
#define log_info(...)	log_at(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...)	log_at(LOG_LEVEL_DEBUG, __VA_ARGS__)

/* Logs at error level with ": strerror(errno)" appended, then exits 1. */
__attribute__((noreturn)) void fatal(const char *fmt, ...) printflike(1, 2);
/* Logs at error level, then exits 1. */
__attribute__((noreturn)) void fatalx(const char *fmt, ...) printflike(1, 2);

/*
 * A broken invariant: a programmer's error, never bad input.  Reports
 * file:line and aborts.
 */
#define AGENTD_ASSERT(x)                                                  \
	do {                                                              \
		if (!(x))                                                 \
			assert_fail(__FILE__, __LINE__, #x);              \
	} while (0)
__attribute__((noreturn)) void assert_fail(const char *file, int line,
    const char *expr);

/*
 * A growable byte buffer with a cap fixed at creation.  buf_add() past the
 * cap fails and leaves the buffer as it was.  The data is always followed
 * by a NUL byte that is not counted in len.
 */
struct buf {
	char	*data;
	size_t	 len;
	size_t	 size;
	size_t	 cap;
};

/* Initialises an empty buffer that may hold at most cap bytes. */
void buf_init(struct buf *b, size_t cap);
/* Appends len bytes; returns 0, or -1 when the cap would be passed. */
int buf_add(struct buf *b, const void *data, size_t len);
/* Appends a NUL-terminated string; as buf_add(). */
int buf_puts(struct buf *b, const char *s);
/* Appends formatted text; as buf_add(). */
int buf_printf(struct buf *b, const char *fmt, ...) printflike(2, 3);
/* Forgets the contents but keeps the memory and the cap. */
void buf_reset(struct buf *b);
/* Takes the data (caller frees), leaving the buffer empty. */
char *buf_steal(struct buf *b);
/* Frees the memory; the buffer may be initialised again. */
void buf_free(struct buf *b);

/* Monotonic clock in nanoseconds and milliseconds. */
uint64_t clock_mono_ns(void);
uint64_t clock_mono_ms(void);
/* Wall clock in nanoseconds since the epoch. */
uint64_t clock_wall_ns(void);

/* Returns 1 if [s, s+len) is valid UTF-8 (no overlongs, surrogates or
 * code points past U+10FFFF), else 0. */
int utf8_valid(const char *s, size_t len);
/* Returns the offset of the first byte of [s, s+len) that does not start
 * a valid UTF-8 sequence (as utf8_valid() judges), or len if none. */
size_t utf8_check(const char *s, size_t len);

#endif /* AGENTD_DAEMON_UTIL_H */
