/*
 * chat.c: recognising chat template families and rendering messages with
 * them (see chat.h for the formats).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inference/chat.h"

static const char *const tmpl_names[INFER_CHAT_COUNT] = {
	[INFER_CHAT_RAW] = "raw",
	[INFER_CHAT_CHATML] = "chatml",
	[INFER_CHAT_LLAMA3] = "llama3",
	[INFER_CHAT_LLAMA2] = "llama2",
	[INFER_CHAT_LLAMA2_SYS] = "llama2-sys",
	[INFER_CHAT_LLAMA2_SYS_BOS] = "llama2-sys-bos",
	[INFER_CHAT_LLAMA2_SYS_STRIP] = "llama2-sys-strip",
	[INFER_CHAT_MISTRAL_V1] = "mistral-v1",
	[INFER_CHAT_MISTRAL_V3] = "mistral-v3",
	[INFER_CHAT_MISTRAL_V3_TEKKEN] = "mistral-v3-tekken",
	[INFER_CHAT_MISTRAL_V7] = "mistral-v7",
	[INFER_CHAT_MISTRAL_V7_TEKKEN] = "mistral-v7-tekken",
	[INFER_CHAT_GRANITE] = "granite",
	[INFER_CHAT_GENERIC] = "generic",
};

/* The text being rendered and where the contents went. */
struct out {
	char *s;
	size_t len, cap;
	struct infer_tok_range *ranges;
	size_t n_ranges, cap_ranges;
	int oom;
};

static void chat_cause(char **, const char *, ...)
    __attribute__((format(printf, 2, 3)));

static void
chat_cause(char **cause, const char *fmt, ...)
{
	va_list ap;

	if (cause == NULL)
		return;
	va_start(ap, fmt);
	if (vasprintf(cause, fmt, ap) == -1)
		*cause = NULL;
	va_end(ap);
}

/* Whether the template contains the NUL-terminated string s. */
static int
has(const char *tmpl, size_t len, const char *s)
{
	return memmem(tmpl, len, s, strlen(s)) != NULL;
}

enum infer_chat_tmpl
infer_chat_detect(const char *tmpl, size_t len)
{
	if (tmpl == NULL || len == 0)
		return INFER_CHAT_RAW;
	for (int t = 0; t < INFER_CHAT_COUNT; t++) {
		if (strlen(tmpl_names[t]) == len &&
		    memcmp(tmpl_names[t], tmpl, len) == 0)
			return (enum infer_chat_tmpl)t;
	}
	if (has(tmpl, len, "<|im_start|>")) {
		/* Phi-4 and SmolVLM use the marker in other formats. */
		if (has(tmpl, len, "<|im_sep|>") ||
		    has(tmpl, len, "<end_of_utterance>"))
			return INFER_CHAT_GENERIC;
		return INFER_CHAT_CHATML;
	}
	if ((len >= 7 && memcmp(tmpl, "mistral", 7) == 0) ||
	    has(tmpl, len, "[INST]")) {
		if (has(tmpl, len, "[SYSTEM_PROMPT]")) {
			/* Mistral Large writes "[INST] " and
			 * "[SYSTEM_PROMPT] ", the tekken models no space. */
			if (has(tmpl, len, "[INST] ") ||
			    has(tmpl, len, "[SYSTEM_PROMPT] "))
				return INFER_CHAT_MISTRAL_V7;
			return INFER_CHAT_MISTRAL_V7_TEKKEN;
		}
		if (has(tmpl, len, "' [INST] ' + system_message") ||
		    has(tmpl, len, "[AVAILABLE_TOOLS]")) {
			if (has(tmpl, len, " [INST]"))
				return INFER_CHAT_MISTRAL_V1;
			if (has(tmpl, len, "\"[INST]\""))
				return INFER_CHAT_MISTRAL_V3_TEKKEN;
			return INFER_CHAT_MISTRAL_V3;
		}
		if (has(tmpl, len, "content.strip()"))
			return INFER_CHAT_LLAMA2_SYS_STRIP;
		if (has(tmpl, len, "bos_token + '[INST]"))
			return INFER_CHAT_LLAMA2_SYS_BOS;
		if (has(tmpl, len, "<<SYS>>"))
			return INFER_CHAT_LLAMA2_SYS;
		return INFER_CHAT_LLAMA2;
	}
	if (has(tmpl, len, "<|start_header_id|>") &&
	    has(tmpl, len, "<|end_header_id|>"))
		return INFER_CHAT_LLAMA3;
	if (has(tmpl, len, "<|start_of_role|>"))
		return INFER_CHAT_GRANITE;
	return INFER_CHAT_GENERIC;
}

const char *
infer_chat_tmpl_name(enum infer_chat_tmpl t)
{
	if ((int)t < 0 || t >= INFER_CHAT_COUNT)
		return "unknown";
	return tmpl_names[t];
}

int
infer_chat_tmpl_from_name(
    const char *name, enum infer_chat_tmpl *t, char **cause)
{
	for (int i = 0; i < INFER_CHAT_COUNT; i++) {
		if (strcmp(tmpl_names[i], name) == 0) {
			*t = (enum infer_chat_tmpl)i;
			return 0;
		}
	}
	chat_cause(cause,
	    "unknown chat template '%s' (known: raw, chatml, llama3, llama2, "
	    "llama2-sys, llama2-sys-bos, llama2-sys-strip, mistral-v1, "
	    "mistral-v3, mistral-v3-tekken, mistral-v7, mistral-v7-tekken, "
	    "granite, generic)",
	    name);
	return -1;
}

/* Appends n bytes. */
static void
put(struct out *o, const char *s, size_t n)
{
	if (o->oom || n == 0)
		return;
	if (o->len + n + 1 > o->cap) {
		size_t cap = o->cap > 0 ? o->cap : 256;
		char *p;

		while (cap < o->len + n + 1) {
			if (cap > SIZE_MAX / 2) {
				o->oom = 1;
				return;
			}
			cap *= 2;
		}
		p = realloc(o->s, cap);
		if (p == NULL) {
			o->oom = 1;
			return;
		}
		o->s = p;
		o->cap = cap;
	}
	memcpy(o->s + o->len, s, n);
	o->len += n;
	o->s[o->len] = '\0';
}

/* Appends a NUL-terminated string. */
static void
puts_(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

static int
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' ||
	    c == '\r';
}

/* Appends a message's content (trimmed if asked) and records its range. */
static void
put_content(struct out *o, const char *s, int trim)
{
	size_t n = strlen(s);

	if (trim) {
		while (n > 0 && is_space(s[0])) {
			s++;
			n--;
		}
		while (n > 0 && is_space(s[n - 1]))
			n--;
	}
	if (o->oom)
		return;
	if (o->n_ranges == o->cap_ranges) {
		size_t cap = o->cap_ranges > 0 ? o->cap_ranges * 2 : 8;
		struct infer_tok_range *r;

		r = realloc(o->ranges, cap * sizeof *r);
		if (r == NULL) {
			o->oom = 1;
			return;
		}
		o->ranges = r;
		o->cap_ranges = cap;
	}
	o->ranges[o->n_ranges].off = o->len;
	o->ranges[o->n_ranges].len = n;
	o->n_ranges++;
	put(o, s, n);
}

/* Whether role is a word: ASCII letters, digits, '_' and '-'. */
static int
role_is_word(const char *role)
{
	if (role[0] == '\0' || strlen(role) > 64)
		return 0;
	for (const char *p = role; *p != '\0'; p++) {
		char c = *p;

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		        (c >= '0' && c <= '9') || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

/* Checks the messages for family t. */
static int
check_msgs(enum infer_chat_tmpl t, const struct infer_chat_msg *msgs, size_t n,
    char **cause)
{
	int inst = t >= INFER_CHAT_LLAMA2 && t <= INFER_CHAT_MISTRAL_V7_TEKKEN;

	if (n > 0 && msgs == NULL) {
		chat_cause(cause, "chat: %zu messages but no array", n);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		const char *r = msgs[i].role;

		if (r == NULL || msgs[i].content == NULL) {
			chat_cause(cause, "chat: message %zu: %s is NULL", i,
			    r == NULL ? "role" : "content");
			return -1;
		}
		if (t == INFER_CHAT_RAW)
			continue;
		if (inst && strcmp(r, "system") != 0 &&
		    strcmp(r, "user") != 0 && strcmp(r, "assistant") != 0) {
			chat_cause(cause,
			    "chat: message %zu: role '%.64s' is not system, "
			    "user or assistant, which the %s template needs",
			    i, r, tmpl_names[t]);
			return -1;
		}
		if (!role_is_word(r)) {
			chat_cause(cause,
			    "chat: message %zu: role '%.64s' is not a word of "
			    "letters, digits, '_' and '-'",
			    i, r);
			return -1;
		}
	}
	return 0;
}

static void
render_llama2(struct out *o, enum infer_chat_tmpl t,
    const struct infer_chat_msg *msgs, size_t n)
{
	int sys = t != INFER_CHAT_LLAMA2;
	int bos_inside = t == INFER_CHAT_LLAMA2_SYS_BOS;
	int strip = t == INFER_CHAT_LLAMA2_SYS_STRIP;
	int inside = 1; /* the first [INST] goes without BOS */

	puts_(o, "[INST] ");
	for (size_t i = 0; i < n; i++) {
		const char *r = msgs[i].role;

		if (!inside) {
			inside = 1;
			puts_(o, bos_inside ? "<s>[INST] " : "[INST] ");
		}
		if (strcmp(r, "system") == 0) {
			if (sys) {
				puts_(o, "<<SYS>>\n");
				put_content(o, msgs[i].content, strip);
				puts_(o, "\n<</SYS>>\n\n");
			} else {
				put_content(o, msgs[i].content, strip);
				puts_(o, "\n");
			}
		} else if (strcmp(r, "user") == 0) {
			put_content(o, msgs[i].content, strip);
			puts_(o, " [/INST]");
		} else {
			put_content(o, msgs[i].content, strip);
			puts_(o, "</s>");
			inside = 0;
		}
	}
}

static void
render_mistral(struct out *o, enum infer_chat_tmpl t,
    const struct infer_chat_msg *msgs, size_t n)
{
	const char *lead = t == INFER_CHAT_MISTRAL_V1 ? " " : "";
	const char *trail = t == INFER_CHAT_MISTRAL_V3_TEKKEN ? "" : " ";
	int trim = t == INFER_CHAT_MISTRAL_V3, inside = 0;

	for (size_t i = 0; i < n; i++) {
		const char *r = msgs[i].role;

		if (!inside) {
			puts_(o, lead);
			puts_(o, "[INST]");
			puts_(o, trail);
			inside = 1;
		}
		if (strcmp(r, "system") == 0) {
			put_content(o, msgs[i].content, 0);
			puts_(o, "\n\n");
		} else if (strcmp(r, "user") == 0) {
			put_content(o, msgs[i].content, 0);
			puts_(o, lead);
			puts_(o, "[/INST]");
		} else {
			puts_(o, trail);
			put_content(o, msgs[i].content, trim);
			puts_(o, "</s>");
			inside = 0;
		}
	}
}

static void
render_mistral_v7(struct out *o, enum infer_chat_tmpl t,
    const struct infer_chat_msg *msgs, size_t n)
{
	const char *sp = t == INFER_CHAT_MISTRAL_V7 ? " " : "";

	for (size_t i = 0; i < n; i++) {
		const char *r = msgs[i].role;

		if (strcmp(r, "system") == 0) {
			puts_(o, "[SYSTEM_PROMPT]");
			puts_(o, sp);
			put_content(o, msgs[i].content, 0);
			puts_(o, "[/SYSTEM_PROMPT]");
		} else if (strcmp(r, "user") == 0) {
			puts_(o, "[INST]");
			puts_(o, sp);
			put_content(o, msgs[i].content, 0);
			puts_(o, "[/INST]");
		} else {
			puts_(o, sp);
			put_content(o, msgs[i].content, 0);
			puts_(o, "</s>");
		}
	}
}

/* "System", "User", "Assistant", or the role with its first letter up. */
static void
put_role_title(struct out *o, const char *r)
{
	char c = r[0];

	if (c >= 'a' && c <= 'z')
		c = (char)(c - 'a' + 'A');
	put(o, &c, 1);
	puts_(o, r + 1);
}

char *
infer_chat_apply(enum infer_chat_tmpl t, const struct infer_chat_msg *msgs,
    size_t n, int add_assistant, size_t *len, struct infer_tok_range **content,
    size_t *n_content, char **cause)
{
	struct out o;

	memset(&o, 0, sizeof o);
	*len = 0;
	if (content != NULL) {
		*content = NULL;
		*n_content = 0;
	}
	if ((int)t < 0 || t >= INFER_CHAT_COUNT) {
		chat_cause(cause, "chat: unknown template family %d", (int)t);
		return NULL;
	}
	if (check_msgs(t, msgs, n, cause) != 0)
		return NULL;
	switch (t) {
	case INFER_CHAT_RAW:
		for (size_t i = 0; i < n; i++)
			put_content(&o, msgs[i].content, 0);
		break;
	case INFER_CHAT_CHATML:
		for (size_t i = 0; i < n; i++) {
			puts_(&o, "<|im_start|>");
			puts_(&o, msgs[i].role);
			puts_(&o, "\n");
			put_content(&o, msgs[i].content, 0);
			puts_(&o, "<|im_end|>\n");
		}
		if (add_assistant)
			puts_(&o, "<|im_start|>assistant\n");
		break;
	case INFER_CHAT_LLAMA3:
		for (size_t i = 0; i < n; i++) {
			puts_(&o, "<|start_header_id|>");
			puts_(&o, msgs[i].role);
			puts_(&o, "<|end_header_id|>\n\n");
			put_content(&o, msgs[i].content, 1);
			puts_(&o, "<|eot_id|>");
		}
		if (add_assistant)
			puts_(&o,
			    "<|start_header_id|>assistant<|end_header_id|>"
			    "\n\n");
		break;
	case INFER_CHAT_LLAMA2:
	case INFER_CHAT_LLAMA2_SYS:
	case INFER_CHAT_LLAMA2_SYS_BOS:
	case INFER_CHAT_LLAMA2_SYS_STRIP:
		render_llama2(&o, t, msgs, n);
		break;
	case INFER_CHAT_MISTRAL_V1:
	case INFER_CHAT_MISTRAL_V3:
	case INFER_CHAT_MISTRAL_V3_TEKKEN:
		render_mistral(&o, t, msgs, n);
		break;
	case INFER_CHAT_MISTRAL_V7:
	case INFER_CHAT_MISTRAL_V7_TEKKEN:
		render_mistral_v7(&o, t, msgs, n);
		break;
	case INFER_CHAT_GRANITE:
		for (size_t i = 0; i < n; i++) {
			puts_(&o, "<|start_of_role|>");
			puts_(&o, msgs[i].role);
			puts_(&o, "<|end_of_role|>");
			put_content(&o, msgs[i].content, 0);
			puts_(&o, "<|end_of_text|>\n");
		}
		if (add_assistant)
			puts_(&o, "<|start_of_role|>assistant<|end_of_role|>");
		break;
	case INFER_CHAT_GENERIC:
		for (size_t i = 0; i < n; i++) {
			put_role_title(&o, msgs[i].role);
			puts_(&o, ": ");
			put_content(&o, msgs[i].content, 0);
			puts_(&o, "\n\n");
		}
		if (add_assistant)
			puts_(&o, "Assistant:");
		break;
	case INFER_CHAT_COUNT:
		break;
	}
	if (!o.oom && o.s == NULL) {
		o.s = malloc(1);
		if (o.s == NULL)
			o.oom = 1;
		else
			o.s[0] = '\0';
	}
	if (o.oom) {
		chat_cause(
		    cause, "chat: out of memory rendering %zu messages", n);
		free(o.s);
		free(o.ranges);
		return NULL;
	}
	*len = o.len;
	if (content != NULL) {
		*content = o.ranges;
		*n_content = o.n_ranges;
	} else
		free(o.ranges);
	return o.s;
}
