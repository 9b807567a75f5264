/*
 * tool-http-get.c: the http_get built-in, a guarded HTTP(S) fetch.
 *
 * A model chooses the URL, so the fetch must not become a way into the
 * machine's own services or its private network.  The guards:
 *
 *   - only http and https, for the URL and for every redirect (libcurl's
 *     CURLOPT_PROTOCOLS_STR and REDIR_PROTOCOLS_STR, and our own check of
 *     each URL before it is fetched);
 *   - when http_allow_hosts is set, only those host names ("example.com"
 *     exactly, ".example.com" for it and every name below it), again for
 *     every redirect;
 *   - the address actually connected to must be public: libcurl hands
 *     every resolved address to CURLOPT_OPENSOCKETFUNCTION before it
 *     connects, and the hook refuses loopback, private (10/8,
 *     172.16/12, 192.168/16, fc00::/7), shared (100.64/10), link-local
 *     (169.254/16, fe80::/10), unspecified, multicast and reserved
 *     addresses, and IPv6 forms that embed such an IPv4 address (mapped,
 *     compatible, NAT64, 6to4), unless http_allow_private is set.  A name
 *     that resolves to such an address is refused there too, after DNS,
 *     so DNS rebinding gains nothing;
 *   - redirects are followed here, not by libcurl, one hop at a time,
 *     each hop checked as above, at most http_max_redirects of them;
 *   - the body is capped: past http_max_bytes the transfer is aborted and
 *     the text ends with a note saying it was cut; the whole fetch, every
 *     hop included, has http_timeout_ms (and the call's own deadline),
 *     and a cancelled run aborts it from libcurl's progress hook;
 *   - no proxy from the environment, no cookies, no credentials.
 *
 * The result is the body as UTF-8 text: a latin-1 page is converted, a
 * byte that is not UTF-8 becomes U+FFFD, and an HTML page is reduced to
 * its text (tags dropped, scripts and styles skipped, entities decoded,
 * block elements as line breaks).  A page whose content type is not text
 * is refused.  HTTP statuses from 400 up are errors.
 */
#include <sys/socket.h>
#include <sys/types.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "daemon/util.h"
#include "plugins/plugins-int.h"
#include "plugins/plugins.h"

/* Longest URL accepted, and longest quoted in a message. */
#define HG_URL_MAX   8192
#define HG_QUOTE_MAX 200

/* What http_get is configured with (a copy of the plug_config part). */
struct hg_state {
	char **hosts;
	size_t n_hosts;
	int allow_private;
	size_t max_bytes;
	uint32_t timeout_ms;
	uint32_t max_redirects;
};

/* One fetch in progress. */
struct hg_xfer {
	const struct hg_state *st;
	const struct plug_call *call;
	struct buf body;                     /* capped at st->max_bytes */
	int truncated;                       /* the body passed the cap */
	char refused[INET6_ADDRSTRLEN + 64]; /* why a connect was refused */
	char errbuf[CURL_ERROR_SIZE];
};

/* Text output that collapses white space and limits blank lines. */
struct hg_text {
	struct buf *out;
	int space;    /* a space is due before the next word */
	int newlines; /* line breaks due (at most 2) */
};

static pthread_once_t hg_once = PTHREAD_ONCE_INIT;
static CURLcode hg_global_rc;

static const char *hg_class_v4(uint32_t a);
static uint32_t hg_v4_at(const unsigned char *b);
static const char *hg_class_v6(const unsigned char *b);
static const char *hg_addr_class(const struct sockaddr *sa, size_t len);
static void hg_addr_text(const struct sockaddr *sa, char *out, size_t size);
static curl_socket_t hg_opensocket(
    void *arg, curlsocktype purpose, struct curl_sockaddr *address);
static int hg_host_matches(const char *entry, const char *host);
static int hg_url_check(
    const struct hg_state *st, const char *url, char **cause);
static size_t hg_write(char *data, size_t size, size_t nmemb, void *arg);
static int hg_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow,
    curl_off_t ultotal, curl_off_t ulnow);
static void hg_global_init(void);
static void hg_setup(CURL *h, struct hg_xfer *x);
static int hg_type_is_text(const char *type);
static int hg_type_is_html(const char *type, const char *body, size_t len);
static int hg_type_is_latin1(const char *type);
static size_t hg_utf8_encode(uint32_t cp, char u[4]);
static void hg_put_cp(struct buf *b, uint32_t cp);
static void hg_to_utf8(const char *s, size_t len, int latin1, struct buf *out);
static size_t hg_entity_name(const char *s, size_t len, const char *name);
static size_t hg_entity(const char *s, size_t len, uint32_t *cp);
static int hg_tag_skips(const char *name, size_t n);
static int hg_tag_breaks(const char *name, size_t n);
static void hg_text_break(struct hg_text *t);
static void hg_text_add(struct hg_text *t, const char *s, size_t n);
static void hg_html_text(const char *s, size_t len, struct buf *out);
static size_t hg_cut(const char *s, size_t len, size_t max);
static void hg_finish(
    struct hg_xfer *x, const char *type, struct plug_result *res);
static void hg_fetch(const struct hg_state *st, const char *url,
    const struct plug_call *call, struct plug_result *res);
static struct hg_state *hg_state_new(const struct plug_config *config);
static void hg_state_free(struct hg_state *st);
static int hg_init(
    const struct plug_config *config, void **state, char **cause);
static void hg_call(void *state, const json_t *args,
    const struct plug_call *call, struct plug_result *res);
static void hg_free(void *state);

/* ---- addresses ----------------------------------------------------------- */

/*
 * Classifies an IPv4 address (host byte order).  Returns NULL for a
 * public address, else what it is.
 */
static const char *
hg_class_v4(uint32_t a)
{
	if ((a >> 24) == 0)
		return "unspecified";
	if ((a >> 24) == 127)
		return "loopback";
	if ((a >> 24) == 10 || (a >> 20) == (172u << 4 | 1) ||
	    (a >> 16) == (192u << 8 | 168))
		return "private";
	if ((a >> 22) == (100u << 2 | 1)) /* 100.64/10 */
		return "shared (carrier-grade NAT)";
	if ((a >> 16) == (169u << 8 | 254))
		return "link-local";
	if ((a >> 28) == 0xe)
		return "multicast";
	if ((a >> 28) == 0xf)
		return "reserved";
	return NULL;
}

static uint32_t
hg_v4_at(const unsigned char *b)
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 |
	    (uint32_t)b[2] << 8 | (uint32_t)b[3];
}

/* As hg_class_v4() for an IPv6 address, looking inside embedded v4. */
static const char *
hg_class_v6(const unsigned char *b)
{
	static const unsigned char zero[12];
	static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
		0xff, 0xff };
	static const unsigned char nat64[12] = { 0, 0x64, 0xff, 0x9b };
	const char *c;
	size_t i;

	for (i = 0; i < 16 && b[i] == 0; i++)
		;
	if (i == 16)
		return "unspecified";
	if (i == 15 && b[15] == 1)
		return "loopback";
	if (memcmp(b, mapped, 12) == 0 || memcmp(b, zero, 12) == 0 ||
	    memcmp(b, nat64, 12) == 0) {
		c = hg_class_v4(hg_v4_at(b + 12));
		return c;
	}
	if (b[0] == 0x20 && b[1] == 0x02) /* 6to4: 2002:AABB:CCDD::/48 */
		return hg_class_v4(hg_v4_at(b + 2));
	if ((b[0] & 0xfe) == 0xfc)
		return "private (unique local)";
	if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80)
		return "link-local";
	if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0)
		return "site-local";
	if (b[0] == 0xff)
		return "multicast";
	return NULL;
}

static const char *
hg_addr_class(const struct sockaddr *sa, size_t len)
{
	const struct sockaddr_in *sin;
	const struct sockaddr_in6 *sin6;

	if (sa->sa_family == AF_INET && len >= sizeof *sin) {
		sin = (const struct sockaddr_in *)(const void *)sa;
		return hg_class_v4(ntohl(sin->sin_addr.s_addr));
	}
	if (sa->sa_family == AF_INET6 && len >= sizeof *sin6) {
		sin6 = (const struct sockaddr_in6 *)(const void *)sa;
		return hg_class_v6(sin6->sin6_addr.s6_addr);
	}
	return "not an IP";
}

/* The address as text, for messages. */
static void
hg_addr_text(const struct sockaddr *sa, char *out, size_t size)
{
	const void *addr = NULL;

	if (sa->sa_family == AF_INET)
		addr =
		    &((const struct sockaddr_in *)(const void *)sa)->sin_addr;
	else if (sa->sa_family == AF_INET6)
		addr =
		    &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
	if (addr == NULL ||
	    inet_ntop(sa->sa_family, addr, out, (socklen_t)size) == NULL)
		snprintf(out, size, "(address family %d)", sa->sa_family);
}

/*
 * libcurl's socket hook: sees every address before libcurl connects to
 * it.  Refusing returns CURL_SOCKET_BAD, and libcurl tries the next
 * address or fails with CURLE_COULDNT_CONNECT.
 */
static curl_socket_t
hg_opensocket(void *arg, curlsocktype purpose, struct curl_sockaddr *address)
{
	struct hg_xfer *x = arg;
	char text[INET6_ADDRSTRLEN + 16];
	const char *cls;

	if (purpose != CURLSOCKTYPE_IPCXN)
		return CURL_SOCKET_BAD;
	cls = hg_addr_class(&address->addr, address->addrlen);
	if (cls != NULL && !x->st->allow_private) {
		if (x->refused[0] == '\0') {
			hg_addr_text(&address->addr, text, sizeof text);
			snprintf(x->refused, sizeof x->refused,
			    "%s is %s %s address", text,
			    strchr("aeiou", cls[0]) != NULL ? "an" : "a", cls);
		}
		return CURL_SOCKET_BAD;
	}
	return socket(address->family, address->socktype | SOCK_CLOEXEC,
	    address->protocol);
}

/* ---- URLs -------------------------------------------------------------------- */

/* Does an allow-list entry cover host?  Both compared without case. */
static int
hg_host_matches(const char *entry, const char *host)
{
	size_t el, hl;

	el = strlen(entry);
	hl = strlen(host);
	if (el > 0 && entry[el - 1] == '.')
		el--;
	if (hl > 0 && host[hl - 1] == '.')
		hl--;
	if (el > 1 && entry[0] == '.') {
		/* ".example.com": example.com itself and names below it. */
		if (hl == el - 1 && strncasecmp(host, entry + 1, hl) == 0)
			return 1;
		return hl > el - 1 &&
		    strncasecmp(host + hl - (el - 1), entry + 1, el - 1) == 0 &&
		    host[hl - el] == '.';
	}
	return hl == el && strncasecmp(host, entry, hl) == 0;
}

/*
 * Checks a URL before it is fetched: absolute, http or https, and a host
 * the allow-list admits.  Returns 0, or -1 with *cause.
 */
static int
hg_url_check(const struct hg_state *st, const char *url, char **cause)
{
	CURLU *u;
	CURLUcode uc;
	char *scheme = NULL, *host = NULL;
	int rc = -1;

	if (strlen(url) > HG_URL_MAX) {
		xasprintf(cause, "the URL is longer than %d bytes", HG_URL_MAX);
		return -1;
	}
	u = curl_url();
	if (u == NULL)
		fatalx("%s: out of memory", __func__);
	uc = curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME);
	if (uc != CURLUE_OK) {
		xasprintf(cause, "'%.*s' is not a valid URL (%s)", HG_QUOTE_MAX,
		    url, curl_url_strerror(uc));
		goto out;
	}
	if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    (strcasecmp(scheme, "http") != 0 &&
	        strcasecmp(scheme, "https") != 0)) {
		xasprintf(cause,
		    "only http and https URLs are allowed, not "
		    "'%.*s'",
		    HG_QUOTE_MAX, url);
		goto out;
	}
	if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    *host == '\0') {
		xasprintf(cause, "'%.*s' has no host", HG_QUOTE_MAX, url);
		goto out;
	}
	if (st->n_hosts > 0) {
		size_t i;

		for (i = 0; i < st->n_hosts; i++) {
			if (hg_host_matches(st->hosts[i], host))
				break;
		}
		if (i == st->n_hosts) {
			xasprintf(cause,
			    "host '%.*s' is not in the allowed hosts",
			    HG_QUOTE_MAX, host);
			goto out;
		}
	}
	rc = 0;
out:
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return rc;
}

/* ---- the transfer ------------------------------------------------------------ */

static size_t
hg_write(char *data, size_t size, size_t nmemb, void *arg)
{
	struct hg_xfer *x = arg;
	size_t len = size * nmemb, room;

	room = x->body.cap - x->body.len;
	if (len > room) {
		buf_add(&x->body, data, room);
		x->truncated = 1;
		return 0; /* aborts the transfer: CURLE_WRITE_ERROR */
	}
	buf_add(&x->body, data, len);
	return len;
}

static int
hg_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
    curl_off_t ulnow)
{
	struct hg_xfer *x = arg;

	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	(void)ulnow;
	return plug_call_stopped(x->call) ? 1 : 0;
}

static void
hg_global_init(void)
{
	hg_global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* Sets the options every hop shares. */
static void
hg_setup(CURL *h, struct hg_xfer *x)
{
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(h, CURLOPT_PROXY, "");
	curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(h, CURLOPT_USERAGENT, "agentd/" AGENTD_VERSION);
	curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, hg_opensocket);
	curl_easy_setopt(h, CURLOPT_OPENSOCKETDATA, x);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, hg_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, hg_progress);
	curl_easy_setopt(h, CURLOPT_XFERINFODATA, x);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, x->errbuf);
}

/* ---- text ---------------------------------------------------------------------- */

/* Is this content type text we can show?  NULL (none sent) counts. */
static int
hg_type_is_text(const char *type)
{
	static const char *const words[] = { "json", "xml", "javascript",
		"ecmascript", "csv", "yaml", "toml", "x-sh", "markdown" };
	size_t len;

	if (type == NULL)
		return 1;
	len = strcspn(type, ";");
	if (len >= 5 && strncasecmp(type, "text/", 5) == 0)
		return 1;
	for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
		if (memmem(type, len, words[i], strlen(words[i])) != NULL)
			return 1;
	}
	return 0;
}

static int
hg_type_is_html(const char *type, const char *body, size_t len)
{
	size_t n;

	if (type != NULL) {
		n = strcspn(type, ";");
		return (n == 9 && strncasecmp(type, "text/html", 9) == 0) ||
		    (n == 21 &&
		        strncasecmp(type, "application/xhtml+xml", 21) == 0);
	}
	/* No type: sniff the start, as browsers do. */
	while (len > 0 && isspace((unsigned char)*body)) {
		body++;
		len--;
	}
	return (len >= 9 && strncasecmp(body, "<!doctype", 9) == 0) ||
	    (len >= 5 && strncasecmp(body, "<html", 5) == 0);
}

/* Does the content type name a single-byte latin charset? */
static int
hg_type_is_latin1(const char *type)
{
	static const char *const names[] = { "iso-8859-1", "iso8859-1",
		"latin1", "latin-1", "windows-1252", "cp1252" };
	const char *cs;
	size_t len;

	if (type == NULL)
		return 0;
	cs = strcasestr(type, "charset=");
	if (cs == NULL)
		return 0;
	cs += 8;
	if (*cs == '"')
		cs++;
	len = strcspn(cs, "\"; \t");
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		if (len == strlen(names[i]) &&
		    strncasecmp(cs, names[i], len) == 0)
			return 1;
	}
	return 0;
}

/* Encodes code point cp (U+FFFD if it is not one) as UTF-8 into u. */
static size_t
hg_utf8_encode(uint32_t cp, char u[4])
{
	if (cp == 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		cp = 0xfffd;
	if (cp < 0x80) {
		u[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		u[0] = (char)(0xc0 | cp >> 6);
		u[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		u[0] = (char)(0xe0 | cp >> 12);
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	u[0] = (char)(0xf0 | cp >> 18);
	u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	u[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* Appends code point cp as UTF-8. */
static void
hg_put_cp(struct buf *b, uint32_t cp)
{
	char u[4];

	buf_add(b, u, hg_utf8_encode(cp, u));
}

/*
 * Makes bytes into valid UTF-8: from latin-1 when latin1, else each byte
 * that does not start a valid sequence (and each NUL) becomes U+FFFD.
 */
static void
hg_to_utf8(const char *s, size_t len, int latin1, struct buf *out)
{
	size_t i = 0, ok;

	if (latin1) {
		for (i = 0; i < len; i++)
			hg_put_cp(out, (unsigned char)s[i]);
		return;
	}
	while (i < len) {
		ok = utf8_check(s + i, len - i);
		for (size_t j = 0; j < ok; j++) {
			if (s[i + j] == '\0') {
				ok = j;
				break;
			}
		}
		buf_add(out, s + i, ok);
		i += ok;
		if (i < len) {
			hg_put_cp(out, 0xfffd);
			i++;
		}
	}
}

/* Named entities beyond Latin-1 worth knowing; others stay as written. */
static const struct {
	const char *name;
	uint32_t cp;
} hg_entities[] = {
	{ "amp", '&' },
	{ "lt", '<' },
	{ "gt", '>' },
	{ "quot", '"' },
	{ "apos", '\'' },
	{ "ndash", 0x2013 },
	{ "mdash", 0x2014 },
	{ "hellip", 0x2026 },
	{ "lsquo", 0x2018 },
	{ "rsquo", 0x2019 },
	{ "ldquo", 0x201c },
	{ "rdquo", 0x201d },
	{ "trade", 0x2122 },
	{ "euro", 0x20ac },
	{ "bull", 0x2022 },
};

/* HTML 4's Latin-1 entities, U+00A0 to U+00FF in order. */
static const char *const hg_latin1_entities[96] = { "nbsp", "iexcl", "cent",
	"pound", "curren", "yen", "brvbar", "sect", "uml", "copy", "ordf",
	"laquo", "not", "shy", "reg", "macr", "deg", "plusmn", "sup2", "sup3",
	"acute", "micro", "para", "middot", "cedil", "sup1", "ordm", "raquo",
	"frac14", "frac12", "frac34", "iquest", "Agrave", "Aacute", "Acirc",
	"Atilde", "Auml", "Aring", "AElig", "Ccedil", "Egrave", "Eacute",
	"Ecirc", "Euml", "Igrave", "Iacute", "Icirc", "Iuml", "ETH", "Ntilde",
	"Ograve", "Oacute", "Ocirc", "Otilde", "Ouml", "times", "Oslash",
	"Ugrave", "Uacute", "Ucirc", "Uuml", "Yacute", "THORN", "szlig",
	"agrave", "aacute", "acirc", "atilde", "auml", "aring", "aelig",
	"ccedil", "egrave", "eacute", "ecirc", "euml", "igrave", "iacute",
	"icirc", "iuml", "eth", "ntilde", "ograve", "oacute", "ocirc", "otilde",
	"ouml", "divide", "oslash", "ugrave", "uacute", "ucirc", "uuml",
	"yacute", "thorn", "yuml" };

/* Does the entity name at s (len bytes left, s[0] after '&') match? */
static size_t
hg_entity_name(const char *s, size_t len, const char *name)
{
	size_t n = strlen(name);

	if (len > n && memcmp(s, name, n) == 0 && s[n] == ';')
		return n + 1;
	return 0;
}

/*
 * Decodes the entity at s (s[0] == '&').  Returns the bytes it spans and
 * sets *cp, or 0 when it is not one we know.
 */
static size_t
hg_entity(const char *s, size_t len, uint32_t *cp)
{
	size_t i = 1, start, w;
	uint32_t v = 0;
	int base = 10, d;

	if (len > 2 && s[1] == '#') {
		i = 2;
		if (s[2] == 'x' || s[2] == 'X') {
			base = 16;
			i = 3;
		}
		start = i;
		for (; i < len && i < start + 8; i++) {
			if (s[i] >= '0' && s[i] <= '9')
				d = s[i] - '0';
			else if (base == 16 && isxdigit((unsigned char)s[i]))
				d = (tolower((unsigned char)s[i]) - 'a') + 10;
			else
				break;
			v = v * (uint32_t)base + (uint32_t)d;
		}
		if (i == start || i >= len || s[i] != ';')
			return 0;
		*cp = v;
		return i + 1;
	}
	for (size_t k = 0; k < sizeof hg_entities / sizeof hg_entities[0];
	     k++) {
		w = hg_entity_name(s + 1, len - 1, hg_entities[k].name);
		if (w > 0) {
			*cp = hg_entities[k].cp;
			return w + 1;
		}
	}
	for (size_t k = 0; k < 96; k++) {
		w = hg_entity_name(s + 1, len - 1, hg_latin1_entities[k]);
		if (w > 0) {
			*cp = 0xa0 + (uint32_t)k;
			return w + 1;
		}
	}
	return 0;
}

/* Elements whose content is not text. */
static int
hg_tag_skips(const char *name, size_t n)
{
	static const char *const tags[] = { "script", "style", "template",
		"svg", "math", "head" };

	for (size_t i = 0; i < sizeof tags / sizeof tags[0]; i++) {
		if (n == strlen(tags[i]) && strncasecmp(name, tags[i], n) == 0)
			return 1;
	}
	return 0;
}

/* Elements that break lines. */
static int
hg_tag_breaks(const char *name, size_t n)
{
	static const char *const tags[] = { "br", "p", "div", "li", "ul", "ol",
		"tr", "table", "h1", "h2", "h3", "h4", "h5", "h6", "section",
		"article", "header", "footer", "nav", "main", "aside",
		"blockquote", "pre", "hr", "dt", "dd", "dl", "form", "title",
		"figure", "figcaption", "address", "body", "html" };

	for (size_t i = 0; i < sizeof tags / sizeof tags[0]; i++) {
		if (n == strlen(tags[i]) && strncasecmp(name, tags[i], n) == 0)
			return 1;
	}
	return 0;
}

static void
hg_text_break(struct hg_text *t)
{
	if (t->newlines < 2)
		t->newlines++;
	t->space = 0;
}

static void
hg_text_add(struct hg_text *t, const char *s, size_t n)
{
	if (t->out->len > 0) {
		if (t->newlines > 0)
			buf_add(t->out, "\n\n", (size_t)t->newlines);
		else if (t->space)
			buf_add(t->out, " ", 1);
	}
	t->newlines = 0;
	t->space = 0;
	buf_add(t->out, s, n);
}

/*
 * Reduces HTML (valid UTF-8) to its text.  Not a full HTML parser: it
 * knows comments, quoted attributes, elements without text and elements
 * that break lines, which is what a model needs of a page.
 */
static void
hg_html_text(const char *s, size_t len, struct buf *out)
{
	struct hg_text t = { out, 0, 0 };
	const char *end = s + len, *p = s, *name, *q;
	char u[4];
	size_t n, skip_len = 0, w;
	const char *skip = NULL; /* inside <script> and the like */
	uint32_t cp;
	char quote;

	while (p < end) {
		if (skip != NULL) {
			/* Inside <script> and the like: only its end counts. */
			q = memmem(p, (size_t)(end - p), "</", 2);
			while (q != NULL &&
			    !((size_t)(end - q) >= skip_len + 2 &&
			        strncasecmp(q + 2, skip, skip_len) == 0))
				q = memmem(
				    q + 2, (size_t)(end - q - 2), "</", 2);
			if (q == NULL)
				break;
			q = memchr(q, '>', (size_t)(end - q));
			p = q == NULL ? end : q + 1;
			skip = NULL;
			continue;
		}
		if (*p == '<' && end - p >= 4 && memcmp(p, "<!--", 4) == 0) {
			q = memmem(p + 4, (size_t)(end - p - 4), "-->", 3);
			p = q == NULL ? end : q + 3;
			continue;
		}
		if (*p == '<' && end - p >= 2 &&
		    (isalpha((unsigned char)p[1]) || p[1] == '/' ||
		        p[1] == '!' || p[1] == '?')) {
			q = p + 1;
			if (*q == '/')
				q++;
			name = q;
			while (q < end &&
			    (isalnum((unsigned char)*q) || *q == '-'))
				q++;
			n = (size_t)(q - name);
			/* Find the tag's end, past quoted attributes. */
			quote = 0;
			while (q < end && (quote != 0 || *q != '>')) {
				if (quote == 0 && (*q == '"' || *q == '\''))
					quote = *q;
				else if (quote != 0 && *q == quote)
					quote = 0;
				q++;
			}
			if (n > 0 && p[1] != '/' && hg_tag_skips(name, n) &&
			    !(q < end && q[-1] == '/')) {
				skip = name;
				skip_len = n;
			} else if (n > 0 && hg_tag_breaks(name, n))
				hg_text_break(&t);
			else if (n == 2 &&
			    (strncasecmp(name, "td", 2) == 0 ||
			        strncasecmp(name, "th", 2) == 0))
				t.space = 1;
			p = q < end ? q + 1 : end;
			continue;
		}
		if (isspace((unsigned char)*p)) {
			t.space = 1;
			p++;
			continue;
		}
		w = *p == '&' ? hg_entity(p, (size_t)(end - p), &cp) : 0;
		if (w > 0) {
			n = hg_utf8_encode(cp, u);
			if (cp == ' ' || cp == 0xa0)
				t.space = 1;
			else
				hg_text_add(&t, u, n);
			p += w;
			continue;
		}
		/* A run of plain text up to the next tag, space or entity. */
		q = p;
		while (q < end && *q != '<' && *q != '&' &&
		    !isspace((unsigned char)*q))
			q++;
		if (q == p)
			q++;
		hg_text_add(&t, p, (size_t)(q - p));
		p = q;
	}
}

/* Cuts text at most max bytes, back to a UTF-8 boundary. */
static size_t
hg_cut(const char *s, size_t len, size_t max)
{
	if (len <= max)
		return len;
	while (max > 0 && ((unsigned char)s[max] & 0xc0) == 0x80)
		max--;
	return max;
}

/* ---- the fetch ----------------------------------------------------------------- */

/* Builds the result text from a fetched body. */
static void
hg_finish(struct hg_xfer *x, const char *type, struct plug_result *res)
{
	struct buf utf8, text;
	char note[96];
	size_t cap, keep, notelen;
	int cut;

	if (!hg_type_is_text(type)) {
		plug_result_error(res, "the page is %.*s, not text",
		    (int)(strcspn(type, ";") < 100 ? strcspn(type, ";") : 100),
		    type);
		return;
	}
	if (type == NULL && memchr(x->body.data, '\0', x->body.len) != NULL) {
		plug_result_error(res, "the page is binary data, not text");
		return;
	}
	buf_init(&utf8, SIZE_MAX);
	hg_to_utf8(x->body.data != NULL ? x->body.data : "", x->body.len,
	    hg_type_is_latin1(type), &utf8);
	buf_init(&text, SIZE_MAX);
	if (hg_type_is_html(
	        type, utf8.data != NULL ? utf8.data : "", utf8.len)) {
		hg_html_text(
		    utf8.data != NULL ? utf8.data : "", utf8.len, &text);
		buf_free(&utf8);
	} else {
		buf_free(&text);
		text = utf8;
	}

	/* Leave room for the note within both caps. */
	notelen = (size_t)snprintf(note, sizeof note,
	    "\n[truncated: the page is larger than %zu bytes]",
	    x->st->max_bytes);
	cap = x->st->max_bytes;
	if (x->call->max_output_bytes != 0 && x->call->max_output_bytes < cap)
		cap = x->call->max_output_bytes;
	cut = x->truncated || text.len > cap;
	if (cut)
		cap = cap > notelen ? cap - notelen : 0;
	keep = hg_cut(text.data != NULL ? text.data : "", text.len, cap);
	res->text = xmalloc(keep + (cut ? notelen : 0) + 1);
	if (keep > 0)
		memcpy(res->text, text.data, keep);
	res->len = keep;
	if (cut) {
		memcpy(res->text + keep, note, notelen);
		res->len += notelen;
	}
	res->text[res->len] = '\0';
	res->truncated = cut;
	res->is_error = 0;
	buf_free(&text);
}

/* Runs a fetch under st; fills res (an error result on any failure). */
static void
hg_fetch(const struct hg_state *st, const char *url,
    const struct plug_call *call, struct plug_result *res)
{
	struct hg_xfer x;
	CURL *h = NULL;
	CURLcode rc;
	uint64_t deadline, now, limit_ms;
	uint32_t hop;
	long status = 0;
	char *cur, *next, *cause = NULL, *type;

	plug_result_clear(res);
	pthread_once(&hg_once, hg_global_init);
	if (hg_global_rc != CURLE_OK) {
		plug_result_error(res, "libcurl failed to start: %s",
		    curl_easy_strerror(hg_global_rc));
		return;
	}
	if (hg_url_check(st, url, &cause) != 0) {
		plug_result_error(res, "%s", cause);
		free(cause);
		return;
	}
	memset(&x, 0, sizeof x);
	x.st = st;
	x.call = call;
	buf_init(&x.body, st->max_bytes);
	h = curl_easy_init();
	if (h == NULL) {
		plug_result_error(res, "libcurl failed to start a transfer");
		goto out;
	}
	hg_setup(h, &x);

	now = clock_mono_ns();
	deadline = now + (uint64_t)st->timeout_ms * 1000000;
	if (call->deadline_ns != 0 && call->deadline_ns < deadline)
		deadline = call->deadline_ns;
	/* The limit that applies, for messages. */
	limit_ms = deadline > now ? (deadline - now + 500000) / 1000000 : 0;
	cur = xstrdup(url);
	for (hop = 0;; hop++) {
		now = clock_mono_ns();
		if (now >= deadline) {
			plug_result_error(res, "timed out after %llu ms",
			    (unsigned long long)limit_ms);
			break;
		}
		buf_reset(&x.body);
		x.truncated = 0;
		x.refused[0] = '\0';
		x.errbuf[0] = '\0';
		curl_easy_setopt(h, CURLOPT_URL, cur);
		curl_easy_setopt(h, CURLOPT_TIMEOUT_MS,
		    (long)((deadline - now + 999999) / 1000000));
		rc = curl_easy_perform(h);

		if (rc == CURLE_WRITE_ERROR && x.truncated)
			rc = CURLE_OK;
		if (rc != CURLE_OK) {
			if (x.refused[0] != '\0')
				plug_result_error(res,
				    "refused to connect to %s (%.*s): %s",
				    hop == 0 ? "the URL" : "a redirect",
				    HG_QUOTE_MAX, cur, x.refused);
			else if (rc == CURLE_ABORTED_BY_CALLBACK &&
			    plug_call_cancelled(call))
				plug_result_error(res, "cancelled");
			else if (rc == CURLE_ABORTED_BY_CALLBACK ||
			    rc == CURLE_OPERATION_TIMEDOUT)
				plug_result_error(res,
				    "timed out after %llu ms",
				    (unsigned long long)limit_ms);
			else
				plug_result_error(res, "fetching %.*s: %s",
				    HG_QUOTE_MAX, cur,
				    x.errbuf[0] != '\0'
				        ? x.errbuf
				        : curl_easy_strerror(rc));
			break;
		}
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
		next = NULL;
		if (status >= 300 && status < 400)
			curl_easy_getinfo(h, CURLINFO_REDIRECT_URL, &next);
		if (next == NULL) {
			type = NULL;
			curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &type);
			if (status >= 400)
				plug_result_error(res,
				    "HTTP status %ld from %.*s", status,
				    HG_QUOTE_MAX, cur);
			else
				hg_finish(&x, type, res);
			break;
		}
		if (hop + 1 > st->max_redirects) {
			plug_result_error(res,
			    "too many redirects (more than %u)",
			    st->max_redirects);
			break;
		}
		if (hg_url_check(st, next, &cause) != 0) {
			plug_result_error(res, "redirect refused: %s", cause);
			free(cause);
			cause = NULL;
			break;
		}
		free(cur);
		cur = xstrdup(next);
	}
	free(cur);
out:
	curl_easy_cleanup(h);
	buf_free(&x.body);
}

/* ---- the built-in ------------------------------------------------------------- */

static struct hg_state *
hg_state_new(const struct plug_config *config)
{
	struct hg_state *st = xcalloc(1, sizeof *st);

	if (config->n_http_allow_hosts > 0) {
		st->hosts =
		    xcalloc(config->n_http_allow_hosts, sizeof *st->hosts);
		for (size_t i = 0; i < config->n_http_allow_hosts; i++)
			st->hosts[i] = xstrdup(config->http_allow_hosts[i]);
		st->n_hosts = config->n_http_allow_hosts;
	}
	st->allow_private = config->http_allow_private != 0;
	st->max_bytes = config->http_max_bytes != 0
	    ? config->http_max_bytes
	    : PLUG_DEFAULT_HTTP_MAX_BYTES;
	st->timeout_ms = config->http_timeout_ms != 0
	    ? config->http_timeout_ms
	    : PLUG_DEFAULT_HTTP_TIMEOUT_MS;
	st->max_redirects = config->http_max_redirects != 0
	    ? config->http_max_redirects
	    : PLUG_DEFAULT_HTTP_REDIRECTS;
	return st;
}

static void
hg_state_free(struct hg_state *st)
{
	if (st == NULL)
		return;
	for (size_t i = 0; i < st->n_hosts; i++)
		free(st->hosts[i]);
	free(st->hosts);
	free(st);
}

void
plug_http_fetch(const struct plug_config *config, const char *url,
    const struct plug_call *call, struct plug_result *res)
{
	struct hg_state *st = hg_state_new(config);

	hg_fetch(st, url, call, res);
	hg_state_free(st);
}

static int
hg_init(const struct plug_config *config, void **state, char **cause)
{
	if (!config->http_enabled)
		return 1;
	pthread_once(&hg_once, hg_global_init);
	if (hg_global_rc != CURLE_OK) {
		xasprintf(cause, "libcurl failed to start: %s",
		    curl_easy_strerror(hg_global_rc));
		return -1;
	}
	*state = hg_state_new(config);
	return 0;
}

static void
hg_call(void *state, const json_t *args, const struct plug_call *call,
    struct plug_result *res)
{
	const json_t *url = json_object_get(args, "url");

	hg_fetch(state, json_string_value(url), call, res);
}

static void
hg_free(void *state)
{
	hg_state_free(state);
}

const struct plug_builtin plug_builtin_http_get = {
	.name = "http_get",
	.description = "Fetches a web page over HTTP or HTTPS and returns its "
	               "text.",
	.schema = "{\"type\":\"object\",\"properties\":{\"url\":"
	          "{\"type\":\"string\"}},"
	          "\"required\":[\"url\"],\"additionalProperties\":false}",
	.init = hg_init,
	.call = hg_call,
	.free = hg_free,
};
