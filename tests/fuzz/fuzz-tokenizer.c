/*
 * fuzz-tokenizer.c: libFuzzer harness for the tokenizers
 * (inference/tokenizer.c).
 *
 * The harness builds five small vocabularies once: byte-level BPE with
 * the gpt-2, llama3, qwen2 and deepseek-llm pre-tokenizers (the 256 byte
 * tokens, a few merges, control tokens whose texts overlap, a
 * user-defined token) and a SentencePiece vocabulary (byte fallback,
 * scored pieces, a control token).  The first input byte picks the
 * vocabulary and the flags; the rest is the text, any bytes at all.
 *
 * Each text is encoded and checked: every id in range; no control or
 * unknown token parsed out of the text unless asked; the text comes back
 * byte for byte from the ids (byte-level BPE always; SentencePiece when
 * no special token was parsed, since a space follows each, and the text
 * has no U+2581, which SentencePiece reads as a space); the streaming decoder gives valid
 * UTF-8, equal to the decoded text whenever that is valid UTF-8; the
 * pre-tokenizer's pieces are sorted, disjoint and inside the text; and
 * with the whole text marked plain, no control token is parsed out of
 * it.  Any failure aborts, which libFuzzer reports with the input.
 *
 *   make fuzz
 *   build/fuzz/fuzz-tokenizer -dict=tests/fuzz/tokenizer.dict \
 *       -max_len=4096 CORPUS_DIR tests/fixtures/tokenizer/seeds
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inference/tokenizer.h"

/* Longer inputs are cut: merges cost grows faster than linearly. */
#define MAX_TEXT 4096

/* The vocabularies, picked by the first input byte. */
enum { V_GPT2, V_LLAMA3, V_QWEN2, V_DEEPSEEK, V_SPM, V_COUNT };

/* Ids of the BPE vocabularies' tokens after the 256 byte tokens. */
enum {
	B_ENDOFTEXT = 256,
	B_IM_START,
	B_IM_END,
	B_IM, /* "<|im", a control token that prefixes two others */
	B_TOOL,
	B_MERGED, /* the merge results follow */
};

/* GPT-2's printable stand-ins for "the", "Ġ" is U+0120 (a space). */
static const char *const bpe_merges[] = {
	"\xc4\xa0 t",
	"h e",
	"\xc4\xa0t he",
	"i n",
	"e r",
	"\xc4\xa0 a",
	"o n",
	"\xc4\xa0 \xc4\xa0",
};
#define N_MERGES (sizeof bpe_merges / sizeof bpe_merges[0])
static const char *const bpe_merged[N_MERGES] = {
	"\xc4\xa0t",
	"he",
	"\xc4\xa0the",
	"in",
	"er",
	"\xc4\xa0\x61",
	"on",
	"\xc4\xa0\xc4\xa0",
};

/* SentencePiece: fixed tokens, bytes, then these pieces. */
enum {
	S_UNK = 0,
	S_BOS,
	S_EOS,
	S_IM_START,
	S_BYTE0,
	S_PIECES = S_BYTE0 + 256,
};
static const char *const spm_pieces[] = {
	"\xe2\x96\x81", "a", "e", "h", "i", "n", "t", "\xe2\x96\x81t",
	"\xe2\x96\x81th", "\xe2\x96\x81the", "he", "in", "\xe2\x96\x81\x61",
	"\xe6\x97\xa5", /* a CJK character of its own */
};
#define N_SPM_PIECES (sizeof spm_pieces / sizeof spm_pieces[0])

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct infer_tok *toks[V_COUNT];

static struct infer_tok *build_bpe(const char *pre);
static struct infer_tok *build_spm(void);
static int utf8_valid(const unsigned char *s, size_t n);
static void check(
    const struct infer_tok *tok, const char *text, size_t len, int flags);

/* Whether GPT-2's byte table maps byte b to itself. */
static int
byte_printable(unsigned b)
{
	return (b >= 33 && b <= 126) || (b >= 161 && b <= 172) ||
	    (b >= 174 && b <= 255);
}

static struct infer_tok *
build_bpe(const char *pre)
{
	static char bytes[256][4];
	struct infer_tok_str tokens[B_MERGED + N_MERGES];
	struct infer_tok_str merges[N_MERGES];
	int32_t types[B_MERGED + N_MERGES];
	struct infer_tok_params p;
	struct infer_tok *tok;
	unsigned other = 0;
	char *cause = NULL;

	for (unsigned b = 0; b < 256; b++) {
		unsigned cp = b;

		if (!byte_printable(b))
			cp = 256 + other++;
		if (cp < 0x80) {
			bytes[b][0] = (char)cp;
			tokens[b].len = 1;
		} else {
			bytes[b][0] = (char)(0xc0 | (cp >> 6));
			bytes[b][1] = (char)(0x80 | (cp & 0x3f));
			tokens[b].len = 2;
		}
		tokens[b].s = bytes[b];
		types[b] = INFER_TOK_TYPE_NORMAL;
	}
#define SET(id, text, type)                        \
	do {                                       \
		tokens[id].s = (text);             \
		tokens[id].len = strlen(text);     \
		types[id] = INFER_TOK_TYPE_##type; \
	} while (0)
	SET(B_ENDOFTEXT, "<|endoftext|>", CONTROL);
	SET(B_IM_START, "<|im_start|>", CONTROL);
	SET(B_IM_END, "<|im_end|>", CONTROL);
	SET(B_IM, "<|im", CONTROL);
	SET(B_TOOL, "<tool>", USER_DEFINED);
	for (size_t i = 0; i < N_MERGES; i++) {
		SET(B_MERGED + i, bpe_merged[i], NORMAL);
		merges[i].s = bpe_merges[i];
		merges[i].len = strlen(bpe_merges[i]);
	}
#undef SET
	infer_tok_params_init(&p);
	p.name = "fuzz-bpe";
	p.model = INFER_TOK_MODEL_BPE;
	p.pre = pre;
	p.n_tokens = B_MERGED + N_MERGES;
	p.tokens = tokens;
	p.types = types;
	p.n_merges = N_MERGES;
	p.merges = merges;
	p.bos = B_ENDOFTEXT;
	p.eos = B_ENDOFTEXT;
	p.add_bos = 1;
	p.add_eos = 0;
	tok = infer_tok_new(&p, &cause);
	if (tok == NULL) {
		fprintf(stderr, "fuzz-tokenizer: %s\n", cause);
		abort();
	}
	return tok;
}

static struct infer_tok *
build_spm(void)
{
	static char bytes[256][8];
	struct infer_tok_str tokens[S_PIECES + N_SPM_PIECES];
	float scores[S_PIECES + N_SPM_PIECES];
	int32_t types[S_PIECES + N_SPM_PIECES];
	struct infer_tok_params p;
	struct infer_tok *tok;
	char *cause = NULL;
	const char *fixed[S_BYTE0] = { "<unk>", "<s>", "</s>", "<|im_start|>" };

	for (int i = 0; i < S_BYTE0; i++) {
		tokens[i].s = fixed[i];
		tokens[i].len = strlen(fixed[i]);
		scores[i] = 0.0f;
		types[i] = i == S_UNK ? INFER_TOK_TYPE_UNKNOWN
		                      : INFER_TOK_TYPE_CONTROL;
	}
	for (int b = 0; b < 256; b++) {
		snprintf(bytes[b], sizeof bytes[b], "<0x%02X>", b);
		tokens[S_BYTE0 + b].s = bytes[b];
		tokens[S_BYTE0 + b].len = 6;
		scores[S_BYTE0 + b] = 0.0f;
		types[S_BYTE0 + b] = INFER_TOK_TYPE_BYTE;
	}
	for (size_t i = 0; i < N_SPM_PIECES; i++) {
		tokens[S_PIECES + i].s = spm_pieces[i];
		tokens[S_PIECES + i].len = strlen(spm_pieces[i]);
		/* Longer pieces merge first. */
		scores[S_PIECES + i] = -10.0f + (float)tokens[S_PIECES + i].len;
		types[S_PIECES + i] = INFER_TOK_TYPE_NORMAL;
	}
	infer_tok_params_init(&p);
	p.name = "fuzz-spm";
	p.model = INFER_TOK_MODEL_SPM;
	p.n_tokens = S_PIECES + N_SPM_PIECES;
	p.tokens = tokens;
	p.scores = scores;
	p.types = types;
	p.unk = S_UNK;
	p.bos = S_BOS;
	p.eos = S_EOS;
	p.add_bos = 1;
	p.add_eos = 0;
	tok = infer_tok_new(&p, &cause);
	if (tok == NULL) {
		fprintf(stderr, "fuzz-tokenizer: %s\n", cause);
		abort();
	}
	return tok;
}

/* Whether s holds well-formed UTF-8 (Unicode 15, table 3-7). */
static int
utf8_valid(const unsigned char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		unsigned c = s[i], need, lo = 0x80, hi = 0xbf;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			need = 1;
		else if (c >= 0xe0 && c <= 0xef) {
			need = 2;
			if (c == 0xe0)
				lo = 0xa0;
			if (c == 0xed)
				hi = 0x9f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			need = 3;
			if (c == 0xf0)
				lo = 0x90;
			if (c == 0xf4)
				hi = 0x8f;
		} else
			return 0;
		if (n - i - 1 < need || s[i + 1] < lo || s[i + 1] > hi)
			return 0;
		for (unsigned k = 2; k <= need; k++)
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
		i += need + 1;
	}
	return 1;
}

#define FAIL(...)                                    \
	do {                                         \
		fprintf(stderr, "fuzz-tokenizer: "); \
		fprintf(stderr, __VA_ARGS__);        \
		fprintf(stderr, "\n");               \
		abort();                             \
	} while (0)

/* Encodes text with flags and checks everything the header promises. */
static void
check(const struct infer_tok *tok, const char *text, size_t len, int flags)
{
	int spm = infer_tok_model(tok) == INFER_TOK_MODEL_SPM;
	int dflags = (flags & INFER_TOK_SPECIAL) | INFER_TOK_STRIP_SPACE;
	struct infer_tok_range plain = { 0, len }, *pieces;
	struct infer_tok_stream st;
	size_t n, n_body, dlen, got = 0, n_pieces, max;
	int32_t *ids, *body, *ids_plain;
	int parsed_control = 0;
	char *cause = NULL, *dec, *out;

	ids = infer_tok_encode(tok, text, len, flags, &n, &cause);
	if (ids == NULL) {
		/* Only resource limits may refuse, and they say so. */
		if (cause == NULL)
			FAIL("encode failed without a message");
		free(cause);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		enum infer_tok_type t;

		if (ids[i] < 0 || (uint32_t)ids[i] >= infer_tok_n_vocab(tok))
			FAIL("id %d at %zu out of range", ids[i], i);
		t = infer_tok_type(tok, ids[i]);
		if ((t == INFER_TOK_TYPE_CONTROL ||
		        t == INFER_TOK_TYPE_UNKNOWN) &&
		    !(i == 0 && (flags & INFER_TOK_ADD_SPECIAL)))
			parsed_control = 1;
	}
	if (parsed_control && !(flags & INFER_TOK_SPECIAL))
		FAIL("a control token was parsed without INFER_TOK_SPECIAL");

	/* The body: the ids less the BOS that ADD_SPECIAL put in front. */
	body = ids;
	n_body = n;
	if ((flags & INFER_TOK_ADD_SPECIAL) && infer_tok_adds_bos(tok)) {
		if (n == 0 || ids[0] != infer_tok_bos(tok))
			FAIL("BOS missing in front");
		body++;
		n_body--;
	}

	dec = infer_tok_decode(tok, body, n_body, dflags, &dlen, &cause);
	if (dec == NULL)
		FAIL("decode of valid ids failed: %s", cause);
	if (!spm ||
	    (!parsed_control && memmem(text, len, "\xe2\x96\x81", 3) == NULL)) {
		if (dlen != len || memcmp(dec, text, len) != 0)
			FAIL("round trip: %zu bytes in, %zu out", len, dlen);
	}

	/* The stream: valid UTF-8 always, the decoded text when valid. */
	max = INFER_TOK_STREAM_MAX(infer_tok_max_piece(tok));
	out = malloc(3 * dlen + max + 8);
	if (out == NULL)
		abort();
	infer_tok_stream_init(&st, dflags);
	for (size_t i = 0; i < n_body; i++) {
		int k = infer_tok_stream_push(tok, &st, body[i], out + got,
		    3 * dlen + max + 8 - got, &cause);

		if (k < 0)
			FAIL("stream push failed: %s", cause);
		got += (size_t)k;
	}
	got += infer_tok_stream_flush(&st, out + got, 3 * dlen + max + 8 - got);
	if (!utf8_valid((const unsigned char *)out, got))
		FAIL("the stream wrote ill-formed UTF-8");
	if (utf8_valid((const unsigned char *)dec, dlen) &&
	    (got != dlen || memcmp(out, dec, dlen) != 0))
		FAIL("the stream differs from the decoded text");
	free(out);
	free(dec);

	/* Pre-tokenizer pieces: sorted, disjoint, inside the text. */
	pieces = infer_tok_split(tok, text, len, &n_pieces, &cause);
	if (pieces == NULL) {
		if (cause == NULL)
			FAIL("split failed without a message");
		free(cause);
		cause = NULL;
	} else {
		size_t end = 0;

		for (size_t i = 0; i < n_pieces; i++) {
			if (pieces[i].off < end || pieces[i].len == 0 ||
			    pieces[i].len > len - pieces[i].off)
				FAIL("piece %zu [%zu, +%zu) out of order", i,
				    pieces[i].off, pieces[i].len);
			end = pieces[i].off + pieces[i].len;
		}
		free(pieces);
	}

	/* All plain: no control token comes out of the text. */
	ids_plain = infer_tok_encode_ranges(
	    tok, text, len, flags, &plain, 1, &n, &cause);
	if (ids_plain == NULL) {
		if (cause == NULL)
			FAIL("encode_ranges failed without a message");
		free(cause);
	} else {
		for (size_t i = 0; i < n; i++)
			if ((infer_tok_type(tok, ids_plain[i]) ==
			            INFER_TOK_TYPE_CONTROL ||
			        infer_tok_type(tok, ids_plain[i]) ==
			            INFER_TOK_TYPE_UNKNOWN) &&
			    !(i == 0 && (flags & INFER_TOK_ADD_SPECIAL)))
				FAIL("control token %d parsed in plain text",
				    ids_plain[i]);
		free(ids_plain);
	}
	free(ids);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const pres[V_SPM] = { "gpt-2", "llama3", "qwen2",
		"deepseek-llm" };
	unsigned sel;
	int flags = 0;

	if (toks[0] == NULL) {
		for (int v = 0; v < V_SPM; v++)
			toks[v] = build_bpe(pres[v]);
		toks[V_SPM] = build_spm();
	}
	if (size == 0)
		return 0;
	sel = data[0];
	if (sel & 0x10)
		flags |= INFER_TOK_ADD_SPECIAL;
	if (sel & 0x20)
		flags |= INFER_TOK_SPECIAL;
	size--;
	if (size > MAX_TEXT)
		size = MAX_TEXT;
	check(
	    toks[(sel & 0x0f) % V_COUNT], (const char *)data + 1, size, flags);
	return 0;
}
