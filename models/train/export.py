#!/usr/bin/python3
"""export.py: writes the trained model as a GGUF file (F32), the way
llama.cpp's convert_hf_to_gguf.py writes a Mixtral-style llama model.

    export.py --model model.pt --tokenizer tokenizer.json --out FILE.gguf
              [--name NAME]

Metadata: general.*, llama.* hyperparameters (context_length,
embedding_length, block_count, feed_forward_length (each expert's width),
attention.head_count(_kv), rope.freq_base, rope.dimension_count,
attention.layer_norm_rms_epsilon, expert_count, expert_used_count,
vocab_size) and the tokenizer as tokenizer.ggml.* (model "gpt2", pre
"gpt-2", tokens, token_type, merges, bos/eos ids, add_bos_token).

Tensors, named and shaped as llama.cpp expects (ne[0] is the row):
token_embd, output_norm, output; per layer blk.N.attn_norm, attn_q,
attn_k, attn_v, attn_output, ffn_norm, ffn_gate_inp (the router),
ffn_gate_exps, ffn_up_exps, ffn_down_exps (experts stacked on the last
dimension).  attn_q and attn_k are permuted from the Hugging Face RoPE
layout the model trains in (pairs (i, i + d/2)) to llama.cpp's adjacent
pairs, exactly as the converter's LlamaModel.permute does.
"""

import argparse
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "scripts"))

import bpe  # noqa: E402
import gguf_io as gi  # noqa: E402
from model import Config  # noqa: E402

TOKEN_NORMAL = 1
TOKEN_CONTROL = 3


def permute(w, n_head, n_head_kv=None):
    """llama.cpp's LlamaModel.permute: HF rotary layout -> GGUF's."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return (w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:])
            .swapaxes(1, 2).reshape(w.shape))


def f32(t):
    return np.ascontiguousarray(t.detach().cpu().numpy().astype(np.float32))


def build_writer(state, cfg, tok, name):
    w = gi.GGUFWriter()
    w.add_str("general.architecture", "llama")
    w.add_str("general.name", name)
    w.add_str("general.description",
              "The agentd bundled ReAct model: a small llama MoE trained "
              "on synthetic tool-use episodes (models/README.md).")
    w.add_str("general.license", "MIT")
    w.add_u32("general.file_type", 0)
    w.add_u32("llama.vocab_size", cfg.n_vocab)
    w.add_u32("llama.context_length", cfg.n_ctx)
    w.add_u32("llama.embedding_length", cfg.n_embd)
    w.add_u32("llama.block_count", cfg.n_layer)
    w.add_u32("llama.feed_forward_length", cfg.n_ff)
    w.add_u32("llama.attention.head_count", cfg.n_head)
    w.add_u32("llama.attention.head_count_kv", cfg.n_kv_head)
    w.add_f32("llama.rope.freq_base", cfg.rope_theta)
    w.add_u32("llama.rope.dimension_count", cfg.head_dim)
    w.add_f32("llama.attention.layer_norm_rms_epsilon", cfg.norm_eps)
    w.add_u32("llama.expert_count", cfg.n_expert)
    w.add_u32("llama.expert_used_count", cfg.n_expert_used)

    w.add_str("tokenizer.ggml.model", "gpt2")
    w.add_str("tokenizer.ggml.pre", "gpt-2")
    w.add_array("tokenizer.ggml.tokens", gi.T_STRING, tok.tokens)
    types = [TOKEN_NORMAL] * tok.n_vocab
    types[tok.eot] = TOKEN_CONTROL
    w.add_array("tokenizer.ggml.token_type", gi.T_INT32, types)
    w.add_array("tokenizer.ggml.merges", gi.T_STRING,
                ["%s %s" % m for m in tok.merges])
    w.add_u32("tokenizer.ggml.bos_token_id", tok.eot)
    w.add_u32("tokenizer.ggml.eos_token_id", tok.eot)
    w.add_bool("tokenizer.ggml.add_bos_token", True)
    w.add_bool("tokenizer.ggml.add_eos_token", False)

    def t(name_, arr):
        a = f32(arr) if isinstance(arr, torch.Tensor) else arr
        w.add_tensor(name_, tuple(reversed(a.shape)), gi.GGML_F32, a)

    t("token_embd.weight", state["tok_embeddings.weight"])
    t("output_norm.weight", state["norm.weight"])
    t("output.weight", state["output.weight"])
    for i in range(cfg.n_layer):
        p = "layers.%d." % i
        b = "blk.%d." % i
        t(b + "attn_norm.weight", state[p + "attn_norm.weight"])
        t(b + "attn_q.weight",
          permute(f32(state[p + "attn.wq.weight"]), cfg.n_head, cfg.n_head))
        t(b + "attn_k.weight",
          permute(f32(state[p + "attn.wk.weight"]), cfg.n_head,
                  cfg.n_kv_head))
        t(b + "attn_v.weight", state[p + "attn.wv.weight"])
        t(b + "attn_output.weight", state[p + "attn.wo.weight"])
        t(b + "ffn_norm.weight", state[p + "ffn_norm.weight"])
        t(b + "ffn_gate_inp.weight", state[p + "moe.router.weight"])
        # [n_expert, n_ff, n_embd] -> ne (n_embd, n_ff, n_expert)
        t(b + "ffn_gate_exps.weight", state[p + "moe.w_gate"])
        t(b + "ffn_up_exps.weight", state[p + "moe.w_up"])
        # [n_expert, n_embd, n_ff] -> ne (n_ff, n_embd, n_expert)
        t(b + "ffn_down_exps.weight", state[p + "moe.w_down"])
    return w


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--tokenizer", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--name", default="agentd-tiny-moe")
    args = ap.parse_args()
    ck = torch.load(args.model)
    cfg = Config(**ck["config"])
    tok = bpe.Tokenizer.load(args.tokenizer)
    if tok.n_vocab != cfg.n_vocab:
        sys.exit("export: tokenizer has %d tokens, the model %d"
                 % (tok.n_vocab, cfg.n_vocab))
    build_writer(ck["model"], cfg, tok, args.name).write(args.out)
    print("export: wrote %s (%d bytes)" % (args.out,
                                             os.path.getsize(args.out)))


if __name__ == "__main__":
    main()
