#!/usr/bin/python3
"""ref_forward.py: an independent numpy forward pass over a GGUF model.

    ref_forward.py MODEL.gguf (--tokens FILE | --random-tokens N [--seed S])
                   [--min-router-gap G] [--tokens-out FILE] [--out LOGITS]
                   [--out-sim LOGITS] [--simulate-activations] [--kv-f16]
                   [--rope-route hf] [--compare LOGITS [--max-rel R]]

Reads the model with scripts/gguf_io.py, dequantizes every weight with
scripts/quants.py and computes, in float64, the logits after each token of
the sequence, the way llama.cpp defines the model:

  x = token_embd[tokens]
  per layer:  h = rmsnorm(x) * attn_norm
              q, k, v = h Wq (+bq), h Wk (+bk), h Wv (+bv)
              qwen3*: q, k = rmsnorm per head * attn_{q,k}_norm
              q, k = rope(q, k)  (llama: adjacent pairs (2i, 2i+1);
                                  qwen2moe/qwen3*: NeoX pairs (i, i + n/2))
              x += softmax(q k^T / sqrt(head_dim) + causal mask) v Wo
              h = rmsnorm(x) * ffn_norm
              dense: x += (silu(h Wgate) * h Wup) Wdown
              MoE:   p = softmax(h Wrouter); top-k experts by p; weights
                     renormalised to sum 1 (llama, qwen3moe) or not
                     (qwen2moe); x += sum_k w_k expert_k(h)
              qwen2moe: x += sigmoid(h . w_shexp_gate) shared_expert(h)
  logits = (rmsnorm(x) * output_norm) Woutput  (token_embd when tied)

RoPE: theta_i = pos * freq_scale * base^(-2i / n_rot) / rope_freqs[i]
(freq_scale = 1 / rope.scaling.factor for linear scaling; rope_freqs only
when the file has that tensor).  GQA: query head h reads KV head
h / (n_head / n_head_kv).

The logits go to --out as raw little-endian float32 [n_tokens][n_vocab],
with a JSON description beside it (--out + ".json"); see README.md.
--min-router-gap replaces tokens until every MoE expert choice is clear
(decided_tokens below); --tokens-out writes the ids finally used.
--simulate-activations quantizes each matmul's input the way ggml's CPU
backend does (Q8_0 for Q4_0/Q5_0/Q8_0 weights, Q8_K for K-quants) and
--kv-f16 rounds the KV cache to F16: both only to measure how far an
engine that does so may legitimately drift (--out-sim writes the simulated
logits beside the plain ones; --compare prints the difference to another
logits file and --max-rel makes a larger one an error).  --rope-route hf computes llama
attention the Hugging Face way instead (q/k weights un-permuted back to the
original layout, NeoX rotation), which must give the same logits: a check
of the RoPE pairing itself.
"""

import argparse
import json
import os
import sys

# One BLAS thread: the matrices are small and the test machines share
# their cores.
for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "scripts"))

import gguf_io as gi  # noqa: E402
import quants  # noqa: E402


class RefError(Exception):
    """The model cannot be evaluated: names the file and what is wrong."""


# Architecture behaviour as data: RoPE pairing, q/k norm, MoE weight
# renormalisation, shared expert, whether the output head may be tied.
ARCH = {
    "llama": dict(rope="norm", qk_norm=False, norm_topk=True, shexp=False),
    "qwen3": dict(rope="neox", qk_norm=True, norm_topk=True, shexp=False),
    "qwen3moe": dict(rope="neox", qk_norm=True, norm_topk=True,
                     shexp=False),
    "qwen2moe": dict(rope="neox", qk_norm=False, norm_topk=False,
                     shexp=True),
}

# ggml's vec_dot_type: the type activations are quantized to per weight.
ACT_TYPE = {
    gi.GGML_Q4_0: gi.GGML_Q8_0, gi.GGML_Q5_0: gi.GGML_Q8_0,
    gi.GGML_Q8_0: gi.GGML_Q8_0, gi.GGML_Q4_K: gi.GGML_Q8_K,
    gi.GGML_Q5_K: gi.GGML_Q8_K, gi.GGML_Q6_K: gi.GGML_Q8_K,
}


class Model:
    """Hyperparameters and dequantized weights of a GGUF model."""

    def __init__(self, path):
        self.path = path
        self.name = os.path.basename(path)
        self.f = gi.read(path)
        f = self.f
        self.arch = f.require("general.architecture", (gi.T_STRING,))
        if self.arch not in ARCH:
            raise RefError("%s: architecture '%s' is not supported (%s)"
                           % (self.name, self.arch, ", ".join(ARCH)))
        self.spec = ARCH[self.arch]
        a = self.arch
        ints = (gi.T_UINT32, gi.T_INT32, gi.T_UINT64)

        def req(key):
            return f.require(a + "." + key, ints)

        def opt(key, default):
            v = f.kv.get(a + "." + key)
            return default if v is None else v.plain()

        self.n_embd = req("embedding_length")
        self.n_layer = req("block_count")
        self.n_head = req("attention.head_count")
        self.n_head_kv = opt("attention.head_count_kv", self.n_head)
        self.head_dim = opt("attention.key_length",
                            self.n_embd // self.n_head)
        self.head_dim_v = opt("attention.value_length", self.head_dim)
        if self.head_dim_v != self.head_dim:
            raise RefError("%s: key_length %d != value_length %d is not "
                           "supported" % (self.name, self.head_dim,
                                          self.head_dim_v))
        if self.n_head % self.n_head_kv != 0:
            raise RefError("%s: head_count %d is not a multiple of "
                           "head_count_kv %d" % (self.name, self.n_head,
                                                 self.n_head_kv))
        self.eps = f.require(a + ".attention.layer_norm_rms_epsilon",
                             (gi.T_FLOAT32, gi.T_FLOAT64))
        self.rope_base = opt("rope.freq_base", 10000.0)
        self.n_rot = opt("rope.dimension_count", self.head_dim)
        self.freq_scale = 1.0
        stype = opt("rope.scaling.type", "none")
        if stype == "linear":
            factor = opt("rope.scaling.factor", 1.0)
            if factor <= 0:
                raise RefError("%s: rope.scaling.factor %g" % (self.name,
                                                               factor))
            self.freq_scale = 1.0 / factor
        elif stype not in ("none", ""):
            raise RefError("%s: rope scaling '%s' is not supported"
                           % (self.name, stype))
        self.n_expert = opt("expert_count", 0)
        self.n_expert_used = opt("expert_used_count", 0)
        self.eps = float(self.eps)
        self.tokens = f.get("tokenizer.ggml.tokens")
        emb = f.tensor("token_embd.weight")
        if emb.ne[0] != self.n_embd:
            raise RefError("%s: token_embd.weight ne[0] %d != "
                           "embedding_length %d" % (self.name, emb.ne[0],
                                                    self.n_embd))
        self.n_vocab = emb.ne[1]
        self.tied = "output.weight" not in f.tensors
        self._cache = {}
        self.simulate = False
        self.quantized = any(t.type in ACT_TYPE
                             for t in f.tensors.values())

    def close(self):
        self._cache = {}
        self.f.close()

    def has(self, name):
        return name in self.f.tensors

    def w(self, name, ne=None):
        """The dequantized tensor (float64, numpy shape reversed(ne)),
        checked against the expected ne when given."""
        t = self.f.tensor(name)
        if ne is not None and tuple(t.ne) != tuple(ne):
            raise RefError("%s: tensor '%s' has ne %r, expected %r"
                           % (self.name, name, list(t.ne), list(ne)))
        if name not in self._cache:
            self._cache[name] = quants.dequantize(t.data, t.type, t.ne)
        return self._cache[name]

    def act(self, x, name):
        """x as the engine would feed it to a matmul with tensor name."""
        if not self.simulate:
            return x
        at = ACT_TYPE.get(self.f.tensor(name).type)
        if at is None:
            return x
        return quants.roundtrip(x.astype(np.float32), at)

    def matmul(self, x, name, ne=None):
        """x [T, ne[0]] times the weight's rows: [T, ne[1]]."""
        return self.act(x, name) @ self.w(name, ne).T


def rmsnorm(x, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps)


def silu(x):
    return x / (1.0 + np.exp(-x))


def softmax(x, axis=-1):
    m = np.max(x, axis=axis, keepdims=True)
    e = np.exp(x - m)
    return e / np.sum(e, axis=axis, keepdims=True)


def rope(x, pos, n_rot, base, freq_scale, factors, mode):
    """Rotates the first n_rot dims of x [T, H, D] by position.  mode
    'norm' pairs (2i, 2i+1), 'neox' pairs (i, i + n_rot/2)."""
    half = n_rot // 2
    i = np.arange(half, dtype=np.float64)
    inv = base ** (-2.0 * i / n_rot)
    if factors is not None:
        inv = inv / factors
    theta = (pos[:, None].astype(np.float64) * freq_scale) * inv[None, :]
    cos = np.cos(theta)[:, None, :]
    sin = np.sin(theta)[:, None, :]
    out = x.copy()
    if mode == "norm":
        a = x[:, :, 0:n_rot:2]
        b = x[:, :, 1:n_rot:2]
        out[:, :, 0:n_rot:2] = a * cos - b * sin
        out[:, :, 1:n_rot:2] = a * sin + b * cos
    else:
        a = x[:, :, 0:half]
        b = x[:, :, half:n_rot]
        out[:, :, 0:half] = a * cos - b * sin
        out[:, :, half:n_rot] = a * sin + b * cos
    return out


def unpermute_rows(w, n_head):
    """Undoes llama.cpp's convert-time q/k permutation on the rows of w:
    file row h*D + 2i + s comes from original row h*D + s*D/2 + i."""
    rows = w.shape[0]
    d = rows // n_head
    return w.reshape(n_head, d // 2, 2, *w.shape[1:]).swapaxes(1, 2) \
        .reshape(w.shape)


def ffn_swiglu(m, h, gate, up, down):
    """down(silu(h gate) * (h up)), names of the three weights."""
    g = m.matmul(h, gate)
    u = m.matmul(h, up)
    a = silu(g) * u
    return m.matmul(a, down)


def moe(m, h, p, stats):
    """Mixture of experts on h [T, E]."""
    E = m.n_embd
    X = m.n_expert
    K = m.n_expert_used
    if not 0 < K <= X:
        raise RefError("%s: expert_used_count %d, expert_count %d"
                       % (m.name, K, X))
    logits = m.matmul(h, p + "ffn_gate_inp.weight", (E, X))   # [T, X]
    probs = softmax(logits)
    order = np.argsort(-probs, axis=1, kind="stable")
    sel = order[:, :K]                                          # [T, K]
    srt = np.sort(logits, axis=1)[:, ::-1]
    if K < X:
        # How decided each top-k choice is: the router logit margin between
        # the last expert chosen and the first one left out, per token.
        gap = srt[:, K - 1] - srt[:, K]
        stats["router_gap"] = np.minimum(stats.get("router_gap", gap), gap)
    stats.setdefault("selected", []).append(sel)
    wsel = np.take_along_axis(probs, sel, axis=1)               # [T, K]
    if m.spec["norm_topk"]:
        wsel = wsel / np.sum(wsel, axis=1, keepdims=True)
    gate = m.w(p + "ffn_gate_exps.weight")                      # [X, F, E]
    up = m.w(p + "ffn_up_exps.weight")                          # [X, F, E]
    down = m.w(p + "ffn_down_exps.weight")                      # [X, E, F]
    F = gate.shape[1]
    for name, arr, shape in (("gate", gate, (X, F, E)), ("up", up, (X, F, E)),
                             ("down", down, (X, E, F))):
        if arr.shape != shape:
            raise RefError("%s: %sffn_%s_exps.weight has ne %r, expected %r"
                           % (m.name, p, name, list(reversed(arr.shape)),
                              list(reversed(shape))))
    out = np.zeros_like(h)
    hg = m.act(h, p + "ffn_gate_exps.weight")
    hu = m.act(h, p + "ffn_up_exps.weight")
    for e in range(X):
        rows, ks = np.nonzero(sel == e)             # tokens routed to e
        if rows.size == 0:
            continue
        a = silu(hg[rows] @ gate[e].T) * (hu[rows] @ up[e].T)   # [n, F]
        a = m.act(a, p + "ffn_down_exps.weight")
        out[rows] += wsel[rows, ks][:, None] * (a @ down[e].T)  # [n, E]
    if m.spec["shexp"]:
        gw = m.w(p + "ffn_gate_inp_shexp.weight", (E,))
        s = 1.0 / (1.0 + np.exp(-(h @ gw)))                     # [T]
        out += s[:, None] * ffn_swiglu(m, h, p + "ffn_gate_shexp.weight",
                                       p + "ffn_up_shexp.weight",
                                       p + "ffn_down_shexp.weight")
    return out


def forward(m, tokens, kv_f16=False, rope_route="ggml"):
    """Logits [T, n_vocab] (float64) after each token; stats dict."""
    T = len(tokens)
    E = m.n_embd
    H, HKV, D = m.n_head, m.n_head_kv, m.head_dim
    stats = {}
    tokens = np.asarray(tokens, dtype=np.int64)
    if T == 0 or tokens.min() < 0 or tokens.max() >= m.n_vocab:
        raise RefError("%s: token ids must be in [0, %d)" % (m.name,
                                                             m.n_vocab))
    pos = np.arange(T)
    factors = None
    if m.has("rope_freqs.weight"):
        factors = m.w("rope_freqs.weight", (m.n_rot // 2,))
    x = m.w("token_embd.weight", (E, m.n_vocab))[tokens].copy()  # [T, E]
    mask = np.triu(np.full((T, T), -np.inf), k=1)                # causal
    for il in range(m.n_layer):
        p = "blk.%d." % il
        # attention
        h = rmsnorm(x, m.eps) * m.w(p + "attn_norm.weight", (E,))
        hq = m.act(h, p + "attn_q.weight")
        wq = m.w(p + "attn_q.weight", (E, H * D))
        wk = m.w(p + "attn_k.weight", (E, HKV * D))
        wv = m.w(p + "attn_v.weight", (E, HKV * D))
        bq = m.w(p + "attn_q.bias", (H * D,)) if m.has(p + "attn_q.bias") \
            else None
        bk = m.w(p + "attn_k.bias", (HKV * D,)) \
            if m.has(p + "attn_k.bias") else None
        bv = m.w(p + "attn_v.bias", (HKV * D,)) \
            if m.has(p + "attn_v.bias") else None
        mode = m.spec["rope"]
        if rope_route == "hf" and mode == "norm":
            # Same attention through the original layout: un-permute the
            # q/k rows (and biases) and rotate NeoX-style.
            wq, wk = unpermute_rows(wq, H), unpermute_rows(wk, HKV)
            bq = None if bq is None else unpermute_rows(bq, H)
            bk = None if bk is None else unpermute_rows(bk, HKV)
            mode = "neox"
        q = hq @ wq.T + (0 if bq is None else bq)                # [T, H*D]
        k = m.act(h, p + "attn_k.weight") @ wk.T + (0 if bk is None else bk)
        v = m.act(h, p + "attn_v.weight") @ wv.T + (0 if bv is None else bv)
        q = q.reshape(T, H, D)
        k = k.reshape(T, HKV, D)
        v = v.reshape(T, HKV, D)
        if m.spec["qk_norm"]:
            q = rmsnorm(q, m.eps) * m.w(p + "attn_q_norm.weight", (D,))
            k = rmsnorm(k, m.eps) * m.w(p + "attn_k_norm.weight", (D,))
        q = rope(q, pos, m.n_rot, m.rope_base, m.freq_scale, factors, mode)
        k = rope(k, pos, m.n_rot, m.rope_base, m.freq_scale, factors, mode)
        if kv_f16:
            k = k.astype(np.float16).astype(np.float64)
            v = v.astype(np.float16).astype(np.float64)
        group = H // HKV
        att = np.zeros((T, H, D))
        for hh in range(H):
            kh = k[:, hh // group, :]                            # [T, D]
            vh = v[:, hh // group, :]
            s = (q[:, hh, :] @ kh.T) / np.sqrt(D) + mask          # [T, T]
            att[:, hh, :] = softmax(s) @ vh
        x = x + m.matmul(att.reshape(T, H * D), p + "attn_output.weight",
                         (H * D, E))
        # feed-forward
        h = rmsnorm(x, m.eps) * m.w(p + "ffn_norm.weight", (E,))
        if m.has(p + "ffn_gate_inp.weight"):
            x = x + moe(m, h, p, stats)
        else:
            x = x + ffn_swiglu(m, h, p + "ffn_gate.weight",
                               p + "ffn_up.weight", p + "ffn_down.weight")
    x = rmsnorm(x, m.eps) * m.w("output_norm.weight", (E,))
    head = "token_embd.weight" if m.tied else "output.weight"
    logits = m.matmul(x, head, (E, m.n_vocab))
    return logits, stats


def random_tokens(n, seed, n_vocab):
    raw = np.random.PCG64(seed).random_raw(n)
    return [int(r % np.uint64(n_vocab)) for r in raw]


def _undecided(m, tokens, min_gap, kv_f16, rope_route, want_sim=True):
    """Runs the model on tokens, plainly and, when some weight is
    quantized, with activations quantized as ggml does.  Returns (plain
    logits, simulated logits, stats, bad) where bad[t] says that some MoE
    top-k choice at position t wins by less than min_gap router logits in
    either run, or that the two runs choose different experts."""
    m.simulate = False
    logits, stats = forward(m, tokens, kv_f16, rope_route)
    sim, sim_stats = logits, stats
    if m.quantized and (want_sim or min_gap > 0):
        m.simulate = True
        sim, sim_stats = forward(m, tokens, kv_f16, rope_route)
        m.simulate = False
    bad = np.zeros(len(tokens), dtype=bool)
    if "router_gap" in stats and min_gap > 0:
        bad |= stats["router_gap"] < min_gap
        bad |= sim_stats["router_gap"] < min_gap
        for a, b in zip(stats["selected"], sim_stats["selected"]):
            bad |= np.any(np.sort(a, axis=1) != np.sort(b, axis=1), axis=1)
    return logits, sim, stats, bad


def decided_tokens(m, tokens, seed, min_gap, kv_f16, rope_route,
                   want_sim=True):
    """Repairs tokens so that every MoE top-k choice at every position is
    decided: the router logit margin between the last expert chosen and
    the first one left out is at least min_gap, both in the plain float64
    run and in the run with activations quantized as ggml does, and both
    runs choose the same experts.  An engine then routes as this reference
    does, and the comparison measures arithmetic rather than a coin toss
    between two nearly equal experts.  The first undecided position takes
    candidate tokens (a PCG64 stream from seed) until it is decided, judged
    on the prefix up to it; earlier positions keep their routing because
    the model is causal, so the repair moves left to right.  Returns
    (tokens, plain logits, simulated logits, stats, number of tokens
    replaced)."""
    tokens = list(tokens)
    spare = random_tokens(64 * len(tokens) + 64, seed + 1000003, m.n_vocab)
    used = 0
    while True:
        logits, sim, stats, bad = _undecided(m, tokens, min_gap, kv_f16,
                                             rope_route, want_sim)
        where = np.nonzero(bad)[0]
        if where.size == 0:
            return tokens, logits, sim, stats, used
        t = int(where[0])
        while True:
            if used >= len(spare):
                raise RefError("%s: cannot find tokens whose expert choices"
                               " win by %g router logits" % (m.name,
                                                             min_gap))
            tokens[t] = spare[used]
            used += 1
            _, _, _, pbad = _undecided(m, tokens[:t + 1], min_gap, kv_f16,
                                       rope_route)
            if not pbad[t]:
                break


def read_tokens(path):
    with open(path, encoding="ascii") as f:
        words = f.read().split()
    try:
        toks = [int(w) for w in words]
    except ValueError as e:
        raise RefError("%s: not a list of token ids: %s" % (path, e)) from e
    if not toks:
        raise RefError("%s: no token ids" % path)
    return toks


def write_outputs(path, m, tokens, logits, stats, simulate, kv_f16):
    logits32 = logits.astype("<f4")
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(logits32.tobytes())
    os.replace(tmp, path)
    srt = np.sort(logits, axis=1)
    desc = {
        "format": "agentd-ref-logits-v1",
        "model": m.name,
        "arch": m.arch,
        "n_tokens": len(tokens),
        "n_vocab": m.n_vocab,
        "tokens": [int(t) for t in tokens],
        "max_abs_logit": float(np.max(np.abs(logits))),
        "argmax": [int(i) for i in np.argmax(logits, axis=1)],
        "top1_top2_margin": [float(v) for v in srt[:, -1] - srt[:, -2]],
        "compute": "float64 on dequantized weights",
    }
    if simulate or kv_f16:
        desc["compute"] += "".join([
            ", activations quantized as ggml does" if simulate else "",
            ", KV cache in F16" if kv_f16 else ""])
    if "router_gap" in stats:
        desc["router_min_gap"] = float(np.min(stats["router_gap"]))
    with open(path + ".json", "w") as f:
        json.dump(desc, f, indent=1)
        f.write("\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model")
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--tokens", help="file of token ids")
    src.add_argument("--random-tokens", type=int, metavar="N",
                     help="N pseudo-random token ids from --seed")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--min-router-gap", type=float, default=0.0,
                    help="replace tokens until every top-k choice of every "
                         "MoE layer wins by at least this router logit "
                         "margin (see decided_tokens)")
    ap.add_argument("--out", help="logits file to write")
    ap.add_argument("--out-sim", metavar="LOGITS",
                    help="also write the logits computed with activations "
                         "quantized as ggml does")
    ap.add_argument("--tokens-out", help="write the token ids used here")
    ap.add_argument("--simulate-activations", action="store_true")
    ap.add_argument("--kv-f16", action="store_true")
    ap.add_argument("--rope-route", choices=["ggml", "hf"], default="ggml")
    ap.add_argument("--compare", metavar="LOGITS",
                    help="print the max abs difference to another logits "
                         "file, relative to this run's max |logit|")
    ap.add_argument("--max-rel", type=float,
                    help="with --compare: fail (exit 1) above this")
    args = ap.parse_args()

    try:
        m = Model(args.model)
    except (gi.GGUFError, RefError, OSError) as e:
        print("ref_forward: %s" % e, file=sys.stderr)
        return 1
    try:
        if args.tokens:
            tokens = read_tokens(args.tokens)
        else:
            tokens = random_tokens(args.random_tokens, args.seed, m.n_vocab)
        tokens, logits, sim, stats, replaced = decided_tokens(
            m, tokens, args.seed, args.min_router_gap, args.kv_f16,
            args.rope_route,
            want_sim=bool(args.out_sim or args.simulate_activations))
        if args.simulate_activations:
            logits = sim
        if args.tokens_out:
            with open(args.tokens_out, "w") as f:
                f.write(" ".join(str(t) for t in tokens) + "\n")
        if args.out:
            write_outputs(args.out, m, tokens, logits, stats,
                          args.simulate_activations, args.kv_f16)
        if args.out_sim:
            write_outputs(args.out_sim, m, tokens, sim, stats, True,
                          args.kv_f16)
        scale = float(np.max(np.abs(logits)))
        line = "%s: %d tokens, n_vocab %d, max|logit| %.4f" % (
            m.name, len(tokens), m.n_vocab, scale)
        if "router_gap" in stats:
            line += ", router gap %.4f" % float(np.min(stats["router_gap"]))
        if replaced:
            line += ", %d tokens replaced" % replaced
        if args.compare:
            other = np.fromfile(args.compare, dtype="<f4")
            if other.size != logits.size:
                raise RefError("%s: %d values, expected %d" % (
                    args.compare, other.size, logits.size))
            diff = np.max(np.abs(other.reshape(logits.shape) - logits))
            line += ", diff %.3g (rel %.3g)" % (diff, diff / scale)
            if args.max_rel is not None and not diff <= args.max_rel * scale:
                print(line)
                raise RefError("%s differs from this run by %.3g x max|logit|"
                               ", more than %g" % (args.compare, diff / scale,
                                                   args.max_rel))
        print(line)
    except (gi.GGUFError, RefError, quants.QuantError, OSError) as e:
        print("ref_forward: %s" % e, file=sys.stderr)
        return 1
    finally:
        m.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
