/*
 * rpc-model-generate.c: model.generate, one completion from the daemon's
 * model, on a worker, in a fresh session of its own (no tools, no
 * transcript).  Params (all but one of prompt and messages optional):
 *
 *   "prompt"          text the model continues, or
 *   "messages"        [{"role": "system"|"user"|"assistant", "content"}],
 *                     rendered with the model's chat template, ending
 *                     where the assistant's turn begins
 *   "max_tokens"      1..1000000, default 256
 *   "stop"            up to 16 non-empty strings; generation ends before
 *                     the first of them, which the text then lacks
 *   "temperature"     0..10 (0, the default: greedy), "top_k" 0..1000000,
 *                     "top_p" and "min_p" 0..1, "repeat_penalty" 0..10
 *                     (0: off), "seed" a non-negative integer
 *   "logprobs"        true: the result carries "logprob_sum"
 *   "timeout_ms"      1..86400000, default 120000
 *   "stream"          true: each token's text is sent first as an
 *                     agent.event notification {"run_id": null,
 *                     "request_id", "seq", "branch": 0, "type": "token",
 *                     "text"}, after one of type "start" {"model"}
 *
 * Result: {"model", "text", "finish_reason" ("stop", "length", "eos",
 * "cancelled"), "stop_index" (which stop string, or -1), "usage"
 * {prompt_tokens_computed, prompt_tokens_reused, completion_tokens},
 * "ttft_ms", "tokens_per_s", "logprob_sum" (with "logprobs")}.  A
 * timeout ends the text early with finish_reason "cancelled", not an
 * error.  Errors: -32003 when there is no model; -32002 when max_runs
 * generations are in flight already (runs are counted apart); -32602 for
 * a prompt that does not fit the model's context or messages the
 * template refuses; -32005 when the client went away (nobody receives
 * it).
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "agent/agent.h"
#include "agent/backend.h"
#include "daemon/daemon-int.h"
#include "daemon/protocol.h"
#include "daemon/runtime.h"
#include "daemon/util.h"

#define GEN_DEFAULT_MAX_TOKENS 256
#define GEN_MAX_TOKENS         1000000
#define GEN_DEFAULT_TIMEOUT_MS 120000
#define GEN_MAX_TIMEOUT_MS     86400000
#define GEN_MAX_STOP           16
#define GEN_MAX_STOP_LEN       256
#define GEN_MAX_MESSAGES       256

/* One generation, from the loop to a worker and back. */
struct gen_job {
	struct dmn_request *req;
	struct dmn_agent *agent; /* holds one generation slot */
	struct agent_backend *backend;
	int stream;
	uint64_t seq;
	atomic_int cancel;
	const char *stop[GEN_MAX_STOP];
	size_t n_stop;
	struct agent_gen_params params;
};

static int model_generate_check(const json_t *, char **);
static int model_generate_exec(struct dmn_request *, char **);
static int check_number(
    const char *, const json_t *, double, double, int, char **);
static int check_stop(const json_t *, char **);
static int check_messages(const json_t *, char **);
static void gen_work(void *);
static void gen_on_token(void *, const char *, size_t);
static void gen_notify(struct gen_job *, const char *, json_t *);
static char *gen_prompt(struct gen_job *, char **);
static void gen_job_free(struct gen_job *);

const struct dmn_method dmn_method_model_generate = {
	.name = "model.generate",
	.description = "Generates a completion of a prompt or chat messages; "
	               "streams tokens with \"stream\": true.",
	.flags = 0,
	.check = model_generate_check,
	.exec = model_generate_exec,
};

/*
 * Checks that v is a number in [lo, hi] (an integer when integer is
 * set), naming key in *cause otherwise.
 */
static int
check_number(const char *key, const json_t *v, double lo, double hi,
    int integer, char **cause)
{
	double d;

	if (integer ? !json_is_integer(v) : !json_is_number(v)) {
		xasprintf(cause, "\"%s\" must be %s from %g to %g", key,
		    integer ? "an integer" : "a number", lo, hi);
		return -1;
	}
	d = json_number_value(v);
	if (d < lo || d > hi) {
		xasprintf(cause, "\"%s\" must be from %g to %g", key, lo, hi);
		return -1;
	}
	return 0;
}

static int
check_stop(const json_t *v, char **cause)
{
	size_t i, len;
	json_t *s;

	if (!json_is_array(v) || json_array_size(v) > GEN_MAX_STOP) {
		xasprintf(cause,
		    "\"stop\" must be an array of at most %d "
		    "strings",
		    GEN_MAX_STOP);
		return -1;
	}
	json_array_foreach(v, i, s)
	{
		len = json_is_string(s) ? json_string_length(s) : 0;
		if (len == 0 || len > GEN_MAX_STOP_LEN ||
		    memchr(json_string_value(s), '\0', len) != NULL) {
			xasprintf(cause,
			    "\"stop\"[%zu] must be a string of 1 to %d bytes "
			    "without NUL",
			    i, GEN_MAX_STOP_LEN);
			return -1;
		}
	}
	return 0;
}

static int
check_messages(const json_t *v, char **cause)
{
	const char *role;
	json_t *m, *content;
	size_t i;

	if (!json_is_array(v) || json_array_size(v) == 0 ||
	    json_array_size(v) > GEN_MAX_MESSAGES) {
		xasprintf(cause,
		    "\"messages\" must be an array of 1 to %d messages",
		    GEN_MAX_MESSAGES);
		return -1;
	}
	json_array_foreach(v, i, m)
	{
		role = json_string_value(json_object_get(m, "role"));
		content = json_object_get(m, "content");
		if (!json_is_object(m) || json_object_size(m) != 2 ||
		    role == NULL || !json_is_string(content)) {
			xasprintf(cause,
			    "\"messages\"[%zu] must be {\"role\", \"content\"} "
			    "with two strings",
			    i);
			return -1;
		}
		if (strcmp(role, "system") != 0 && strcmp(role, "user") != 0 &&
		    strcmp(role, "assistant") != 0) {
			xasprintf(cause,
			    "\"messages\"[%zu].role must be \"system\", "
			    "\"user\" or \"assistant\"",
			    i);
			return -1;
		}
		if (memchr(json_string_value(content), '\0',
		        json_string_length(content)) != NULL) {
			xasprintf(
			    cause, "\"messages\"[%zu].content holds a NUL", i);
			return -1;
		}
	}
	return 0;
}

static int
model_generate_check(const json_t *params, char **cause)
{
	const char *key;
	json_t *v, *p = (json_t *)(uintptr_t)params;
	int rc;

	if (!json_is_object(params)) {
		xasprintf(cause,
		    "params must be an object with \"prompt\" or \"messages\"");
		return -1;
	}
	json_object_foreach(p, key, v)
	{
		if (strcmp(key, "prompt") == 0) {
			rc = 0;
			if (!json_is_string(v) ||
			    memchr(json_string_value(v), '\0',
			        json_string_length(v)) != NULL) {
				xasprintf(cause,
				    "\"prompt\" must be a string "
				    "without NUL");
				rc = -1;
			}
		} else if (strcmp(key, "messages") == 0)
			rc = check_messages(v, cause);
		else if (strcmp(key, "max_tokens") == 0)
			rc = check_number(key, v, 1, GEN_MAX_TOKENS, 1, cause);
		else if (strcmp(key, "timeout_ms") == 0)
			rc = check_number(
			    key, v, 1, GEN_MAX_TIMEOUT_MS, 1, cause);
		else if (strcmp(key, "temperature") == 0 ||
		    strcmp(key, "repeat_penalty") == 0)
			rc = check_number(key, v, 0, 10, 0, cause);
		else if (strcmp(key, "top_p") == 0 || strcmp(key, "min_p") == 0)
			rc = check_number(key, v, 0, 1, 0, cause);
		else if (strcmp(key, "top_k") == 0)
			rc = check_number(key, v, 0, 1000000, 1, cause);
		else if (strcmp(key, "seed") == 0)
			rc = check_number(
			    key, v, 0, 9007199254740991.0, 1, cause);
		else if (strcmp(key, "stop") == 0)
			rc = check_stop(v, cause);
		else if (strcmp(key, "logprobs") == 0 ||
		    strcmp(key, "stream") == 0) {
			rc = 0;
			if (!json_is_boolean(v)) {
				xasprintf(
				    cause, "\"%s\" must be true or false", key);
				rc = -1;
			}
		} else {
			xasprintf(cause, "unknown member \"%s\"", key);
			rc = -1;
		}
		if (rc != 0)
			return -1;
	}
	if ((json_object_get(params, "prompt") == NULL) ==
	    (json_object_get(params, "messages") == NULL)) {
		xasprintf(cause,
		    "give exactly one of \"prompt\" and "
		    "\"messages\"");
		return -1;
	}
	return 0;
}

static int
model_generate_exec(struct dmn_request *req, char **cause)
{
	struct dmn_agent *a;
	struct gen_job *job;
	json_t *params = dmn_request_params(req), *v;
	char *why = NULL;
	size_t i;

	if ((a = dmn_agent_of(req)) == NULL)
		return 0;
	if (dmn_agent_generate_begin(
	        a, dmn_request_ctx(req)->config->max_runs, &why) != 0) {
		dmn_agent_error(req, AGENT_ERR_OVERLOADED, why, NULL);
		free(why);
		return 0;
	}
	job = xcalloc(1, sizeof *job);
	job->req = req;
	job->agent = a;
	atomic_init(&job->cancel, 0);
	job->backend = agent_runtime_backend(dmn_agent_runtime(a), &why);
	if (job->backend == NULL) {
		dmn_agent_error(req, AGENT_ERR_MODEL, why, NULL);
		free(why);
		gen_job_free(job);
		return 0;
	}
	job->stream = json_is_true(json_object_get(params, "stream"));

	/* Borrowed from params, which live as long as the request. */
	json_array_foreach(json_object_get(params, "stop"), i, v)
	    job->stop[job->n_stop++] = json_string_value(v);
	job->params.stop = job->stop;
	job->params.n_stop = job->n_stop;
	v = json_object_get(params, "max_tokens");
	job->params.max_tokens = v != NULL ? (uint32_t)json_integer_value(v)
	                                   : GEN_DEFAULT_MAX_TOKENS;
	job->params.temperature =
	    json_number_value(json_object_get(params, "temperature"));
	job->params.top_k =
	    (uint32_t)json_integer_value(json_object_get(params, "top_k"));
	job->params.top_p = json_number_value(json_object_get(params, "top_p"));
	job->params.min_p = json_number_value(json_object_get(params, "min_p"));
	job->params.repeat_penalty =
	    json_number_value(json_object_get(params, "repeat_penalty"));
	job->params.seed =
	    (uint64_t)json_integer_value(json_object_get(params, "seed"));
	job->params.logprobs =
	    json_is_true(json_object_get(params, "logprobs"));
	v = json_object_get(params, "timeout_ms");
	job->params.deadline_ns = clock_mono_ns() +
	    (v != NULL ? (uint64_t)json_integer_value(v)
	               : GEN_DEFAULT_TIMEOUT_MS) *
	        1000000;
	job->params.cancel = &job->cancel;
	job->params.on_token = gen_on_token;
	job->params.arg = job;

	if (dmn_pool_submit(
	        dmn_request_pool(req), gen_work, NULL, job, cause) != 0) {
		gen_job_free(job);
		return -1;
	}
	return 0;
}

static void
gen_job_free(struct gen_job *job)
{
	dmn_agent_generate_end(job->agent);
	agent_backend_unref(job->backend);
	free(job);
}

/* Sends one agent.event notification of the job's stream. */
static void
gen_notify(struct gen_job *job, const char *type, json_t *fields)
{
	const json_t *id = dmn_request_id(job->req);

	json_object_update_new(fields,
	    json_pack("{s:n, s:O?, s:I, s:i, s:s}", "run_id", "request_id", id,
	        "seq", (json_int_t)job->seq++, "branch", 0, "type", type));
	dmn_request_notify(job->req, "agent.event", fields);
}

/* On the worker, per token: streams it and notices a client gone. */
static void
gen_on_token(void *arg, const char *text, size_t len)
{
	struct gen_job *job = arg;

	if (dmn_request_cancelled(job->req)) {
		atomic_store(&job->cancel, 1);
		return;
	}
	if (job->stream && len != 0)
		gen_notify(
		    job, "token", json_pack("{s:s%}", "text", text, len));
}

/*
 * The text the session starts from: the prompt, or the messages through
 * the chat template.  Returns a new string, or NULL with *cause.
 */
static char *
gen_prompt(struct gen_job *job, char **cause)
{
	json_t *params = dmn_request_params(job->req), *msgs, *m;
	struct agent_chat_msg *v;
	char *text;
	size_t i, n;

	if ((m = json_object_get(params, "prompt")) != NULL)
		return xstrdup(json_string_value(m));
	msgs = json_object_get(params, "messages");
	n = json_array_size(msgs);
	v = xcalloc(n, sizeof *v);
	json_array_foreach(msgs, i, m)
	{
		v[i].role = json_string_value(json_object_get(m, "role"));
		v[i].content = json_string_value(json_object_get(m, "content"));
	}
	text = agent_backend_chat_render(job->backend, v, n, 1, cause);
	free(v);
	return text;
}

/* On a worker: the generation, then the answer. */
static void
gen_work(void *arg)
{
	struct gen_job *job = arg;
	struct agent_append_result app;
	struct agent_gen_result res;
	struct agent_session *s = NULL;
	char *prompt = NULL, *why = NULL;
	json_t *out;

	memset(&app, 0, sizeof app);
	memset(&res, 0, sizeof res);
	if (dmn_request_cancelled(job->req)) {
		dmn_request_error(job->req, DMN_ERR_CANCELLED, NULL,
		    json_pack("{s:s}", "detail", "the client went away"));
		goto out;
	}
	if (job->stream)
		gen_notify(job, "start",
		    json_pack(
		        "{s:s}", "model", agent_backend_name(job->backend)));
	if ((prompt = gen_prompt(job, &why)) == NULL) {
		dmn_agent_error(job->req, AGENT_ERR_PARAMS, why, NULL);
		goto out;
	}
	if ((s = agent_session_new(job->backend, &why)) == NULL) {
		dmn_agent_error(job->req, AGENT_ERR_MODEL, why, NULL);
		goto out;
	}
	if (agent_session_append(s, prompt, strlen(prompt), &app, &why) != 0) {
		dmn_agent_error(job->req, AGENT_ERR_PARAMS, why,
		    json_pack("{s:I}", "n_ctx",
		        (json_int_t)agent_backend_n_ctx(job->backend)));
		goto out;
	}
	if (agent_session_generate(s, &job->params, &res, &why) != 0) {
		dmn_agent_error(job->req, AGENT_ERR_MODEL, why, NULL);
		goto out;
	}
	out = json_pack("{s:s, s:s%, s:s, s:i, s:{s:I, s:I, s:I}, s:f, s:f}",
	    "model", agent_backend_name(job->backend), "text", res.text,
	    res.len, "finish_reason", agent_finish_name(res.finish),
	    "stop_index", res.stop_index, "usage", "prompt_tokens_computed",
	    (json_int_t)app.computed + res.prompt_computed,
	    "prompt_tokens_reused", (json_int_t)app.reused + res.prompt_reused,
	    "completion_tokens", (json_int_t)res.tokens, "ttft_ms",
	    (double)res.ttft_ns / 1e6, "tokens_per_s", res.tokens_per_s);
	if (out == NULL) {
		/* Only text that is not UTF-8 gets here: a backend's bug. */
		dmn_agent_error(job->req, AGENT_ERR_INTERNAL,
		    "the model's text is not valid UTF-8", NULL);
		goto out;
	}
	if (job->params.logprobs)
		json_object_set_new(
		    out, "logprob_sum", json_real(res.logprob_sum));
	dmn_request_reply(job->req, out);

out:
	free(why);
	free(prompt);
	agent_gen_result_clear(&res);
	agent_session_free(s);
	gen_job_free(job);
}
