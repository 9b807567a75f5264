"""The bundled model in PyTorch: a decoder-only llama-architecture
transformer whose FFN layers are mixtures of experts (Mixtral's layout).

    x = tok_embeddings[ids]
    per layer:
        h = rmsnorm(x) * attn_norm
        q, k, v = h Wq, h Wk, h Wv            (GQA: n_kv_head <= n_head)
        q, k = rope(q), rope(k)               (Hugging Face pairing:
                                               (i, i + d/2); the GGUF
                                               export permutes Wq and Wk
                                               to llama.cpp's adjacent
                                               pairs, as its converter does)
        x = x + softmax(q k^T / sqrt(d) + causal) v Wo
        h = rmsnorm(x) * ffn_norm
        p = softmax(h Wrouter)                [n_expert]
        top-2 experts by p, weights renormalised to sum 1
        x = x + sum_k w_k (silu(h Wgate_k) * h Wup_k) Wdown_k
    logits = (rmsnorm(x) * norm) Woutput

The load-balancing loss is Switch Transformer's: n_expert * sum_e f_e P_e,
with f_e the share of top-k choices that went to expert e and P_e the mean
router probability of e, over the real (not padding) tokens.
"""

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class Config:
    n_vocab: int = 1024
    n_embd: int = 160
    n_layer: int = 4
    n_head: int = 5
    n_kv_head: int = 1
    n_expert: int = 4
    n_expert_used: int = 2
    n_ff: int = 320
    n_ctx: int = 1024
    rope_theta: float = 10000.0
    norm_eps: float = 1e-5

    @property
    def head_dim(self):
        return self.n_embd // self.n_head

    def to_dict(self):
        return asdict(self)


class RMSNorm(nn.Module):
    def __init__(self, n, eps):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(n))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) \
            * self.weight


def rope_tables(cfg, n, device=None):
    """cos and sin [n, head_dim] for positions 0..n-1 (HF layout)."""
    d = cfg.head_dim
    inv = 1.0 / (cfg.rope_theta ** (torch.arange(0, d, 2,
                                                 dtype=torch.float64) / d))
    pos = torch.arange(n, dtype=torch.float64)
    ang = torch.outer(pos, inv)
    emb = torch.cat([ang, ang], dim=-1)
    return emb.cos().float(), emb.sin().float()


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat([-x[..., h:], x[..., :h]], dim=-1)


class Attention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        hd = cfg.head_dim
        self.wq = nn.Linear(cfg.n_embd, cfg.n_head * hd, bias=False)
        self.wk = nn.Linear(cfg.n_embd, cfg.n_kv_head * hd, bias=False)
        self.wv = nn.Linear(cfg.n_embd, cfg.n_kv_head * hd, bias=False)
        self.wo = nn.Linear(cfg.n_head * hd, cfg.n_embd, bias=False)

    def _qkv(self, x, cos, sin):
        B, T, _ = x.shape
        cfg = self.cfg
        hd = cfg.head_dim
        q = self.wq(x).view(B, T, cfg.n_head, hd).transpose(1, 2)
        k = self.wk(x).view(B, T, cfg.n_kv_head, hd).transpose(1, 2)
        v = self.wv(x).view(B, T, cfg.n_kv_head, hd).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        return q, k, v

    def _attend(self, q, k, v, mask):
        cfg = self.cfg
        B, _, T, hd = q.shape
        rep = cfg.n_head // cfg.n_kv_head
        if rep > 1:
            k = k.repeat_interleave(rep, dim=1)
            v = v.repeat_interleave(rep, dim=1)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hd))
        att = att.masked_fill(mask, float("-inf"))
        att = F.softmax(att, dim=-1)
        y = (att @ v).transpose(1, 2).reshape(B, T, cfg.n_head * hd)
        return self.wo(y)

    def forward(self, x, rope, mask, xp=None, prope=None, pmask=None):
        """x [B, T, d]; xp [1, P, d]: a prefix every row of x follows
        (its keys and values are computed once and shared).  Returns the
        outputs for x (and for xp when given)."""
        q, k, v = self._qkv(x, *rope)
        if xp is None:
            return self._attend(q, k, v, mask), None
        qp, kp, vp = self._qkv(xp, *prope)
        yp = self._attend(qp, kp, vp, pmask)
        B = x.shape[0]
        k = torch.cat([kp.expand(B, -1, -1, -1), k], dim=2)
        v = torch.cat([vp.expand(B, -1, -1, -1), v], dim=2)
        return self._attend(q, k, v, mask), yp


class MoE(nn.Module):
    """Top-k of n SwiGLU experts.  Expert weights are stacked
    [n_expert, out, in], as GGUF's ffn_*_exps tensors hold them."""

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        E, d, f = cfg.n_expert, cfg.n_embd, cfg.n_ff
        self.router = nn.Linear(d, E, bias=False)
        self.w_gate = nn.Parameter(torch.empty(E, f, d))
        self.w_up = nn.Parameter(torch.empty(E, f, d))
        self.w_down = nn.Parameter(torch.empty(E, d, f))
        for w, fan_in in ((self.w_gate, d), (self.w_up, d),
                          (self.w_down, f)):
            nn.init.normal_(w, std=1.0 / math.sqrt(fan_in))

    def forward(self, x, valid):
        """x [N, d], valid [N] bool; returns (y [N, d], aux loss)."""
        cfg = self.cfg
        probs = F.softmax(self.router(x), dim=-1)            # [N, E]
        topw, topi = probs.topk(cfg.n_expert_used, dim=-1)   # [N, k]
        topw = topw / topw.sum(-1, keepdim=True)
        y = torch.zeros_like(x)
        for e in range(cfg.n_expert):
            tok, slot = (topi == e).nonzero(as_tuple=True)
            if tok.numel() == 0:
                continue
            xe = x.index_select(0, tok)
            h = F.silu(xe @ self.w_gate[e].t()) * (xe @ self.w_up[e].t())
            out = h @ self.w_down[e].t()
            y.index_add_(0, tok, out * topw[tok, slot].unsqueeze(-1))
        # Switch load balancing over real tokens.
        vm = valid.float().unsqueeze(-1)
        n = vm.sum().clamp(min=1)
        onehot = F.one_hot(topi, cfg.n_expert).float().sum(1)  # [N, E]
        f = (onehot * vm).sum(0) / (n * cfg.n_expert_used)
        p = (probs * vm).sum(0) / n
        aux = cfg.n_expert * (f * p).sum()
        return y, aux


class Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.attn_norm = RMSNorm(cfg.n_embd, cfg.norm_eps)
        self.attn = Attention(cfg)
        self.ffn_norm = RMSNorm(cfg.n_embd, cfg.norm_eps)
        self.moe = MoE(cfg)

    def forward(self, x, rope, mask, valid, xp=None, prope=None,
                pmask=None):
        a, ap = self.attn(self.attn_norm(x), rope, mask,
                          None if xp is None else self.attn_norm(xp),
                          prope, pmask)
        x = x + a
        B, T, d = x.shape
        h = self.ffn_norm(x).reshape(B * T, d)
        vm = valid.reshape(B * T)
        if xp is not None:
            xp = xp + ap
            P = xp.shape[1]
            h = torch.cat([self.ffn_norm(xp).reshape(P, d), h])
            vm = torch.cat([torch.ones(P, dtype=torch.bool,
                                       device=vm.device), vm])
        y, aux = self.moe(h, vm)
        if xp is not None:
            xp = xp + y[:P].view(1, P, d)
            y = y[P:]
        return x + y.view(B, T, d), xp, aux


class Model(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.tok_embeddings = nn.Embedding(cfg.n_vocab, cfg.n_embd)
        nn.init.normal_(self.tok_embeddings.weight, std=0.02)
        self.layers = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.norm = RMSNorm(cfg.n_embd, cfg.norm_eps)
        self.output = nn.Linear(cfg.n_embd, cfg.n_vocab, bias=False)
        nn.init.normal_(self.output.weight, std=0.02)
        # Residual projections start small (GPT-2's scaled init).
        for blk in self.layers:
            nn.init.normal_(blk.attn.wo.weight,
                            std=0.02 / math.sqrt(2 * cfg.n_layer))
            nn.init.normal_(blk.moe.w_down,
                            std=0.02 / math.sqrt(2 * cfg.n_layer))
        cos, sin = rope_tables(cfg, cfg.n_ctx)
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)

    def forward(self, ids, lengths=None, prefix=None):
        """ids [B, T]; lengths [B] (None: all T); prefix [P]: tokens that
        come before every row (computed once, shared by the rows).
        Returns (logits [B, T, V] for ids, mean aux loss)."""
        B, T = ids.shape
        P = 0 if prefix is None else prefix.shape[0]
        if P + T > self.cfg.n_ctx:
            raise ValueError("sequence of %d tokens exceeds the context "
                             "of %d" % (P + T, self.cfg.n_ctx))
        dev = ids.device
        pos = torch.arange(T, device=dev)
        if lengths is None:
            valid = torch.ones(B, T, dtype=torch.bool, device=dev)
        else:
            valid = pos.unsqueeze(0) < lengths.unsqueeze(1)
        # Causal masks (True = hidden); padding only ever follows real
        # tokens, so it never leaks into them.
        mask = pos.unsqueeze(0) > pos.unsqueeze(1)                # [T, T]
        rope = (self.cos[P:P + T], self.sin[P:P + T])
        xp = prope = pmask = None
        if P:
            pp = torch.arange(P, device=dev)
            pmask = pp.unsqueeze(0) > pp.unsqueeze(1)             # [P, P]
            mask = torch.cat([torch.zeros(T, P, dtype=torch.bool,
                                          device=dev), mask], dim=1)
            prope = (self.cos[:P], self.sin[:P])
            xp = self.tok_embeddings(prefix).unsqueeze(0)
        x = self.tok_embeddings(ids)
        aux = 0.0
        for blk in self.layers:
            x, xp, a = blk(x, rope, mask, valid, xp, prope, pmask)
            aux = aux + a
        return self.output(self.norm(x)), aux / len(self.layers)

    def n_params(self):
        return sum(p.numel() for p in self.parameters())
