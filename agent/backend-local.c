/*
 * backend-local.c: the local GGUF engine as a model backend, and the
 * model scheduler.
 *
 * A session is an engine sequence (its KV cache) plus the text it holds.
 * Text and tokens do not line up byte for byte (a stop string may end in
 * the middle of a token, and a rewind may land anywhere), so the session
 * remembers boundaries: points where a token count and a byte offset are
 * known to match (the end of each append, and each generated token whose
 * bytes all came out of the detokenizer).  Rewinding to a byte mark
 * truncates the sequence to the last boundary at or before it and keeps
 * the bytes between that boundary and the mark as pending text, fed with
 * the next append or generate.  So a ReAct step computes only what it
 * appends, and a stop string costs at most the tokens after the last
 * boundary.
 *
 * The scheduler batches decode steps: every generating session hands its
 * next token to sched_decode(), which queues it; one of the waiting
 * threads becomes the leader, takes every queued token (up to n_batch)
 * and runs them as one infer_decode_batch() forward pass, so concurrent
 * runs read the weights once per step instead of once per run.  Requests
 * are served first come, first served.  A leader whose queue holds fewer
 * tokens than there are sessions in their decode loop waits a moment
 * (at most SCHED_GATHER_US) for the others to queue theirs: after a
 * batch every session samples its next token at about the same time,
 * and a leader that ran as soon as its own was queued would split one
 * batch into many small ones.  A lone session never waits.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/agent-int.h"
#include "agent/backend.h"
#include "daemon/util.h"
#include "inference/infer.h"

/* How long a leader waits at most for the other decoding sessions. */
#define SCHED_GATHER_US 2000

/* One decode request waiting for a batch. */
struct sched_req {
	struct infer_seq *seq;
	int32_t token;
	int done;
	int rc;
	char *cause;
	struct sched_req *next;
};

struct local_backend {
	struct agent_backend head;
	struct infer_model *model;
	uint32_t n_ctx;
	uint32_t n_batch;

	/* The scheduler. */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct sched_req *queue; /* FIFO */
	struct sched_req **tail;
	size_t n_queued;
	size_t n_decoding; /* sessions inside their decode loop */
	int busy; /* a leader is running a batch */
	uint64_t batches;
	uint64_t batched_tokens;
};

/* A point where the token count and the byte offset agree. */
struct local_bound {
	uint32_t tokens;
	size_t bytes;
};

struct local_session {
	struct agent_session head;
	struct infer_seq *seq;
	struct buf text; /* everything the session holds */
	size_t fed;      /* bytes of text the sequence covers */
	struct local_bound *bounds;
	size_t n_bounds;
};

static struct agent_session *local_session_new(struct agent_backend *, char **);
static void local_session_free(struct agent_session *);
static int local_append(struct agent_session *, const char *, size_t,
    struct agent_append_result *, char **);
static int local_generate(struct agent_session *,
    const struct agent_gen_params *, struct agent_gen_result *, char **);
static struct agent_session *local_fork(struct agent_session *, char **);
static uint64_t local_mark(struct agent_session *);
static int local_rewind(struct agent_session *, uint64_t, char **);
static uint32_t local_length(struct agent_session *);
static uint32_t local_n_ctx(struct agent_backend *);
static uint32_t local_count(struct agent_backend *, const char *, size_t);
static char *local_chat_render(struct agent_backend *,
    const struct agent_chat_msg *, size_t, int, char **);
static void local_destroy(struct agent_backend *);
static int local_feed_pending(struct local_session *, uint32_t *, char **);
static void local_bound_add(struct local_session *, uint32_t, size_t);
static int sched_decode(
    struct local_backend *, struct infer_seq *, int32_t, char **);
static void local_log(enum infer_log_level, const char *, void *);

static const struct agent_backend_ops local_ops = {
	.kind = "local",
	.session_new = local_session_new,
	.session_free = local_session_free,
	.append = local_append,
	.generate = local_generate,
	.fork = local_fork,
	.mark = local_mark,
	.rewind = local_rewind,
	.length = local_length,
	.n_ctx = local_n_ctx,
	.count = local_count,
	.chat_render = local_chat_render,
	.destroy = local_destroy,
};

/* The engine's log lines go to the daemon's logger. */
static void
local_log(enum infer_log_level level, const char *msg, void *arg)
{
	(void)arg;
	switch (level) {
	case INFER_LOG_ERR:
		log_err("inference: %s", msg);
		break;
	case INFER_LOG_WARN:
		log_warn("inference: %s", msg);
		break;
	case INFER_LOG_INFO:
		log_info("inference: %s", msg);
		break;
	default:
		log_debug("inference: %s", msg);
		break;
	}
}

struct agent_backend *
agent_backend_local_open(const char *path, char **cause)
{
	struct local_backend *lb;
	pthread_condattr_t ca;
	struct infer_model *model;
	const struct infer_model_info *info;
	const char *name;

	infer_log_set(local_log, NULL);
	model = infer_model_load(path, NULL, cause);
	if (model == NULL)
		return NULL;
	info = infer_model_info(model);
	if (info->vocab_only) {
		xasprintf(
		    cause, "%s: a vocabulary-only file cannot generate", path);
		infer_model_free(model);
		return NULL;
	}
	lb = xcalloc(1, sizeof *lb);
	lb->model = model;
	lb->n_ctx = info->n_ctx;
	lb->n_batch = info->n_batch;
	pthread_mutex_init(&lb->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&lb->cv, &ca);
	pthread_condattr_destroy(&ca);
	lb->tail = &lb->queue;
	name = info->name != NULL && *info->name != '\0' ? info->name : path;
	agent_backend_init(&lb->head, &local_ops,
	    AGENT_CAP_KV_REUSE | AGENT_CAP_LOGPROBS | AGENT_CAP_BATCH, name);
	return &lb->head;
}

static void
local_destroy(struct agent_backend *b)
{
	struct local_backend *lb = (struct local_backend *)b;

	log_debug("local backend: %llu batches, %llu tokens decoded",
	    (unsigned long long)lb->batches,
	    (unsigned long long)lb->batched_tokens);
	infer_model_free(lb->model);
	pthread_cond_destroy(&lb->cv);
	pthread_mutex_destroy(&lb->mu);
	free(lb);
}

static uint32_t
local_n_ctx(struct agent_backend *b)
{
	return ((struct local_backend *)b)->n_ctx;
}

static uint32_t
local_count(struct agent_backend *b, const char *text, size_t len)
{
	struct local_backend *lb = (struct local_backend *)b;
	int32_t *ids;
	size_t n = 0;

	ids = infer_tokenize(lb->model, text, len, 0, &n, NULL);
	free(ids);
	/* Text the tokenizer refuses counts by bytes: never too little. */
	if (ids == NULL)
		n = len;
	return n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
}

static char *
local_chat_render(struct agent_backend *b, const struct agent_chat_msg *msgs,
    size_t n, int add_assistant, char **cause)
{
	struct local_backend *lb = (struct local_backend *)b;
	struct infer_chat_msg *m;
	char *out;

	m = xcalloc(n + 1, sizeof *m);
	for (size_t i = 0; i < n; i++) {
		m[i].role = msgs[i].role;
		m[i].content = msgs[i].content;
	}
	out = infer_chat_render(lb->model, m, n, add_assistant, cause);
	free(m);
	return out;
}

static struct agent_session *
local_session_new(struct agent_backend *b, char **cause)
{
	struct local_backend *lb = (struct local_backend *)b;
	struct local_session *ls;
	struct infer_seq *seq;

	if ((seq = infer_seq_new(lb->model, lb->n_ctx, cause)) == NULL)
		return NULL;
	ls = xcalloc(1, sizeof *ls);
	agent_session_init(&ls->head, b);
	ls->seq = seq;
	buf_init(&ls->text, SIZE_MAX);
	local_bound_add(ls, 0, 0);
	return &ls->head;
}

static void
local_session_free(struct agent_session *s)
{
	struct local_session *ls = (struct local_session *)s;

	infer_seq_free(ls->seq);
	buf_free(&ls->text);
	free(ls->bounds);
	agent_session_fini(&ls->head);
	free(ls);
}

/* Records that tokens cover exactly the first bytes of the text. */
static void
local_bound_add(struct local_session *ls, uint32_t tokens, size_t bytes)
{
	if (ls->n_bounds > 0 && ls->bounds[ls->n_bounds - 1].tokens == tokens)
		ls->n_bounds--;
	ls->bounds =
	    xreallocarray(ls->bounds, ls->n_bounds + 1, sizeof *ls->bounds);
	ls->bounds[ls->n_bounds].tokens = tokens;
	ls->bounds[ls->n_bounds].bytes = bytes;
	ls->n_bounds++;
}

/*
 * Feeds the text not yet in the sequence.  *computed (may be NULL) gains
 * the tokens run through the model.
 */
static int
local_feed_pending(struct local_session *ls, uint32_t *computed, char **cause)
{
	struct local_backend *lb = (struct local_backend *)ls->head.backend;
	int32_t *ids;
	size_t n = 0, len = ls->text.len - ls->fed;
	int flags = infer_seq_len(ls->seq) == 0 ? INFER_TOK_ADD_SPECIAL : 0;

	if (len == 0 && infer_seq_len(ls->seq) > 0)
		return 0;
	ids = infer_tokenize(
	    lb->model, ls->text.data + ls->fed, len, flags, &n, cause);
	if (ids == NULL)
		return -1;
	if (n > 0 && infer_seq_feed(ls->seq, ids, n, cause) != 0) {
		free(ids);
		return -1;
	}
	free(ids);
	ls->fed = ls->text.len;
	local_bound_add(ls, infer_seq_len(ls->seq), ls->fed);
	if (computed != NULL)
		*computed += (uint32_t)n;
	return 0;
}

static int
local_append(struct agent_session *s, const char *text, size_t len,
    struct agent_append_result *res, char **cause)
{
	struct local_session *ls = (struct local_session *)s;
	size_t old = ls->text.len;
	uint32_t before = infer_seq_len(ls->seq);

	if (!utf8_valid(text, len)) {
		xasprintf(cause, "appended text is not valid UTF-8");
		return -1;
	}
	buf_add(&ls->text, text, len);
	if (local_feed_pending(ls, &res->computed, cause) != 0) {
		/* Nothing changes: drop the text again. */
		ls->text.len = old;
		if (ls->text.data != NULL)
			ls->text.data[old] = '\0';
		if (ls->fed > old)
			ls->fed = old;
		return -1;
	}
	res->reused = before;
	return 0;
}

/* A session starts or ends its decode loop (a leader gathers for those). */
static void
sched_enter(struct local_backend *lb)
{
	pthread_mutex_lock(&lb->mu);
	lb->n_decoding++;
	pthread_mutex_unlock(&lb->mu);
}

static void
sched_leave(struct local_backend *lb)
{
	pthread_mutex_lock(&lb->mu);
	lb->n_decoding--;
	pthread_cond_broadcast(&lb->cv);
	pthread_mutex_unlock(&lb->mu);
}

/*
 * Decodes one token of seq in the next batch.  The calling thread either
 * waits for a leader to run its request or becomes the leader itself.
 */
static int
sched_decode(struct local_backend *lb, struct infer_seq *seq, int32_t token,
    char **cause)
{
	struct sched_req req, *batch, *r;
	struct infer_seq *seqs[256];
	int32_t toks[256];
	struct timespec until;
	char *why;
	size_t n;
	int rc, gathering = 0;

	memset(&req, 0, sizeof req);
	req.seq = seq;
	req.token = token;
	pthread_mutex_lock(&lb->mu);
	*lb->tail = &req;
	lb->tail = &req.next;
	lb->n_queued++;
	pthread_cond_broadcast(&lb->cv);
	while (!req.done) {
		if (lb->busy) {
			pthread_cond_wait(&lb->cv, &lb->mu);
			continue;
		}
		/* Gather: give the other decoding sessions a moment. */
		if (lb->n_queued < lb->n_decoding &&
		    lb->n_queued < lb->n_batch) {
			if (!gathering) {
				gathering = 1;
				clock_gettime(CLOCK_MONOTONIC, &until);
				until.tv_nsec += SCHED_GATHER_US * 1000L;
				if (until.tv_nsec >= 1000000000L) {
					until.tv_sec++;
					until.tv_nsec -= 1000000000L;
				}
			}
			if (pthread_cond_timedwait(&lb->cv, &lb->mu,
			        &until) != ETIMEDOUT)
				continue;
		}
		gathering = 0;
		/* Lead: take what is queued, up to the batch limit. */
		lb->busy = 1;
		batch = lb->queue;
		n = 0;
		for (r = batch; r != NULL && n < sizeof seqs / sizeof seqs[0] &&
		     n < lb->n_batch;
		     r = r->next) {
			seqs[n] = r->seq;
			toks[n] = r->token;
			n++;
		}
		lb->queue = r;
		if (lb->queue == NULL)
			lb->tail = &lb->queue;
		lb->n_queued -= n;
		pthread_mutex_unlock(&lb->mu);

		why = NULL;
		rc = infer_decode_batch(seqs, toks, n, &why);
		pthread_mutex_lock(&lb->mu);
		lb->batches++;
		lb->batched_tokens += n;
		for (r = batch; n > 0; r = r->next, n--) {
			r->done = 1;
			r->rc = rc;
			if (rc != 0)
				r->cause = xstrdup(
				    why != NULL ? why : "decode failed");
		}
		free(why);
		lb->busy = 0;
		pthread_cond_broadcast(&lb->cv);
	}
	pthread_mutex_unlock(&lb->mu);
	rc = req.rc;
	if (rc != 0)
		*cause = req.cause;
	return rc;
}

static int
local_generate(struct agent_session *s, const struct agent_gen_params *p,
    struct agent_gen_result *res, char **cause)
{
	struct local_session *ls = (struct local_session *)s;
	struct local_backend *lb = (struct local_backend *)s->backend;
	struct infer_sampler_params sp;
	struct infer_sampler *sampler = NULL;
	struct infer_logit_bias *bias = NULL;
	struct agent_gen_text g;
	struct infer_detok dt;
	const float *logits;
	char *piece = NULL;
	uint64_t start = clock_mono_ns(), first = 0, end;
	uint32_t max = p->max_tokens != 0 ? p->max_tokens
	                                  : AGENT_DEFAULT_MAX_TOKENS,
	         before = infer_seq_len(ls->seq);
	size_t base = ls->text.len, cap, n_bias = 0;
	int32_t tok, last;
	float lp;
	int rc = -1, pushed, npiece;

	agent_gen_text_init(&g, p);

	/* The prompt: whatever is pending, then logits for the last token. */
	if (local_feed_pending(ls, &res->prompt_computed, cause) != 0)
		goto out;
	if (infer_seq_len(ls->seq) == 0) {
		xasprintf(cause, "nothing to continue: the session is empty");
		goto out;
	}
	logits = infer_seq_logits(ls->seq);
	if (logits == NULL) {
		/* After a truncate: run the last token again. */
		last = infer_seq_tokens(ls->seq)[infer_seq_len(ls->seq) - 1];
		if (infer_seq_truncate(
		        ls->seq, infer_seq_len(ls->seq) - 1, cause) != 0 ||
		    infer_seq_feed(ls->seq, &last, 1, cause) != 0)
			goto out;
		res->prompt_computed++;
		logits = infer_seq_logits(ls->seq);
	}
	/* Appends count their own reuse; this call only what it fed. */
	res->prompt_reused = res->prompt_computed > 0 ? before : 0;

	/* The sampler, with the bias texts made token ids. */
	infer_sampler_params_init(&sp);
	sp.temperature = (float)p->temperature;
	sp.top_k = p->top_k;
	sp.top_p = p->top_p > 0 ? (float)p->top_p : 1.0f;
	sp.min_p = (float)p->min_p;
	sp.repeat_penalty =
	    p->repeat_penalty > 0 ? (float)p->repeat_penalty : 1.0f;
	sp.seed = p->seed;
	if (p->n_bias > 0) {
		bias = xcalloc(p->n_bias, sizeof *bias);
		for (size_t i = 0; i < p->n_bias; i++) {
			int32_t *ids;
			size_t n = 0;

			ids = infer_tokenize(lb->model, p->bias[i].text,
			    strlen(p->bias[i].text), 0, &n, NULL);
			if (ids != NULL && n > 0) {
				bias[n_bias].token = ids[0];
				bias[n_bias].bias = p->bias[i].bias;
				n_bias++;
			}
			free(ids);
		}
		sp.logit_bias = bias;
		sp.n_logit_bias = n_bias;
	}
	sampler = infer_sampler_new(&sp, infer_vocab_size(lb->model), cause);
	if (sampler == NULL)
		goto out;

	infer_detok_init(&dt, lb->model, 0);
	cap = infer_detok_max(lb->model);
	piece = xmalloc(cap + 1);
	res->finish = AGENT_FINISH_EOS;
	sched_enter(lb);
	for (;;) {
		if (agent_gen_stopped(p)) {
			res->finish = AGENT_FINISH_CANCELLED;
			break;
		}
		if (res->tokens >= max ||
		    infer_seq_len(ls->seq) >= infer_seq_ctx(ls->seq)) {
			res->finish = AGENT_FINISH_LENGTH;
			break;
		}
		tok = infer_sampler_sample(sampler, logits, &lp);
		if (tok < 0 || infer_token_is_eog(lb->model, tok)) {
			res->finish = AGENT_FINISH_EOS;
			break;
		}
		res->tokens++;
		res->logprob_sum += lp;
		if (first == 0)
			first = clock_mono_ns();
		if (sched_decode(lb, ls->seq, tok, cause) != 0) {
			sched_leave(lb);
			goto out;
		}
		logits = infer_seq_logits(ls->seq);
		npiece = infer_detok_push(&dt, tok, piece, cap, cause);
		if (npiece < 0) {
			sched_leave(lb);
			goto out;
		}
		pushed = agent_gen_text_push(
		    &g, piece, (size_t)npiece, AGENT_GEN_MAX_BYTES);
		/* A boundary: every byte of this token is out. */
		if (pushed == 0 && dt.n_pending == 0)
			local_bound_add(
			    ls, infer_seq_len(ls->seq), base + g.text.len);
		if (pushed == -1) {
			res->finish = AGENT_FINISH_LENGTH;
			break;
		}
		if (pushed == 1) {
			res->finish = AGENT_FINISH_STOP;
			break;
		}
	}
	sched_leave(lb);
	if (!g.stopped) {
		npiece = (int)infer_detok_flush(&dt, piece, cap);
		if (npiece > 0)
			agent_gen_text_push(
			    &g, piece, (size_t)npiece, AGENT_GEN_MAX_BYTES);
	}
	agent_gen_text_flush(&g);
	agent_gen_text_finish(&g, res);

	/*
	 * The session gains exactly the text returned: tokens past a stop
	 * go back to the last boundary, the rest of the bytes stay pending.
	 */
	buf_add(&ls->text, res->text, res->len);
	ls->fed = ls->text.len + 1; /* the sequence may hold more */
	if (local_rewind(s, ls->text.len, cause) != 0)
		goto out;
	end = clock_mono_ns();
	res->ttft_ns = first != 0 ? first - start : 0;
	if (res->tokens > 0 && end > first)
		res->tokens_per_s =
		    (double)res->tokens * 1e9 / (double)(end - first);
	rc = 0;
out:
	if (rc != 0) {
		agent_gen_text_free(&g);
		free(res->text);
		res->text = NULL;
	}
	free(piece);
	free(bias);
	infer_sampler_free(sampler);
	return rc;
}

static struct agent_session *
local_fork(struct agent_session *s, char **cause)
{
	struct local_session *ls = (struct local_session *)s, *copy;
	struct infer_seq *seq;

	if ((seq = infer_seq_fork(ls->seq, cause)) == NULL)
		return NULL;
	copy = xcalloc(1, sizeof *copy);
	agent_session_init(&copy->head, s->backend);
	copy->seq = seq;
	buf_init(&copy->text, SIZE_MAX);
	buf_add(&copy->text, ls->text.data, ls->text.len);
	copy->fed = ls->fed;
	copy->bounds = xreallocarray(NULL, ls->n_bounds, sizeof *copy->bounds);
	memcpy(copy->bounds, ls->bounds, ls->n_bounds * sizeof *copy->bounds);
	copy->n_bounds = ls->n_bounds;
	return &copy->head;
}

static uint64_t
local_mark(struct agent_session *s)
{
	return ((struct local_session *)s)->text.len;
}

static int
local_rewind(struct agent_session *s, uint64_t mark, char **cause)
{
	struct local_session *ls = (struct local_session *)s;
	size_t i;

	if (mark > ls->text.len) {
		xasprintf(cause, "mark %llu is past the session's end (%zu)",
		    (unsigned long long)mark, ls->text.len);
		return -1;
	}
	ls->text.len = (size_t)mark;
	if (ls->text.data != NULL)
		ls->text.data[ls->text.len] = '\0';
	if (ls->fed <= mark)
		return 0;
	/* The last boundary at or before the mark; the rest is pending. */
	for (i = ls->n_bounds; i > 0; i--) {
		if (ls->bounds[i - 1].bytes <= mark &&
		    ls->bounds[i - 1].tokens <= infer_seq_len(ls->seq))
			break;
	}
	AGENTD_ASSERT(i > 0); /* bounds[0] is {0, 0} */
	if (infer_seq_truncate(ls->seq, ls->bounds[i - 1].tokens, cause) != 0)
		return -1;
	ls->n_bounds = i;
	ls->fed = ls->bounds[i - 1].bytes;
	return 0;
}

static uint32_t
local_length(struct agent_session *s)
{
	struct local_session *ls = (struct local_session *)s;
	uint32_t n = infer_seq_len(ls->seq);

	/* Pending bytes count too: they will be fed before generating. */
	if (ls->text.len > ls->fed)
		n += local_count(s->backend, ls->text.data + ls->fed,
		    ls->text.len - ls->fed);
	return n;
}
