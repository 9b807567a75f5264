/*
 * tokenizer.c: byte-level BPE ("gpt2") and SentencePiece-style BPE
 * ("llama") tokenizers over a GGUF vocabulary.
 *
 * Layout of a tokenizer: the token texts in one arena, a hash table from
 * text to id, a hash table from a pair of ids to the rank and result of
 * their BPE merge, a trie of the special tokens (for splitting them out
 * of text), the decoded piece of every token (another arena), and the
 * compiled pre-tokenizer expressions.
 *
 * Encoding works on fragments: the text is first cut at special tokens;
 * each plain fragment is then split into pre-tokens (BPE) or taken whole
 * (SentencePiece) and merged with a binary heap of candidate pairs, so a
 * word of n characters costs O(n log n), not O(n^2).  Merged symbols are
 * linked lists over the characters, as in SentencePiece's own BPE.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "inference/tokenizer.h"

/* The most expressions a pre-tokenizer applies in a row. */
#define PRE_MAX_RE 6

/* A pre-tokenizer: its names in tokenizer.ggml.pre and what it does. */
struct pre_def {
	const char *names[12]; /* the first is the canonical name */
	const char *re[PRE_MAX_RE];
	int ignore_merges; /* a pre-token that is a token is taken whole */
	int add_bos;       /* default of add_bos_token */
};

/*
 * The expressions, as the models' tokenizer.json files write them (the
 * Hugging Face tokenizers run them with Oniguruma, whose syntax PCRE2
 * shares for everything used here).
 */
#define RE_GPT2                                                             \
	"'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+" \
	"|\\s+(?!\\S)|\\s+"
#define RE_LLAMA3                                                    \
	"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+" \
	"|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+"  \
	"|\\s+(?!\\S)|\\s+"
#define RE_QWEN2                                                     \
	"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+" \
	"|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+"       \
	"|\\s+(?!\\S)|\\s+"
/* Letters of cased scripts, as DeepSeek's tokenizer.json lists them. */
#define RE_DEEPSEEK_CASED                                                 \
	"A-Za-z\\x{B5}\\x{C0}-\\x{D6}\\x{D8}-\\x{F6}\\x{F8}-\\x{1BA}"     \
	"\\x{1BC}-\\x{1BF}\\x{1C4}-\\x{293}\\x{295}-\\x{2AF}"             \
	"\\x{370}-\\x{373}\\x{376}-\\x{377}\\x{37B}-\\x{37D}\\x{37F}"     \
	"\\x{386}\\x{388}-\\x{38A}\\x{38C}\\x{38E}-\\x{3A1}"              \
	"\\x{3A3}-\\x{3F5}\\x{3F7}-\\x{481}\\x{48A}-\\x{52F}"             \
	"\\x{531}-\\x{556}\\x{10A0}-\\x{10C5}\\x{13A0}-\\x{13F5}"         \
	"\\x{13F8}-\\x{13FD}\\x{1C90}-\\x{1CBA}\\x{1CBD}-\\x{1CBF}"       \
	"\\x{1D00}-\\x{1D2B}\\x{1D6B}-\\x{1D77}\\x{1D79}-\\x{1D9A}"       \
	"\\x{1E00}-\\x{1F15}\\x{1F18}-\\x{1F1D}\\x{1F20}-\\x{1F45}"       \
	"\\x{1F48}-\\x{1F4D}\\x{1F50}-\\x{1F57}\\x{1F59}\\x{1F5B}"        \
	"\\x{1F5D}\\x{1F5F}-\\x{1F7D}\\x{1F80}-\\x{1FB4}"                 \
	"\\x{1FB6}-\\x{1FBC}\\x{1FBE}\\x{1FC2}-\\x{1FC4}"                 \
	"\\x{1FC6}-\\x{1FCC}\\x{1FD0}-\\x{1FD3}\\x{1FD6}-\\x{1FDB}"       \
	"\\x{1FE0}-\\x{1FEC}\\x{1FF2}-\\x{1FF4}\\x{1FF6}-\\x{1FFC}"       \
	"\\x{2102}\\x{2107}\\x{210A}-\\x{2113}\\x{2115}"                  \
	"\\x{2119}-\\x{211D}\\x{2124}\\x{2126}\\x{2128}"                  \
	"\\x{212A}-\\x{212D}\\x{212F}-\\x{2134}\\x{2139}"                 \
	"\\x{213C}-\\x{213F}\\x{2145}-\\x{2149}\\x{214E}"                 \
	"\\x{2183}-\\x{2184}\\x{2C00}-\\x{2C7B}\\x{2C7E}-\\x{2CE4}"       \
	"\\x{2CEB}-\\x{2CEE}\\x{2CF2}-\\x{2CF3}\\x{A640}-\\x{A66D}"       \
	"\\x{A680}-\\x{A69B}\\x{A722}-\\x{A76F}\\x{A771}-\\x{A787}"       \
	"\\x{A78B}-\\x{A78E}\\x{AB70}-\\x{ABBF}\\x{FB00}-\\x{FB06}"       \
	"\\x{FB13}-\\x{FB17}\\x{FF21}-\\x{FF3A}\\x{FF41}-\\x{FF5A}"       \
	"\\x{10400}-\\x{1044F}\\x{104B0}-\\x{104D3}\\x{104D8}-\\x{104FB}" \
	"\\x{10C80}-\\x{10CB2}\\x{10CC0}-\\x{10CF2}\\x{118A0}-\\x{118DF}" \
	"\\x{1E900}-\\x{1E943}"
/* CJK ideographs (sic: the range from U+0800 is DeepSeek's) and Hangul. */
#define RE_DEEPSEEK_CJK \
	"[\\x{4E00}-\\x{9FA5}\\x{0800}-\\x{4E00}\\x{AC00}-\\x{D7FF}]+"
#define RE_STARCODER_DIGIT "\\p{N}"
#define RE_DEEPSEEK3_MAIN                                       \
	"[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+" \
	"|[^\\r\\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+"          \
	"| ?[\\p{P}\\p{S}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RE_TEKKEN                                                      \
	"[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*"  \
	"[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+"                               \
	"|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+" \
	"[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*"                               \
	"|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+"        \
	"|\\s+(?!\\S)|\\s+"
#define RE_GPT4O                                                       \
	"[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*"  \
	"[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?"  \
	"|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+" \
	"[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?"  \
	"|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+"   \
	"|\\s+(?!\\S)|\\s+"

static const struct pre_def pre_defs[] = {
	{
	    .names = { "gpt-2", "phi-2", "jina-es", "jina-de", "jina-v1-en",
	        "jina-v2-es", "jina-v2-de", "jina-v2-code", "roberta-bpe",
	        "gigachat", "mpt", "olmo" },
	    .re = { RE_GPT2 },
	},
	{
	    .names = { "llama3", "llama-v3", "llama-bpe", "falcon3",
	        "falcon-h1", "pixtral" },
	    .re = { RE_LLAMA3 },
	    .ignore_merges = 1,
	    .add_bos = 1,
	},
	{
	    /* The same expression as llama3, without its other settings. */
	    .names = { "dbrx", "smaug-bpe", "chatglm-bpe", "glm4" },
	    .re = { RE_LLAMA3 },
	},
	{
	    .names = { "qwen2", "deepseek-r1-qwen", "megrez", "stablelm2",
	        "kormo" },
	    .re = { RE_QWEN2 },
	},
	{
	    .names = { "deepseek-llm" },
	    .re = { "[\\r\\n]", "\\s?[" RE_DEEPSEEK_CASED "]+",
	        "\\s?[!-/:-~\\x{FF01}-\\x{FF0F}\\x{FF1A}-\\x{FF5E}"
	        "\\x{2018}-\\x{201F}\\x{3000}-\\x{3002}]+",
	        "\\s+$", RE_DEEPSEEK_CJK, "\\p{N}+" },
	},
	{
	    .names = { "deepseek-coder" },
	    .re = { "[\\r\\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", RE_DEEPSEEK_CJK,
	        "\\p{N}" },
	},
	{
	    .names = { "deepseek-v3" },
	    .re = { "\\p{N}{1,3}",
	        "[\\x{4E00}-\\x{9FA5}\\x{3040}-\\x{309F}\\x{30A0}-\\x{30FF}]+",
	        RE_DEEPSEEK3_MAIN },
	},
	{
	    .names = { "starcoder", "refact", "command-r", "smollm",
	        "codeshell", "exaone", "minerva-7b" },
	    .re = { RE_STARCODER_DIGIT, RE_GPT2 },
	},
	{
	    .names = { "falcon" },
	    .re = { "[\\p{P}\\$\\+<=>\\^~\\|`]+",
	        "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+"
	        "| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)",
	        "[0-9][0-9][0-9]" },
	},
	{
	    .names = { "tekken" },
	    .re = { RE_TEKKEN },
	    .ignore_merges = 1,
	    .add_bos = 1,
	},
	{
	    .names = { "gpt-4o", "llama4" },
	    .re = { RE_GPT4O },
	},
	{
	    /* llama.cpp's own choice for files that name "default". */
	    .names = { "default" },
	    .re = { "[\\p{P}\\$\\+<=>\\^~\\|]+",
	        "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+"
	        "| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)",
	        "\\p{N}+", "[0-9][0-9][0-9]" },
	},
};

/* Per-token flags. */
#define TOKF_EOG 0x1

/* A hash table slot mapping a 64-bit key to two 32-bit values. */
struct pair_slot {
	uint64_t key; /* PAIR_EMPTY when free */
	int32_t a;
	int32_t b;
};
#define PAIR_EMPTY UINT64_MAX

struct pair_map {
	struct pair_slot *slots;
	size_t mask; /* capacity - 1; capacity a power of two */
	size_t n;
};

struct infer_tok {
	char *name;
	enum infer_tok_model model;
	const struct pre_def *pre;
	uint32_t n_vocab;

	char *text;       /* every token's text, each NUL-terminated */
	size_t *text_off; /* [n_vocab] */
	uint32_t *text_len;
	float *scores;
	uint8_t *types;
	uint8_t *tflags;

	char *piece; /* decoded pieces */
	size_t *piece_off;
	uint32_t *piece_len;
	size_t max_piece;

	int32_t *tmap; /* text -> id, open addressing, -1 free */
	size_t tmap_mask;

	struct pair_map merges; /* (left, right) -> (rank, result) */
	struct pair_map edges;  /* trie (node << 8 | byte) -> (child) */
	int32_t *trie_tok;      /* [n_trie]: token ending at node, or -1 */
	size_t n_trie;
	size_t n_user_defined; /* specials recognised without asking */
	size_t n_special;

	int32_t byte_tok[256]; /* token of each byte (BPE char, <0xNN>) */
	uint32_t byte_cp[256]; /* GPT-2's bytes_to_unicode */
	int16_t cp_byte[324];  /* its inverse */

	pcre2_code *re[PRE_MAX_RE];
	size_t n_re;

	int32_t bos, eos, eot, eom, unk, pad, sep, nl;
	int add_bos, add_eos, add_space_prefix, ignore_merges;
};

/* ---- small helpers ---------------------------------------------------- */

static void set_cause(char **, const char *, ...)
    __attribute__((format(printf, 2, 3)));
static void warnf(const struct infer_tok_params *, const char *, ...)
    __attribute__((format(printf, 2, 3)));
static uint64_t hash_bytes(const void *, size_t);
static uint64_t mix64(uint64_t);
static size_t utf8_class(const unsigned char *, size_t, int *);
static size_t utf8_put(char *, uint32_t);
static uint32_t utf8_get(const unsigned char *, size_t);
static int grow(void *, size_t *, size_t, size_t);

/* Sets *cause (when cause is not NULL) to a new formatted message. */
static void
set_cause(char **cause, const char *fmt, ...)
{
	va_list ap;

	if (cause == NULL)
		return;
	va_start(ap, fmt);
	if (vasprintf(cause, fmt, ap) == -1)
		*cause = NULL;
	va_end(ap);
}

/* Hands a warning to the caller's callback, if any. */
static void
warnf(const struct infer_tok_params *p, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	if (p->warn == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	p->warn(p->warn_arg, buf);
}

/* FNV-1a over the bytes, finished with a mixer. */
static uint64_t
hash_bytes(const void *p, size_t n)
{
	const unsigned char *s = p;
	uint64_t h = 1469598103934665603ULL;

	for (size_t i = 0; i < n; i++) {
		h ^= s[i];
		h *= 1099511628211ULL;
	}
	return mix64(h);
}

/* The splitmix64 finaliser: spreads every input bit over the output. */
static uint64_t
mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

/*
 * Classifies the bytes at s (n > 0 available) as UTF-8.  Returns the
 * length of the well-formed character there and sets *state to 0; or sets
 * *state to 1 when the n bytes are a proper prefix of a well-formed
 * character (it may still complete) and returns n; or sets *state to -1
 * and returns the length of the maximal ill-formed subsequence (>= 1).
 */
static size_t
utf8_class(const unsigned char *s, size_t n, int *state)
{
	unsigned char b = s[0], lo = 0x80, hi = 0xbf;
	size_t need;

	*state = 0;
	if (b < 0x80)
		return 1;
	if (b >= 0xc2 && b <= 0xdf)
		need = 2;
	else if (b >= 0xe0 && b <= 0xef) {
		need = 3;
		if (b == 0xe0)
			lo = 0xa0;
		else if (b == 0xed)
			hi = 0x9f;
	} else if (b >= 0xf0 && b <= 0xf4) {
		need = 4;
		if (b == 0xf0)
			lo = 0x90;
		else if (b == 0xf4)
			hi = 0x8f;
	} else {
		*state = -1;
		return 1;
	}
	for (size_t i = 1; i < need; i++) {
		if (i >= n) {
			*state = 1;
			return n;
		}
		if (s[i] < lo || s[i] > hi) {
			*state = -1;
			return i;
		}
		lo = 0x80;
		hi = 0xbf;
	}
	return need;
}

/* Writes code point c as UTF-8 (at most 4 bytes); returns the length. */
static size_t
utf8_put(char *out, uint32_t c)
{
	unsigned char *o = (unsigned char *)out;

	if (c < 0x80) {
		o[0] = (unsigned char)c;
		return 1;
	}
	if (c < 0x800) {
		o[0] = (unsigned char)(0xc0 | (c >> 6));
		o[1] = (unsigned char)(0x80 | (c & 0x3f));
		return 2;
	}
	if (c < 0x10000) {
		o[0] = (unsigned char)(0xe0 | (c >> 12));
		o[1] = (unsigned char)(0x80 | ((c >> 6) & 0x3f));
		o[2] = (unsigned char)(0x80 | (c & 0x3f));
		return 3;
	}
	o[0] = (unsigned char)(0xf0 | (c >> 18));
	o[1] = (unsigned char)(0x80 | ((c >> 12) & 0x3f));
	o[2] = (unsigned char)(0x80 | ((c >> 6) & 0x3f));
	o[3] = (unsigned char)(0x80 | (c & 0x3f));
	return 4;
}

/* Decodes the well-formed character of n bytes at s. */
static uint32_t
utf8_get(const unsigned char *s, size_t n)
{
	uint32_t c;

	switch (n) {
	case 1:
		return s[0];
	case 2:
		return ((uint32_t)(s[0] & 0x1f) << 6) | (s[1] & 0x3f);
	case 3:
		c = (uint32_t)(s[0] & 0x0f) << 12;
		return c | ((uint32_t)(s[1] & 0x3f) << 6) | (s[2] & 0x3f);
	default:
		c = (uint32_t)(s[0] & 0x07) << 18;
		c |= (uint32_t)(s[1] & 0x3f) << 12;
		return c | ((uint32_t)(s[2] & 0x3f) << 6) | (s[3] & 0x3f);
	}
}

/* Whether byte b stands for itself in GPT-2's bytes_to_unicode. */
static int
byte_printable(unsigned int b)
{
	return (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) ||
	    b >= 0xae;
}

/*
 * Fills the tables of GPT-2's bytes_to_unicode: printable Latin-1 bytes
 * stand for themselves, the others (controls, space, DEL, NBSP, soft
 * hyphen) for U+0100, U+0101, ... in byte order; cp_byte is the inverse
 * (-1 where a code point stands for no byte).
 */
static void
byte_tables(uint32_t byte_cp[256], int16_t cp_byte[324])
{
	uint32_t n = 0;

	for (int i = 0; i < 324; i++)
		cp_byte[i] = -1;
	for (unsigned int b = 0; b < 256; b++) {
		byte_cp[b] = byte_printable(b) ? b : 256 + n++;
		cp_byte[byte_cp[b]] = (int16_t)b;
	}
}

/* ---- hash tables ------------------------------------------------------ */

static int
pair_map_init(struct pair_map *m, size_t n)
{
	size_t cap = 16;

	while (cap < n * 2 + 1)
		cap <<= 1;
	m->slots = malloc(cap * sizeof *m->slots);
	if (m->slots == NULL)
		return -1;
	for (size_t i = 0; i < cap; i++)
		m->slots[i].key = PAIR_EMPTY;
	m->mask = cap - 1;
	m->n = 0;
	return 0;
}

static int
pair_map_grow(struct pair_map *m)
{
	struct pair_map big;

	if (pair_map_init(&big, (m->mask + 1)) != 0)
		return -1;
	for (size_t i = 0; i <= m->mask; i++) {
		struct pair_slot *s = &m->slots[i];
		size_t j;

		if (s->key == PAIR_EMPTY)
			continue;
		j = mix64(s->key) & big.mask;
		while (big.slots[j].key != PAIR_EMPTY)
			j = (j + 1) & big.mask;
		big.slots[j] = *s;
		big.n++;
	}
	free(m->slots);
	*m = big;
	return 0;
}

/* The slot of key, or NULL. */
static const struct pair_slot *
pair_map_find(const struct pair_map *m, uint64_t key)
{
	size_t j;

	if (m->slots == NULL)
		return NULL;
	j = mix64(key) & m->mask;
	while (m->slots[j].key != PAIR_EMPTY) {
		if (m->slots[j].key == key)
			return &m->slots[j];
		j = (j + 1) & m->mask;
	}
	return NULL;
}

/*
 * Inserts key -> (a, b) unless key is present.  Returns 1 if inserted, 0
 * if it was present, -1 when out of memory.
 */
static int
pair_map_put(struct pair_map *m, uint64_t key, int32_t a, int32_t b)
{
	size_t j;

	if ((m->n + 1) * 2 > m->mask + 1 && pair_map_grow(m) != 0)
		return -1;
	j = mix64(key) & m->mask;
	while (m->slots[j].key != PAIR_EMPTY) {
		if (m->slots[j].key == key)
			return 0;
		j = (j + 1) & m->mask;
	}
	m->slots[j].key = key;
	m->slots[j].a = a;
	m->slots[j].b = b;
	m->n++;
	return 1;
}

/* The id of the token with text s (len bytes), or -1. */
int32_t
infer_tok_find(const struct infer_tok *tok, const char *s, size_t len)
{
	size_t j;
	int32_t id;

	if (len == 0)
		return -1;
	j = hash_bytes(s, len) & tok->tmap_mask;
	for (;;) {
		id = tok->tmap[j];
		if (id == -1)
			return -1;
		if (tok->text_len[id] == len &&
		    memcmp(tok->text + tok->text_off[id], s, len) == 0)
			return id;
		j = (j + 1) & tok->tmap_mask;
	}
}

/* ---- building --------------------------------------------------------- */

void
infer_tok_params_init(struct infer_tok_params *p)
{
	memset(p, 0, sizeof *p);
	p->bos = p->eos = p->eot = p->eom = p->unk = p->pad = p->sep = -1;
	p->add_bos = p->add_eos = p->add_space_prefix = -1;
}

/* The pre-tokenizer named name, or NULL. */
static const struct pre_def *
pre_find(const char *name)
{
	for (size_t i = 0; i < sizeof pre_defs / sizeof pre_defs[0]; i++) {
		for (size_t j = 0; j < 12 && pre_defs[i].names[j] != NULL;
		     j++) {
			if (strcmp(pre_defs[i].names[j], name) == 0)
				return &pre_defs[i];
		}
	}
	return NULL;
}

/* Compiles the pre-tokenizer's expressions. */
static int
tok_compile(struct infer_tok *tok, char **cause)
{
	for (size_t i = 0; i < PRE_MAX_RE && tok->pre->re[i] != NULL; i++) {
		int err;
		PCRE2_SIZE off;
		PCRE2_UCHAR msg[256];

		tok->re[i] = pcre2_compile((PCRE2_SPTR)tok->pre->re[i],
		    PCRE2_ZERO_TERMINATED,
		    PCRE2_UTF | PCRE2_UCP | PCRE2_DOLLAR_ENDONLY, &err, &off,
		    NULL);
		if (tok->re[i] == NULL) {
			pcre2_get_error_message(err, msg, sizeof msg);
			set_cause(cause,
			    "%s: pre-tokenizer '%s': expression %zu: %s at "
			    "offset %zu",
			    tok->name, tok->pre->names[0], i, (char *)msg,
			    (size_t)off);
			return -1;
		}
		tok->n_re = i + 1;
		/* Without JIT (unsupported CPU, no exec memory) the
		 * interpreter runs the same expression. */
		(void)pcre2_jit_compile(tok->re[i], PCRE2_JIT_COMPLETE);
	}
	return 0;
}

/* Copies the token texts and builds the text -> id table. */
static int
tok_vocab(struct infer_tok *tok, const struct infer_tok_params *p, char **cause)
{
	size_t total = 0, cap = 16, pos = 0;

	for (size_t i = 0; i < p->n_tokens; i++) {
		const struct infer_tok_str *t = &p->tokens[i];

		if (t->len > 0 && t->s == NULL) {
			set_cause(
			    cause, "%s: token %zu: NULL text", tok->name, i);
			return -1;
		}
		if (t->len >= UINT32_MAX || total + t->len + 1 < total) {
			set_cause(cause, "%s: token %zu: text too long",
			    tok->name, i);
			return -1;
		}
		total += t->len + 1;
	}
	while (cap < p->n_tokens * 2 + 1)
		cap <<= 1;
	tok->text = malloc(total);
	tok->text_off = calloc(p->n_tokens, sizeof *tok->text_off);
	tok->text_len = calloc(p->n_tokens, sizeof *tok->text_len);
	tok->scores = calloc(p->n_tokens, sizeof *tok->scores);
	tok->types = calloc(p->n_tokens, sizeof *tok->types);
	tok->tflags = calloc(p->n_tokens, sizeof *tok->tflags);
	tok->tmap = malloc(cap * sizeof *tok->tmap);
	if (tok->text == NULL || tok->text_off == NULL ||
	    tok->text_len == NULL || tok->scores == NULL ||
	    tok->types == NULL || tok->tflags == NULL || tok->tmap == NULL) {
		set_cause(cause, "%s: out of memory for %zu tokens", tok->name,
		    p->n_tokens);
		return -1;
	}
	tok->tmap_mask = cap - 1;
	memset(tok->tmap, 0xff, cap * sizeof *tok->tmap);

	for (size_t i = 0; i < p->n_tokens; i++) {
		const struct infer_tok_str *t = &p->tokens[i];
		int32_t type = INFER_TOK_TYPE_NORMAL;
		size_t j;

		if (t->len > 0)
			memcpy(tok->text + pos, t->s, t->len);
		tok->text[pos + t->len] = '\0';
		tok->text_off[i] = pos;
		tok->text_len[i] = (uint32_t)t->len;
		pos += t->len + 1;
		tok->scores[i] = p->scores != NULL ? p->scores[i] : 0.0f;
		if (p->types != NULL) {
			type = p->types[i];
			if (type < INFER_TOK_TYPE_UNDEFINED ||
			    type > INFER_TOK_TYPE_BYTE) {
				warnf(p,
				    "%s: token %zu: unknown type %d, taken as "
				    "undefined",
				    tok->name, i, (int)type);
				type = INFER_TOK_TYPE_UNDEFINED;
			}
		}
		tok->types[i] = (uint8_t)type;
		if (t->len == 0) {
			/* An empty token can never match any text. */
			warnf(p, "%s: token %zu is empty", tok->name, i);
			continue;
		}
		j = hash_bytes(t->s, t->len) & tok->tmap_mask;
		while (tok->tmap[j] != -1) {
			int32_t o = tok->tmap[j];

			if (tok->text_len[o] == t->len &&
			    memcmp(tok->text + tok->text_off[o], t->s,
			        t->len) == 0) {
				set_cause(cause,
				    "%s: duplicate token: '%.*s' has ids %d "
				    "and %zu",
				    tok->name, (int)(t->len > 64 ? 64 : t->len),
				    t->s, (int)o, i);
				return -1;
			}
			j = (j + 1) & tok->tmap_mask;
		}
		tok->tmap[j] = (int32_t)i;
	}
	return 0;
}

/*
 * Reads the BPE merges into the (left, right) -> (rank, result) table.  A
 * merge whose parts or result are not tokens could never produce a token;
 * it is skipped with a warning (llama.cpp keeps it and never uses it).
 */
static int
tok_merges(
    struct infer_tok *tok, const struct infer_tok_params *p, char **cause)
{
	size_t skipped = 0, cap = 0;
	char *both = NULL;
	int rc = -1;

	if (p->n_merges > INT32_MAX) {
		set_cause(
		    cause, "%s: %zu merges: too many", tok->name, p->n_merges);
		return -1;
	}
	if (pair_map_init(&tok->merges, p->n_merges) != 0) {
		set_cause(cause, "%s: out of memory for %zu merges", tok->name,
		    p->n_merges);
		return -1;
	}
	for (size_t i = 0; i < p->n_merges; i++) {
		const char *s = p->merges[i].s, *sp;
		size_t len = p->merges[i].len, ll;
		int32_t l, r, res;

		/* The separator is the first space after the first byte
		 * (a left part may itself be a lone space character). */
		sp = len > 1 && s != NULL ? memchr(s + 1, ' ', len - 1) : NULL;
		if (sp == NULL || sp + 1 == s + len) {
			set_cause(cause,
			    "%s: tokenizer.ggml.merges[%zu]: '%.*s' is not "
			    "\"left right\"",
			    tok->name, i, (int)(len > 64 ? 64 : len),
			    s != NULL ? s : "");
			goto out;
		}
		ll = (size_t)(sp - s);
		if (grow(&both, &cap, len, 1) != 0) {
			set_cause(cause, "%s: out of memory", tok->name);
			goto out;
		}
		memcpy(both, s, ll);
		memcpy(both + ll, sp + 1, len - ll - 1);
		l = infer_tok_find(tok, s, ll);
		r = infer_tok_find(tok, sp + 1, len - ll - 1);
		res = infer_tok_find(tok, both, len - 1);
		if (l < 0 || r < 0 || res < 0) {
			if (skipped++ < 5)
				warnf(p,
				    "%s: tokenizer.ggml.merges[%zu]: '%.*s': "
				    "%s is not a token; merge skipped",
				    tok->name, i, (int)(len > 64 ? 64 : len), s,
				    l < 0 ? "the left part"
				          : (r < 0 ? "the right part"
				                   : "the result"));
			continue;
		}
		/* A repeated pair keeps its first (lowest) rank. */
		if (pair_map_put(&tok->merges,
		        ((uint64_t)(uint32_t)l << 32) | (uint32_t)r, (int32_t)i,
		        res) < 0) {
			set_cause(cause, "%s: out of memory", tok->name);
			goto out;
		}
	}
	if (skipped > 5)
		warnf(p, "%s: tokenizer.ggml.merges: %zu merges skipped in all",
		    tok->name, skipped);
	rc = 0;
out:
	free(both);
	return rc;
}

/* Builds the trie of special tokens. */
static int
tok_specials(struct infer_tok *tok, char **cause)
{
	size_t nodes = 1, cap;

	for (uint32_t i = 0; i < tok->n_vocab; i++) {
		uint8_t t = tok->types[i];

		if (t == INFER_TOK_TYPE_CONTROL ||
		    t == INFER_TOK_TYPE_UNKNOWN ||
		    t == INFER_TOK_TYPE_USER_DEFINED)
			nodes += tok->text_len[i];
	}
	cap = nodes;
	tok->trie_tok = malloc(cap * sizeof *tok->trie_tok);
	if (tok->trie_tok == NULL || pair_map_init(&tok->edges, 64) != 0) {
		set_cause(
		    cause, "%s: out of memory for special tokens", tok->name);
		return -1;
	}
	tok->trie_tok[0] = -1;
	tok->n_trie = 1;
	for (uint32_t i = 0; i < tok->n_vocab; i++) {
		uint8_t t = tok->types[i];
		const unsigned char *s;
		size_t node = 0;

		if (tok->text_len[i] == 0 ||
		    (t != INFER_TOK_TYPE_CONTROL &&
		        t != INFER_TOK_TYPE_UNKNOWN &&
		        t != INFER_TOK_TYPE_USER_DEFINED))
			continue;
		s = (const unsigned char *)tok->text + tok->text_off[i];
		for (uint32_t k = 0; k < tok->text_len[i]; k++) {
			uint64_t key = ((uint64_t)node << 8) | s[k];
			const struct pair_slot *e;

			e = pair_map_find(&tok->edges, key);
			if (e != NULL) {
				node = (size_t)e->a;
				continue;
			}
			if (pair_map_put(&tok->edges, key, (int32_t)tok->n_trie,
			        0) < 0) {
				set_cause(
				    cause, "%s: out of memory", tok->name);
				return -1;
			}
			node = tok->n_trie++;
			tok->trie_tok[node] = -1;
		}
		tok->trie_tok[node] = (int32_t)i;
		tok->n_special++;
		if (t == INFER_TOK_TYPE_USER_DEFINED)
			tok->n_user_defined++;
	}
	return 0;
}

/* Parses "<0xNN>"; returns the byte or -1. */
static int
byte_token_value(const char *s, size_t len)
{
	int v = 0;

	if (len != 6 || memcmp(s, "<0x", 3) != 0 || s[5] != '>')
		return -1;
	for (int i = 3; i < 5; i++) {
		char c = s[i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= c - '0';
		else if (c >= 'A' && c <= 'F')
			v |= c - 'A' + 10;
		else if (c >= 'a' && c <= 'f')
			v |= c - 'a' + 10;
		else
			return -1;
	}
	return v;
}

/*
 * Writes the decoded piece of token i into out (room for 4 bytes per
 * byte of its text) and returns its length.
 */
static size_t
tok_make_piece(const struct infer_tok *tok, uint32_t i, char *out)
{
	const unsigned char *s =
	    (const unsigned char *)tok->text + tok->text_off[i];
	size_t n = tok->text_len[i], o = 0;
	int v;

	switch (tok->types[i]) {
	case INFER_TOK_TYPE_CONTROL:
	case INFER_TOK_TYPE_UNKNOWN:
	case INFER_TOK_TYPE_USER_DEFINED:
		memcpy(out, s, n);
		return n;
	case INFER_TOK_TYPE_BYTE:
		v = byte_token_value((const char *)s, n);
		if (v >= 0) {
			out[0] = (char)v;
			return 1;
		}
		memcpy(out, s, n);
		return n;
	case INFER_TOK_TYPE_NORMAL:
		break;
	default:
		return 0; /* unused and undefined tokens stand for nothing */
	}
	if (tok->model == INFER_TOK_MODEL_SPM) {
		/* U+2581 (E2 96 81) stands for a space. */
		for (size_t k = 0; k < n; k++) {
			if (k + 2 < n && s[k] == 0xe2 && s[k + 1] == 0x96 &&
			    s[k + 2] == 0x81) {
				out[o++] = ' ';
				k += 2;
			} else
				out[o++] = (char)s[k];
		}
		return o;
	}
	/* Byte-level: each character stands for one byte; a character
	 * outside the table (an added token typed NORMAL) stands for
	 * itself. */
	for (size_t k = 0; k < n;) {
		int st;
		size_t cl = utf8_class(s + k, n - k, &st);

		if (st == 0) {
			uint32_t cp = utf8_get(s + k, cl);

			v = cp < 324 ? tok->cp_byte[cp] : -1;
			if (v >= 0)
				out[o++] = (char)v;
			else {
				memcpy(out + o, s + k, cl);
				o += cl;
			}
		} else {
			memcpy(out + o, s + k, cl);
			o += cl;
		}
		k += cl;
	}
	return o;
}

/* Builds the decoded piece of every token. */
static int
tok_pieces(struct infer_tok *tok, char **cause)
{
	size_t total = 0, pos = 0;

	for (uint32_t i = 0; i < tok->n_vocab; i++)
		total += tok->text_len[i];
	/* A piece is never longer than its text (a byte-level character
	 * of 2 bytes stands for 1, an unknown one for itself, U+2581's 3
	 * bytes for 1); + 1 keeps malloc(0) away. */
	tok->piece = malloc(total + 1);
	tok->piece_off = calloc(tok->n_vocab, sizeof *tok->piece_off);
	tok->piece_len = calloc(tok->n_vocab, sizeof *tok->piece_len);
	if (tok->piece == NULL || tok->piece_off == NULL ||
	    tok->piece_len == NULL) {
		set_cause(
		    cause, "%s: out of memory for token pieces", tok->name);
		return -1;
	}
	for (uint32_t i = 0; i < tok->n_vocab; i++) {
		size_t n = tok_make_piece(tok, i, tok->piece + pos);

		tok->piece_off[i] = pos;
		tok->piece_len[i] = (uint32_t)n;
		if (n > tok->max_piece)
			tok->max_piece = n;
		pos += n;
	}
	return 0;
}

/* Finds the byte tokens: each byte's character (BPE) or <0xNN> (SPM). */
static void
tok_bytes(struct infer_tok *tok)
{
	for (int b = 0; b < 256; b++) {
		char buf[8];
		size_t n;

		if (tok->model == INFER_TOK_MODEL_BPE) {
			n = utf8_put(buf, tok->byte_cp[b]);
			tok->byte_tok[b] = infer_tok_find(tok, buf, n);
		} else {
			snprintf(buf, sizeof buf, "<0x%02X>", b);
			tok->byte_tok[b] = infer_tok_find(tok, buf, 6);
			if (tok->byte_tok[b] < 0) {
				/* No byte token: the character itself. */
				buf[0] = (char)b;
				tok->byte_tok[b] = infer_tok_find(tok, buf, 1);
			}
		}
	}
}

/* Texts that mark the end of a turn or of the text. */
static const char *const eog_texts[] = {
	"<|eot_id|>",
	"<|im_end|>",
	"<|end|>",
	"<|endoftext|>",
	"<|end_of_text|>",
	"<end_of_turn>",
	"<|eom_id|>",
	"<EOT>",
};

/* Settles the special ids, the end-of-generation set and add_*. */
static int
tok_special_ids(
    struct infer_tok *tok, const struct infer_tok_params *p, char **cause)
{
	struct {
		const char *what;
		int32_t given;
		int32_t *to;
	} ids[] = {
		{ "bos", p->bos, &tok->bos },
		{ "eos", p->eos, &tok->eos },
		{ "eot", p->eot, &tok->eot },
		{ "eom", p->eom, &tok->eom },
		{ "unknown", p->unk, &tok->unk },
		{ "padding", p->pad, &tok->pad },
		{ "separator", p->sep, &tok->sep },
	};
	int32_t id;

	for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
		*ids[i].to = ids[i].given;
		if (ids[i].given < -1 ||
		    (ids[i].given >= 0 &&
		        (uint32_t)ids[i].given >= tok->n_vocab)) {
			warnf(p,
			    "%s: %s token id %d out of range (%u tokens), "
			    "ignored",
			    tok->name, ids[i].what, (int)ids[i].given,
			    tok->n_vocab);
			*ids[i].to = -1;
		}
	}
	/* llama.cpp's defaults for SentencePiece vocabularies without the
	 * keys: <unk> <s> </s> at 0, 1, 2. */
	if (tok->model == INFER_TOK_MODEL_SPM) {
		if (p->unk == -1 && tok->n_vocab > 0)
			tok->unk = 0;
		if (p->bos == -1 && tok->n_vocab > 1)
			tok->bos = 1;
		if (p->eos == -1 && tok->n_vocab > 2)
			tok->eos = 2;
	}
	/* Without an explicit end-of-turn id, the first of the end-of-turn
	 * texts (in the order of eog_texts) that the vocabulary has. */
	for (size_t k = 0; tok->eot == -1 && k < 6; k++) {
		id = infer_tok_find(tok, eog_texts[k], strlen(eog_texts[k]));
		if (id >= 0)
			tok->eot = id;
	}
	for (size_t k = 0; k < sizeof eog_texts / sizeof eog_texts[0]; k++) {
		id = infer_tok_find(tok, eog_texts[k], strlen(eog_texts[k]));
		if (id < 0)
			continue;
		tok->tflags[id] |= TOKF_EOG;
		/* Conversions sometimes type these NORMAL; they must not be
		 * split by merges or shown as text. */
		if (tok->types[id] == INFER_TOK_TYPE_NORMAL)
			tok->types[id] = INFER_TOK_TYPE_CONTROL;
	}
	if (tok->eos >= 0)
		tok->tflags[tok->eos] |= TOKF_EOG;
	if (tok->eot >= 0)
		tok->tflags[tok->eot] |= TOKF_EOG;
	if (tok->eom >= 0)
		tok->tflags[tok->eom] |= TOKF_EOG;

	if (tok->model == INFER_TOK_MODEL_SPM) {
		tok->add_bos = p->add_bos != -1 ? p->add_bos != 0 : 1;
		tok->add_space_prefix =
		    p->add_space_prefix != -1 ? p->add_space_prefix != 0 : 1;
	} else {
		tok->add_bos =
		    p->add_bos != -1 ? p->add_bos != 0 : tok->pre->add_bos;
		tok->add_space_prefix = 0;
		tok->ignore_merges = tok->pre->ignore_merges;
	}
	tok->add_eos = p->add_eos != -1 ? p->add_eos != 0 : 0;
	/* A default (not the file's own setting) yields to a missing id. */
	if (p->add_bos == -1 && tok->bos == -1)
		tok->add_bos = 0;
	if (tok->add_bos && tok->bos == -1) {
		set_cause(cause,
		    "%s: tokenizer.ggml.add_bos_token is true but there is no "
		    "BOS token (tokenizer.ggml.bos_token_id)",
		    tok->name);
		return -1;
	}
	if (tok->add_eos && tok->eos == -1) {
		set_cause(cause,
		    "%s: tokenizer.ggml.add_eos_token is true but there is no "
		    "EOS token (tokenizer.ggml.eos_token_id)",
		    tok->name);
		return -1;
	}
	return 0;
}

struct infer_tok *
infer_tok_new(const struct infer_tok_params *p, char **cause)
{
	struct infer_tok *tok;
	const char *name = p->name != NULL ? p->name : "tokenizer";
	int32_t *ids;
	size_t n;

	if (p->n_tokens == 0 || p->tokens == NULL) {
		set_cause(cause, "%s: the vocabulary has no tokens", name);
		return NULL;
	}
	if (p->n_tokens > INT32_MAX) {
		set_cause(cause, "%s: %zu tokens: too many", name, p->n_tokens);
		return NULL;
	}
	if (p->model != INFER_TOK_MODEL_BPE &&
	    p->model != INFER_TOK_MODEL_SPM) {
		set_cause(cause, "%s: unknown tokenizer kind %d", name,
		    (int)p->model);
		return NULL;
	}
	if (p->n_merges > 0 && p->merges == NULL) {
		set_cause(
		    cause, "%s: %zu merges but no array", name, p->n_merges);
		return NULL;
	}
	tok = calloc(1, sizeof *tok);
	if (tok == NULL) {
		set_cause(cause, "%s: out of memory", name);
		return NULL;
	}
	tok->name = strdup(name);
	if (tok->name == NULL) {
		free(tok);
		set_cause(cause, "%s: out of memory", name);
		return NULL;
	}
	tok->model = p->model;
	byte_tables(tok->byte_cp, tok->cp_byte);
	tok->n_vocab = (uint32_t)p->n_tokens;
	if (tok->model == INFER_TOK_MODEL_BPE) {
		const char *pre =
		    p->pre != NULL && p->pre[0] != '\0' ? p->pre : "gpt-2";

		tok->pre = pre_find(pre);
		if (tok->pre == NULL) {
			set_cause(cause,
			    "%s: tokenizer.ggml.pre: unknown pre-tokenizer "
			    "'%s'",
			    name, pre);
			goto fail;
		}
	}
	if (tok_vocab(tok, p, cause) != 0)
		goto fail;
	if (tok_special_ids(tok, p, cause) != 0)
		goto fail;
	if (tok->model == INFER_TOK_MODEL_BPE) {
		if (tok_merges(tok, p, cause) != 0 ||
		    tok_compile(tok, cause) != 0)
			goto fail;
	}
	if (tok_specials(tok, cause) != 0 || tok_pieces(tok, cause) != 0)
		goto fail;
	tok_bytes(tok);

	/* The newline token: what "\n" encodes to when it is one token. */
	tok->nl = -1;
	ids = infer_tok_encode(tok, "\n", 1, 0, &n, cause);
	if (ids == NULL)
		goto fail;
	if (tok->model == INFER_TOK_MODEL_SPM)
		tok->nl = tok->byte_tok['\n'];
	else if (n == 1)
		tok->nl = ids[0];
	free(ids);
	return tok;

fail:
	infer_tok_free(tok);
	return NULL;
}

void
infer_tok_free(struct infer_tok *tok)
{
	if (tok == NULL)
		return;
	for (size_t i = 0; i < tok->n_re; i++)
		pcre2_code_free(tok->re[i]);
	free(tok->trie_tok);
	free(tok->edges.slots);
	free(tok->merges.slots);
	free(tok->tmap);
	free(tok->piece_len);
	free(tok->piece_off);
	free(tok->piece);
	free(tok->tflags);
	free(tok->types);
	free(tok->scores);
	free(tok->text_len);
	free(tok->text_off);
	free(tok->text);
	free(tok->name);
	free(tok);
}

/* ---- encoding --------------------------------------------------------- */

/* A growable array of ids. */
struct ids {
	int32_t *v;
	size_t n, cap;
};

/* A symbol of a word being merged: a run of bytes of the word. */
struct sym {
	size_t off;
	size_t len;
	int32_t id; /* BPE: its token so far (-1: none) */
	int32_t prev, next;
};

/*
 * A candidate merge of symbols left and left's next.  prio: the rank
 * (BPE) or minus the score (SPM); lower first, then the leftmost.  a, b:
 * what the two symbols were when the candidate was made (their ids for
 * BPE, their lengths for SPM), to recognise stale entries.
 */
struct cand {
	double prio;
	int32_t left;
	int32_t right;
	int64_t a;
	int64_t b;
};

/* Working memory of one encode call. */
struct work {
	const struct infer_tok *tok;
	struct ids out;
	struct sym *sym;
	size_t sym_cap;
	struct cand *heap;
	size_t heap_n, heap_cap;
	char *buf;
	size_t buf_cap;
	struct infer_tok_range *seg[2];
	size_t seg_n[2], seg_cap[2];
	pcre2_match_data *md;
	char **cause;
	int oom;
	int record; /* infer_tok_split: collect pieces, do not merge */
	struct infer_tok_range *rec;
	size_t rec_n, rec_cap;
};

/*
 * Grows the array whose pointer is at p (of *cap elements of size sz) to
 * hold at least need elements.  The pointer is read and written with
 * memcpy, so any element type may use it.
 */
static int
grow(void *p, size_t *cap, size_t need, size_t sz)
{
	size_t n = *cap > 0 ? *cap : 16;
	void *old, *q;

	if (need <= *cap)
		return 0;
	while (n < need) {
		if (n > SIZE_MAX / 2 / sz)
			return -1;
		n *= 2;
	}
	memcpy(&old, p, sizeof old);
	q = realloc(old, n * sz);
	if (q == NULL)
		return -1;
	memcpy(p, &q, sizeof q);
	*cap = n;
	return 0;
}

static int
work_oom(struct work *w)
{
	if (!w->oom)
		set_cause(w->cause, "%s: out of memory while tokenizing",
		    w->tok->name);
	w->oom = 1;
	return -1;
}

static int
emit(struct work *w, int32_t id)
{
	if (grow(&w->out.v, &w->out.cap, w->out.n + 1, sizeof *w->out.v) != 0)
		return work_oom(w);
	w->out.v[w->out.n++] = id;
	return 0;
}

/* Orders two candidates: lower priority first, then leftmost. */
static int
cand_less(const struct cand *x, const struct cand *y)
{
	if (x->prio != y->prio)
		return x->prio < y->prio;
	return x->left < y->left;
}

static int
heap_push(struct work *w, const struct cand *c)
{
	size_t i;

	if (grow(&w->heap, &w->heap_cap, w->heap_n + 1, sizeof *w->heap) != 0)
		return work_oom(w);
	i = w->heap_n++;
	while (i > 0) {
		size_t up = (i - 1) / 2;

		if (!cand_less(c, &w->heap[up]))
			break;
		w->heap[i] = w->heap[up];
		i = up;
	}
	w->heap[i] = *c;
	return 0;
}

static void
heap_pop(struct work *w, struct cand *c)
{
	struct cand last;
	size_t i = 0;

	*c = w->heap[0];
	last = w->heap[--w->heap_n];
	for (;;) {
		size_t l = 2 * i + 1, m = i;
		const struct cand *best = &last;

		if (l < w->heap_n && cand_less(&w->heap[l], best)) {
			m = l;
			best = &w->heap[l];
		}
		if (l + 1 < w->heap_n && cand_less(&w->heap[l + 1], best))
			m = l + 1;
		if (m == i)
			break;
		w->heap[i] = w->heap[m];
		i = m;
	}
	if (w->heap_n > 0)
		w->heap[i] = last;
}

/* Queues the BPE merge of symbols l and r if the vocabulary has one. */
static int
bpe_try(struct work *w, int32_t l, int32_t r)
{
	const struct pair_slot *m;
	struct cand c;
	int32_t a, b;

	if (l < 0 || r < 0)
		return 0;
	a = w->sym[l].id;
	b = w->sym[r].id;
	if (a < 0 || b < 0)
		return 0;
	m = pair_map_find(
	    &w->tok->merges, ((uint64_t)(uint32_t)a << 32) | (uint32_t)b);
	if (m == NULL)
		return 0;
	c.prio = m->a;
	c.left = l;
	c.right = r;
	c.a = a;
	c.b = b;
	return heap_push(w, &c);
}

/* Emits the token of a symbol, or its bytes' tokens when it has none. */
static int
emit_bytes(struct work *w, const unsigned char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int32_t id = w->tok->byte_tok[s[i]];

		if (id < 0)
			id = w->tok->unk;
		if (id >= 0 && emit(w, id) != 0)
			return -1;
	}
	return 0;
}

/* Byte-level BPE of one pre-token of n bytes at offset off of text. */
static int
bpe_word(struct work *w, const unsigned char *text, size_t off, size_t n)
{
	const struct infer_tok *tok = w->tok;
	const unsigned char *s = text + off;
	struct cand c;

	if (n == 0)
		return 0;
	if (w->record) {
		if (grow(&w->rec, &w->rec_cap, w->rec_n + 1, sizeof *w->rec) !=
		    0)
			return work_oom(w);
		w->rec[w->rec_n].off = off;
		w->rec[w->rec_n].len = n;
		w->rec_n++;
		return 0;
	}
	if (n > INT32_MAX) {
		set_cause(w->cause, "%s: a word of %zu bytes is too long",
		    tok->name, n);
		return -1;
	}
	if (tok->ignore_merges && n > 1) {
		size_t o = 0;
		int32_t id;

		if (grow(&w->buf, &w->buf_cap, n * 2, 1) != 0)
			return work_oom(w);
		for (size_t i = 0; i < n; i++)
			o += utf8_put(w->buf + o, tok->byte_cp[s[i]]);
		id = infer_tok_find(tok, w->buf, o);
		if (id >= 0)
			return emit(w, id);
	}
	if (grow(&w->sym, &w->sym_cap, n, sizeof *w->sym) != 0)
		return work_oom(w);
	for (size_t i = 0; i < n; i++) {
		w->sym[i].off = i;
		w->sym[i].len = 1;
		w->sym[i].id = tok->byte_tok[s[i]];
		w->sym[i].prev = (int32_t)i - 1;
		w->sym[i].next = i + 1 < n ? (int32_t)i + 1 : -1;
	}
	w->heap_n = 0;
	for (size_t i = 1; i < n; i++) {
		if (bpe_try(w, (int32_t)i - 1, (int32_t)i) != 0)
			return -1;
	}
	while (w->heap_n > 0) {
		struct sym *l, *r;
		const struct pair_slot *m;

		heap_pop(w, &c);
		l = &w->sym[c.left];
		if (l->len == 0 || l->next != c.right || l->id != c.a)
			continue;
		r = &w->sym[c.right];
		if (r->id != c.b)
			continue;
		m = pair_map_find(&tok->merges,
		    ((uint64_t)(uint32_t)l->id << 32) | (uint32_t)r->id);
		if (m == NULL)
			continue;
		l->id = m->b;
		l->len += r->len;
		r->len = 0;
		l->next = r->next;
		if (r->next >= 0)
			w->sym[r->next].prev = c.left;
		if (bpe_try(w, l->prev, c.left) != 0 ||
		    bpe_try(w, c.left, l->next) != 0)
			return -1;
	}
	for (int32_t i = 0; i >= 0; i = w->sym[i].next) {
		const struct sym *y = &w->sym[i];

		if (y->id >= 0) {
			if (emit(w, y->id) != 0)
				return -1;
		} else if (emit_bytes(w, s + y->off, y->len) != 0)
			return -1;
	}
	return 0;
}

/* Appends a range to segment list k. */
static int
seg_add(struct work *w, int k, size_t off, size_t len)
{
	if (len == 0)
		return 0;
	if (grow(&w->seg[k], &w->seg_cap[k], w->seg_n[k] + 1,
	        sizeof *w->seg[k]) != 0)
		return work_oom(w);
	w->seg[k][w->seg_n[k]].off = off;
	w->seg[k][w->seg_n[k]].len = len;
	w->seg_n[k]++;
	return 0;
}

/*
 * Splits each range of list `from` (of the well-formed UTF-8 text) with
 * expression re into list `to`: the matches and the gaps between them.
 */
static int
split_re(struct work *w, const unsigned char *text, size_t ri, int from, int to)
{
	const struct infer_tok *tok = w->tok;
	const pcre2_code *re = tok->re[ri];

	w->seg_n[to] = 0;
	for (size_t k = 0; k < w->seg_n[from]; k++) {
		size_t off = w->seg[from][k].off, len = w->seg[from][k].len;
		size_t start = 0, done = 0;

		while (start < len) {
			PCRE2_SIZE *ov;
			int rc;

			rc = pcre2_match(re, text + off, len, start,
			    PCRE2_NO_UTF_CHECK, w->md, NULL);
			if (rc == PCRE2_ERROR_JIT_STACKLIMIT)
				rc = pcre2_match(re, text + off, len, start,
				    PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT, w->md,
				    NULL);
			if (rc == PCRE2_ERROR_NOMATCH)
				break;
			if (rc < 0) {
				PCRE2_UCHAR msg[256];

				if (rc == PCRE2_ERROR_NOMEMORY)
					return work_oom(w);
				pcre2_get_error_message(rc, msg, sizeof msg);
				set_cause(w->cause,
				    "%s: pre-tokenizer '%s' expression %zu "
				    "failed at byte %zu: %s",
				    tok->name, tok->pre->names[0], ri,
				    off + start, (char *)msg);
				return -1;
			}
			ov = pcre2_get_ovector_pointer(w->md);
			if (ov[1] <= ov[0]) {
				/* An empty match: step over one character. */
				int st;

				start += utf8_class(
				    text + off + start, len - start, &st);
				continue;
			}
			if (seg_add(w, to, off + done, ov[0] - done) != 0 ||
			    seg_add(w, to, off + ov[0], ov[1] - ov[0]) != 0)
				return -1;
			done = start = ov[1];
		}
		if (seg_add(w, to, off + done, len - done) != 0)
			return -1;
	}
	return 0;
}

/* Pre-tokenizes and merges a well-formed UTF-8 stretch (BPE). */
static int
bpe_valid(struct work *w, const unsigned char *text, size_t off, size_t len)
{
	int cur = 0;

	w->seg_n[0] = 0;
	if (seg_add(w, 0, off, len) != 0)
		return -1;
	for (size_t ri = 0; ri < w->tok->n_re; ri++) {
		if (split_re(w, text, ri, cur, 1 - cur) != 0)
			return -1;
		cur = 1 - cur;
	}
	for (size_t k = 0; k < w->seg_n[cur]; k++) {
		if (bpe_word(w, text, w->seg[cur][k].off, w->seg[cur][k].len) !=
		    0)
			return -1;
	}
	return 0;
}

/*
 * Byte-level BPE of a plain fragment: well-formed stretches go through
 * the pre-tokenizer; each byte outside them is a word of its own.
 */
static int
bpe_fragment(struct work *w, const unsigned char *text, size_t len)
{
	size_t i = 0, run = 0;

	while (i < len) {
		int st;
		size_t n = utf8_class(text + i, len - i, &st);

		if (st == 0) {
			i += n;
			continue;
		}
		if (i > run && bpe_valid(w, text, run, i - run) != 0)
			return -1;
		if (bpe_word(w, text, i, 1) != 0)
			return -1;
		run = ++i;
	}
	if (len > run && bpe_valid(w, text, run, len - run) != 0)
		return -1;
	return 0;
}

/* Queues the SentencePiece merge of symbols l and r if it is a token. */
static int
spm_try(struct work *w, int32_t l, int32_t r)
{
	const struct sym *a, *b;
	struct cand c;
	int32_t id;

	if (l < 0 || r < 0)
		return 0;
	a = &w->sym[l];
	b = &w->sym[r];
	id = infer_tok_find(w->tok, w->buf + a->off, a->len + b->len);
	if (id < 0)
		return 0;
	c.prio = -(double)w->tok->scores[id];
	c.left = l;
	c.right = r;
	c.a = (int64_t)a->len;
	c.b = (int64_t)b->len;
	return heap_push(w, &c);
}

/* SentencePiece BPE of a plain fragment. */
static int
spm_fragment(struct work *w, const unsigned char *text, size_t len, int prefix)
{
	const struct infer_tok *tok = w->tok;
	size_t n = 0, nsym = 0;
	struct cand c;

	if (len > (SIZE_MAX - 3) / 3 || len > INT32_MAX / 3) {
		set_cause(w->cause, "%s: a text of %zu bytes is too long",
		    tok->name, len);
		return -1;
	}
	/* Spaces become U+2581; a leading one is added when asked. */
	if (grow(&w->buf, &w->buf_cap, 3 * (len + 1), 1) != 0)
		return work_oom(w);
	if (prefix) {
		memcpy(w->buf, "\xe2\x96\x81", 3);
		n = 3;
	}
	for (size_t i = 0; i < len; i++) {
		if (text[i] == ' ') {
			memcpy(w->buf + n, "\xe2\x96\x81", 3);
			n += 3;
		} else
			w->buf[n++] = (char)text[i];
	}
	if (n == 0)
		return 0;
	if (grow(&w->sym, &w->sym_cap, n, sizeof *w->sym) != 0)
		return work_oom(w);
	for (size_t i = 0; i < n;) {
		int st;
		size_t cl = utf8_class((unsigned char *)w->buf + i, n - i, &st);

		if (st != 0)
			cl = 1; /* a stray byte is a symbol of its own */
		w->sym[nsym].off = i;
		w->sym[nsym].len = cl;
		w->sym[nsym].id = -1;
		w->sym[nsym].prev = (int32_t)nsym - 1;
		w->sym[nsym].next = (int32_t)nsym + 1;
		nsym++;
		i += cl;
	}
	w->sym[nsym - 1].next = -1;
	w->heap_n = 0;
	for (size_t i = 1; i < nsym; i++) {
		if (spm_try(w, (int32_t)i - 1, (int32_t)i) != 0)
			return -1;
	}
	while (w->heap_n > 0) {
		struct sym *l, *r;

		heap_pop(w, &c);
		l = &w->sym[c.left];
		r = &w->sym[c.right];
		if (l->len != (size_t)c.a || r->len != (size_t)c.b ||
		    l->next != c.right)
			continue;
		l->len += r->len;
		r->len = 0;
		l->next = r->next;
		if (r->next >= 0)
			w->sym[r->next].prev = c.left;
		if (spm_try(w, l->prev, c.left) != 0 ||
		    spm_try(w, c.left, l->next) != 0)
			return -1;
	}
	for (int32_t i = 0; i >= 0; i = w->sym[i].next) {
		const struct sym *y = &w->sym[i];
		int32_t id = infer_tok_find(tok, w->buf + y->off, y->len);

		if (id >= 0) {
			if (emit(w, id) != 0)
				return -1;
		} else if (emit_bytes(w, (const unsigned char *)w->buf + y->off,
		               y->len) != 0)
			return -1;
	}
	return 0;
}

/* Encodes a plain fragment (no special tokens in it). */
static int
encode_plain(struct work *w, const char *text, size_t len, int *prev_special)
{
	int prefix;

	if (len == 0)
		return 0;
	if (w->tok->model == INFER_TOK_MODEL_BPE)
		return bpe_fragment(w, (const unsigned char *)text, len);
	prefix = w->tok->add_space_prefix && *prev_special;
	*prev_special = 0;
	return spm_fragment(w, (const unsigned char *)text, len, prefix);
}

/*
 * The longest special token at text[i..limit) that may be used here, or
 * -1; its length in *mlen.
 */
static int32_t
special_at(const struct infer_tok *tok, const unsigned char *text, size_t i,
    size_t limit, int parse_special, size_t *mlen)
{
	size_t node = 0;
	int32_t best = -1;

	for (size_t k = i; k < limit; k++) {
		const struct pair_slot *e;
		int32_t id;

		e = pair_map_find(&tok->edges, ((uint64_t)node << 8) | text[k]);
		if (e == NULL)
			break;
		node = (size_t)e->a;
		id = tok->trie_tok[node];
		if (id >= 0 &&
		    (parse_special ||
		        tok->types[id] == INFER_TOK_TYPE_USER_DEFINED)) {
			best = id;
			*mlen = k + 1 - i;
		}
	}
	return best;
}

int32_t *
infer_tok_encode_ranges(const struct infer_tok *tok, const char *text,
    size_t len, int flags, const struct infer_tok_range *plain, size_t n_plain,
    size_t *n, char **cause)
{
	const unsigned char *s = (const unsigned char *)text;
	int parse = (flags & INFER_TOK_SPECIAL) != 0, prev_special = 1;
	struct work w;
	size_t i = 0, frag = 0, pk = 0;
	int32_t *res = NULL;

	memset(&w, 0, sizeof w);
	w.tok = tok;
	w.cause = cause;
	*n = 0;
	if (text == NULL && len > 0) {
		set_cause(cause, "%s: NULL text", tok->name);
		return NULL;
	}
	if (n_plain > 0 && plain == NULL) {
		set_cause(cause, "%s: %zu plain ranges but no array", tok->name,
		    n_plain);
		return NULL;
	}
	for (size_t k = 0; k < n_plain; k++) {
		if (plain[k].off > len || plain[k].len > len - plain[k].off ||
		    (k > 0 &&
		        plain[k].off < plain[k - 1].off + plain[k - 1].len)) {
			set_cause(cause,
			    "%s: plain range %zu (offset %zu, %zu bytes) lies "
			    "outside the text (%zu bytes) or before the end of "
			    "the previous range",
			    tok->name, k, plain[k].off, plain[k].len, len);
			return NULL;
		}
	}
	if (tok->n_re > 0) {
		w.md = pcre2_match_data_create(8, NULL);
		if (w.md == NULL) {
			work_oom(&w);
			goto out;
		}
	}
	if ((flags & INFER_TOK_ADD_SPECIAL) && tok->add_bos &&
	    emit(&w, tok->bos) != 0)
		goto out;

	/* Cut the text at special tokens: leftmost first, then longest;
	 * never inside a plain range. */
	if (tok->n_special > 0 && (parse || tok->n_user_defined > 0)) {
		while (i < len) {
			size_t limit = len, mlen = 0;
			int32_t id;

			while (
			    pk < n_plain && plain[pk].off + plain[pk].len <= i)
				pk++;
			if (pk < n_plain && plain[pk].off <= i) {
				i = plain[pk].off + plain[pk].len;
				continue;
			}
			if (pk < n_plain)
				limit = plain[pk].off;
			id = special_at(tok, s, i, limit, parse, &mlen);
			if (id < 0) {
				i++;
				continue;
			}
			if (encode_plain(&w, text + frag, i - frag,
			        &prev_special) != 0 ||
			    emit(&w, id) != 0)
				goto out;
			prev_special = 1;
			i += mlen;
			frag = i;
		}
	}
	if (encode_plain(&w, text + frag, len - frag, &prev_special) != 0)
		goto out;
	if ((flags & INFER_TOK_ADD_SPECIAL) && tok->add_eos &&
	    emit(&w, tok->eos) != 0)
		goto out;
	if (w.out.v == NULL &&
	    grow(&w.out.v, &w.out.cap, 1, sizeof *w.out.v) != 0) {
		work_oom(&w);
		goto out;
	}
	res = w.out.v;
	w.out.v = NULL;
	*n = w.out.n;
out:
	pcre2_match_data_free(w.md);
	free(w.out.v);
	free(w.sym);
	free(w.heap);
	free(w.buf);
	free(w.seg[0]);
	free(w.seg[1]);
	return res;
}

int32_t *
infer_tok_encode(const struct infer_tok *tok, const char *text, size_t len,
    int flags, size_t *n, char **cause)
{
	return infer_tok_encode_ranges(
	    tok, text, len, flags, NULL, 0, n, cause);
}

struct infer_tok_range *
infer_tok_split(const struct infer_tok *tok, const char *text, size_t len,
    size_t *n, char **cause)
{
	struct infer_tok_range *res = NULL;
	struct work w;

	memset(&w, 0, sizeof w);
	w.tok = tok;
	w.cause = cause;
	w.record = 1;
	*n = 0;
	if (text == NULL && len > 0) {
		set_cause(cause, "%s: NULL text", tok->name);
		return NULL;
	}
	if (tok->model == INFER_TOK_MODEL_SPM) {
		if (len > 0 &&
		    bpe_word(&w, (const unsigned char *)text, 0, len) != 0)
			goto out;
	} else {
		w.md = pcre2_match_data_create(8, NULL);
		if (w.md == NULL) {
			work_oom(&w);
			goto out;
		}
		if (bpe_fragment(&w, (const unsigned char *)text, len) != 0)
			goto out;
	}
	if (w.rec == NULL && grow(&w.rec, &w.rec_cap, 1, sizeof *w.rec) != 0) {
		work_oom(&w);
		goto out;
	}
	res = w.rec;
	w.rec = NULL;
	*n = w.rec_n;
out:
	pcre2_match_data_free(w.md);
	free(w.rec);
	free(w.seg[0]);
	free(w.seg[1]);
	return res;
}

/* ---- decoding --------------------------------------------------------- */

const char *
infer_tok_piece(const struct infer_tok *tok, int32_t id, int flags, size_t *len)
{
	uint8_t t;

	*len = 0;
	if (id < 0 || (uint32_t)id >= tok->n_vocab)
		return NULL;
	t = tok->types[id];
	if ((t == INFER_TOK_TYPE_CONTROL || t == INFER_TOK_TYPE_UNKNOWN) &&
	    !(flags & INFER_TOK_SPECIAL))
		return tok->piece + tok->piece_off[id];
	*len = tok->piece_len[id];
	return tok->piece + tok->piece_off[id];
}

/*
 * The piece of id with the strip rule applied: skips one leading space
 * while *strip is set; clears *strip at the first non-empty piece.
 */
static const char *
piece_stripped(
    const struct infer_tok *tok, int32_t id, int flags, int *strip, size_t *len)
{
	const char *p = infer_tok_piece(tok, id, flags, len);

	if (p == NULL || *len == 0 || !*strip)
		return p;
	*strip = 0;
	if (tok->add_space_prefix && p[0] == ' ') {
		(*len)--;
		p++;
	}
	return p;
}

char *
infer_tok_decode(const struct infer_tok *tok, const int32_t *ids, size_t n,
    int flags, size_t *len, char **cause)
{
	int strip = (flags & INFER_TOK_STRIP_SPACE) != 0;
	size_t total = 0, o = 0, pl;
	char *out;

	*len = 0;
	if (n > 0 && ids == NULL) {
		set_cause(cause, "%s: %zu ids but no array", tok->name, n);
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		if (ids[i] < 0 || (uint32_t)ids[i] >= tok->n_vocab) {
			set_cause(cause,
			    "%s: token id %d (at %zu) out of range (%u "
			    "tokens)",
			    tok->name, (int)ids[i], i, tok->n_vocab);
			return NULL;
		}
		(void)infer_tok_piece(tok, ids[i], flags, &pl);
		total += pl;
	}
	out = malloc(total + 1);
	if (out == NULL) {
		set_cause(cause, "%s: out of memory decoding %zu tokens",
		    tok->name, n);
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		const char *p = piece_stripped(tok, ids[i], flags, &strip, &pl);

		memcpy(out + o, p, pl);
		o += pl;
	}
	out[o] = '\0';
	*len = o;
	return out;
}

void
infer_tok_stream_init(struct infer_tok_stream *st, int flags)
{
	memset(st, 0, sizeof *st);
	st->flags = flags;
}

/*
 * Writes to out the characters of the held bytes followed by the n bytes
 * of p: well-formed ones as they are, U+FFFD for each maximal ill-formed
 * subsequence; an incomplete character at the end is held for the next
 * call.  out must have room for 3 bytes per input byte.
 */
static size_t
stream_emit(struct infer_tok_stream *st, const char *p, size_t n, char *out)
{
	size_t na = st->n_pending, total = na + n, i = 0, o = 0;
	unsigned char win[4];

	while (i < total) {
		size_t wn = total - i < 4 ? total - i : 4, cl;
		int state;

		/* A window of up to 4 bytes of held + new, from i. */
		for (size_t k = 0; k < wn; k++)
			win[k] = i + k < na ? st->pending[i + k]
			                    : (unsigned char)p[i + k - na];
		cl = utf8_class(win, wn, &state);
		if (state == 0) {
			memcpy(out + o, win, cl);
			o += cl;
		} else if (state > 0) {
			/* Incomplete at the very end (cl = wn < 4). */
			memcpy(st->pending, win, cl);
			st->n_pending = cl;
			return o;
		} else {
			memcpy(out + o, "\xef\xbf\xbd", 3);
			o += 3;
		}
		i += cl;
	}
	st->n_pending = 0;
	return o;
}

int
infer_tok_stream_push(const struct infer_tok *tok, struct infer_tok_stream *st,
    int32_t id, char *out, size_t cap, char **cause)
{
	const char *p;
	size_t pl, n;
	int strip = !st->started && (st->flags & INFER_TOK_STRIP_SPACE);

	if (id < 0 || (uint32_t)id >= tok->n_vocab) {
		set_cause(cause, "%s: token id %d out of range (%u tokens)",
		    tok->name, (int)id, tok->n_vocab);
		return -1;
	}
	p = piece_stripped(tok, id, st->flags, &strip, &pl);
	n = st->n_pending + pl;
	if (n > INT32_MAX / 3 || cap < 3 * n) {
		set_cause(cause,
		    "%s: token %d: output buffer of %zu bytes is too small "
		    "(%zu needed)",
		    tok->name, (int)id, cap, 3 * n);
		return -1;
	}
	/* The first non-empty piece (even one the strip emptied) ends the
	 * stripping. */
	if (!strip)
		st->started = 1;
	return (int)stream_emit(st, p, pl, out);
}

size_t
infer_tok_stream_flush(struct infer_tok_stream *st, char *out, size_t cap)
{
	size_t n = 0;

	if (st->n_pending > 0 && cap >= 3) {
		memcpy(out, "\xef\xbf\xbd", 3);
		n = 3;
	}
	st->n_pending = 0;
	st->started = 0;
	return n;
}

/* ---- accessors -------------------------------------------------------- */

uint32_t
infer_tok_n_vocab(const struct infer_tok *tok)
{
	return tok->n_vocab;
}

enum infer_tok_model
infer_tok_model(const struct infer_tok *tok)
{
	return tok->model;
}

const char *
infer_tok_pre_name(const struct infer_tok *tok)
{
	return tok->pre != NULL ? tok->pre->names[0] : "";
}

size_t
infer_tok_max_piece(const struct infer_tok *tok)
{
	return tok->max_piece;
}

int32_t
infer_tok_bos(const struct infer_tok *tok)
{
	return tok->bos;
}

int32_t
infer_tok_eos(const struct infer_tok *tok)
{
	return tok->eos;
}

int32_t
infer_tok_eot(const struct infer_tok *tok)
{
	return tok->eot;
}

int32_t
infer_tok_unk(const struct infer_tok *tok)
{
	return tok->unk;
}

int32_t
infer_tok_pad(const struct infer_tok *tok)
{
	return tok->pad;
}

int32_t
infer_tok_newline(const struct infer_tok *tok)
{
	return tok->nl;
}

int
infer_tok_adds_bos(const struct infer_tok *tok)
{
	return tok->add_bos;
}

int
infer_tok_adds_eos(const struct infer_tok *tok)
{
	return tok->add_eos;
}

int
infer_tok_is_eog(const struct infer_tok *tok, int32_t id)
{
	if (id < 0 || (uint32_t)id >= tok->n_vocab)
		return 0;
	return (tok->tflags[id] & TOKF_EOG) != 0;
}

const char *
infer_tok_text(const struct infer_tok *tok, int32_t id)
{
	if (id < 0 || (uint32_t)id >= tok->n_vocab)
		return NULL;
	return tok->text + tok->text_off[id];
}

enum infer_tok_type
infer_tok_type(const struct infer_tok *tok, int32_t id)
{
	if (id < 0 || (uint32_t)id >= tok->n_vocab)
		return INFER_TOK_TYPE_UNDEFINED;
	return (enum infer_tok_type)tok->types[id];
}

float
infer_tok_score(const struct infer_tok *tok, int32_t id)
{
	if (id < 0 || (uint32_t)id >= tok->n_vocab)
		return 0.0f;
	return tok->scores[id];
}
