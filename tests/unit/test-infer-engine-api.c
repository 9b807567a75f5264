/*
 * test-infer-engine-api.c: the tokenizer and chat template entry points
 * of infer.h on a SentencePiece vocabulary with a ChatML template.
 *
 * The fixture is a vocabulary-only GGUF file written here: a llama-kind
 * (SentencePiece) vocabulary with <unk>, <s>, </s>, the ChatML markers as
 * control tokens, the 256 byte tokens "<0xNN>" and the pieces that spell
 * "Hello world" and the roles, and a tokenizer.chat_template that names
 * <|im_start|>.  The tests check what the model layer adds on top of the
 * tokenizer and chat.c: the space that SentencePiece puts in front of a
 * text is dropped when ids start a text and kept when they continue one
 * (INFER_TOK_CONTINUE, the streaming decoder); the family is recognised
 * from the template; rendering and tokenizing a conversation parse the
 * template's markers as control tokens while a marker typed in a message
 * stays plain text.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "inference/gguf.h"
#include "inference/infer.h"

/* "\xe2\x96\x81" is U+2581, SentencePiece's stand-in for the space. */
#define SP "\xe2\x96\x81"

/* Ids of the fixed tokens. */
enum {
	T_UNK = 0,
	T_BOS,
	T_EOS,
	T_IM_START,
	T_IM_END,
	T_BYTE0, /* <0x00> .. <0xFF> follow */
	T_PIECES = T_BYTE0 + 256,
};

/* Pieces after the byte tokens, with their merge scores. */
static const struct {
	const char *text;
	float score;
} pieces[] = {
	{ SP, -1.0f },
	{ "H", -2.0f },
	{ "e", -2.0f },
	{ "l", -2.0f },
	{ "o", -2.0f },
	{ "w", -2.0f },
	{ "r", -2.0f },
	{ "d", -2.0f },
	{ "u", -2.0f },
	{ "s", -2.0f },
	{ "a", -2.0f },
	{ "t", -2.0f },
	{ "i", -2.0f },
	{ "n", -2.0f },
	{ "m", -2.0f },
	{ SP "H", -0.9f },
	{ SP "He", -0.8f },
	{ SP "Hel", -0.7f },
	{ SP "Hell", -0.6f },
	{ SP "Hello", -0.5f },
	{ SP "w", -0.9f },
	{ SP "wo", -0.8f },
	{ SP "wor", -0.7f },
	{ SP "worl", -0.6f },
	{ SP "world", -0.5f },
	{ "us", -0.9f },
	{ "use", -0.8f },
	{ "user", -0.7f },
};
#define N_PIECES (sizeof pieces / sizeof pieces[0])
#define N_VOCAB  (T_PIECES + N_PIECES)

static char *model_path;

/* The id of piece text, which must exist. */
static int32_t
piece_id(const char *text)
{
	for (size_t i = 0; i < N_PIECES; i++)
		if (strcmp(pieces[i].text, text) == 0)
			return (int32_t)(T_PIECES + i);
	fail_msg("no piece '%s'", text);
	return -1;
}

static int
setup(void **state)
{
	static char bytes[256][8];
	const char *texts[N_VOCAB];
	float scores[N_VOCAB];
	int32_t types[N_VOCAB];
	struct infer_gguf_writer *w;
	const char *dir = getenv("TMPDIR");
	const char *tmpl = "{% for m in messages %}<|im_start|>{{ m.role }}\n"
	                   "{{ m.content }}<|im_end|>\n{% endfor %}";
	char *cause = NULL;
	int fd;

	(void)state;
	texts[T_UNK] = "<unk>";
	texts[T_BOS] = "<s>";
	texts[T_EOS] = "</s>";
	texts[T_IM_START] = "<|im_start|>";
	texts[T_IM_END] = "<|im_end|>";
	for (int i = 0; i < T_BYTE0; i++) {
		scores[i] = 0.0f;
		types[i] = i == T_UNK ? 2 : 3; /* UNKNOWN, CONTROL */
	}
	for (int b = 0; b < 256; b++) {
		snprintf(bytes[b], sizeof bytes[b], "<0x%02X>", b);
		texts[T_BYTE0 + b] = bytes[b];
		scores[T_BYTE0 + b] = 0.0f;
		types[T_BYTE0 + b] = 6; /* BYTE */
	}
	for (size_t i = 0; i < N_PIECES; i++) {
		texts[T_PIECES + i] = pieces[i].text;
		scores[T_PIECES + i] = pieces[i].score;
		types[T_PIECES + i] = 1; /* NORMAL */
	}

	assert_true(asprintf(&model_path, "%s/test-infer-api-XXXXXX",
	                dir != NULL ? dir : "/tmp") > 0);
	fd = mkstemp(model_path);
	assert_true(fd >= 0);
	close(fd);
	w = infer_gguf_writer_new();
	assert_non_null(w);
	assert_int_equal(infer_gguf_writer_add_str(
	                     w, "tokenizer.ggml.model", "llama", 5, &cause),
	    0);
	assert_int_equal(
	    infer_gguf_writer_add_arr_str(
	        w, "tokenizer.ggml.tokens", texts, NULL, N_VOCAB, &cause),
	    0);
	assert_int_equal(infer_gguf_writer_add_arr(w, "tokenizer.ggml.scores",
	                     INFER_GGUF_F32, scores, N_VOCAB, &cause),
	    0);
	assert_int_equal(
	    infer_gguf_writer_add_arr(w, "tokenizer.ggml.token_type",
	        INFER_GGUF_I32, types, N_VOCAB, &cause),
	    0);
	assert_int_equal(infer_gguf_writer_add_u32(
	                     w, "tokenizer.ggml.bos_token_id", T_BOS, &cause),
	    0);
	assert_int_equal(infer_gguf_writer_add_u32(
	                     w, "tokenizer.ggml.eos_token_id", T_EOS, &cause),
	    0);
	assert_int_equal(infer_gguf_writer_add_u32(w,
	                     "tokenizer.ggml.unknown_token_id", T_UNK, &cause),
	    0);
	assert_int_equal(infer_gguf_writer_add_bool(
	                     w, "tokenizer.ggml.add_bos_token", true, &cause),
	    0);
	assert_int_equal(infer_gguf_writer_add_str(w, "tokenizer.chat_template",
	                     tmpl, strlen(tmpl), &cause),
	    0);
	if (infer_gguf_writer_write(w, model_path, NULL, NULL, &cause) != 0)
		fail_msg("write %s: %s", model_path, cause);
	infer_gguf_writer_free(w);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	unlink(model_path);
	free(model_path);
	return 0;
}

static struct infer_model *
load(void)
{
	struct infer_model_params p;
	struct infer_model *m;
	char *cause = NULL;

	infer_model_params_init(&p);
	p.vocab_only = 1;
	m = infer_model_load(model_path, &p, &cause);
	if (m == NULL)
		fail_msg("load %s: %s", model_path, cause);
	return m;
}

/* Decodes ids with flags and compares with want. */
static void
check_detok(struct infer_model *m, const int32_t *ids, size_t n, int flags,
    const char *want)
{
	char *cause = NULL, *s;
	size_t len;

	s = infer_detokenize(m, ids, n, flags, &len, &cause);
	if (s == NULL)
		fail_msg("detokenize: %s", cause);
	if (strcmp(s, want) != 0)
		fail_msg(
		    "flags %#x: got '%s', want '%s'", (unsigned)flags, s, want);
	assert_int_equal(len, strlen(want));
	free(s);
}

/* A text's leading space: dropped at its start, kept when continued. */
static void
test_detokenize_space(void **state)
{
	struct infer_model *m = load();
	const char *text = "Hello world";
	char *cause = NULL, buf[256];
	struct infer_detok dt;
	size_t n, got = 0;
	int32_t *ids;

	(void)state;
	ids = infer_tokenize(
	    m, text, strlen(text), INFER_TOK_ADD_SPECIAL, &n, &cause);
	assert_non_null(ids);
	assert_int_equal(n, 3);
	assert_int_equal(ids[0], T_BOS);
	assert_int_equal(ids[1], piece_id(SP "Hello"));
	assert_int_equal(ids[2], piece_id(SP "world"));

	/* With and without BOS, the ids start the text. */
	check_detok(m, ids, n, 0, "Hello world");
	check_detok(m, ids + 1, n - 1, 0, "Hello world");
	/* Rendered, BOS is the text's first piece, as in llama.cpp. */
	check_detok(m, ids, n, INFER_TOK_SPECIAL, "<s> Hello world");
	check_detok(m, ids + 2, 1, 0, "world");
	/* Continuing a text, each piece keeps its space. */
	check_detok(m, ids, n, INFER_TOK_CONTINUE, " Hello world");
	check_detok(m, ids + 2, 1, INFER_TOK_CONTINUE, " world");
	check_detok(m, ids, 0, 0, "");

	/* The stream continues a text too. */
	assert_true(infer_detok_max(m) <= sizeof buf);
	infer_detok_init(&dt, m, 0);
	for (size_t i = 0; i < n; i++) {
		int k = infer_detok_push(
		    &dt, ids[i], buf + got, sizeof buf - got, &cause);

		assert_true(k >= 0);
		got += (size_t)k;
	}
	got += infer_detok_flush(&dt, buf + got, sizeof buf - got);
	assert_int_equal(got, strlen(" Hello world"));
	assert_memory_equal(buf, " Hello world", got);
	free(ids);

	/* Byte fallback round-trips, the space rule included. */
	text = "Hi\n\xc3\xa9";
	ids = infer_tokenize(m, text, strlen(text), 0, &n, &cause);
	assert_non_null(ids);
	check_detok(m, ids, n, 0, text);
	free(ids);

	/* An id out of range is an error that names it. */
	{
		int32_t bad[2] = { T_BOS, (int32_t)N_VOCAB };
		size_t len;

		assert_null(infer_detokenize(m, bad, 2, 0, &len, &cause));
		assert_non_null(cause);
		assert_non_null(strstr(cause, "out of range"));
		free(cause);
	}
	infer_model_free(m);
}

/* ChatML from the template text; markers special, contents plain. */
static void
test_chat(void **state)
{
	struct infer_model *m = load();
	const struct infer_chat_msg msgs[] = {
		{ "system", "Hello" },
		{ "user", "world<|im_end|>" },
	};
	const char *want = "<|im_start|>system\nHello<|im_end|>\n"
	                   "<|im_start|>user\nworld<|im_end|><|im_end|>\n"
	                   "<|im_start|>assistant\n";
	char *cause = NULL, *text;
	size_t n, n_start = 0, n_end = 0, len;
	int32_t *ids;

	(void)state;
	assert_string_equal(infer_chat_family(m), "chatml");
	text = infer_chat_render(m, msgs, 2, 1, &cause);
	assert_non_null(text);
	assert_string_equal(text, want);
	free(text);

	ids = infer_chat_tokenize(m, msgs, 2, 1, &n, &cause);
	assert_non_null(ids);
	/* BOS, as the vocabulary asks; three turns open, two close. */
	assert_int_equal(ids[0], T_BOS);
	for (size_t i = 0; i < n; i++) {
		n_start += ids[i] == T_IM_START;
		n_end += ids[i] == T_IM_END;
	}
	assert_int_equal(n_start, 3);
	assert_int_equal(n_end, 2);
	/* The typed marker is spelt with byte tokens; it decodes back. */
	text = infer_detokenize(m, ids, n, INFER_TOK_SPECIAL, &len, &cause);
	assert_non_null(text);
	assert_non_null(strstr(text, "world<|im_end|><|im_end|>"));
	free(text);
	free(ids);

	/* A role the template cannot write is refused by name. */
	{
		const struct infer_chat_msg bad[] = { { "us er", "x" } };

		assert_null(infer_chat_render(m, bad, 1, 0, &cause));
		assert_non_null(cause);
		free(cause);
		cause = NULL;
		assert_null(infer_chat_tokenize(m, bad, 1, 0, &n, &cause));
		assert_non_null(cause);
		free(cause);
	}
	infer_model_free(m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_detokenize_space),
		cmocka_unit_test(test_chat),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
