#!/usr/bin/python3
"""ref_logits.py: PyTorch's logits for a fixed prompt, the reference the
engine is checked against (tests/unit/test-model-logits.sh).

    ref_logits.py --model model.pt --tokenizer tokenizer.json --out DIR

Writes DIR/logits-tokens.txt (BOS and the tokens of a fixed ReAct
fragment, 32 in all), DIR/logits-f32.bin (float32 [32][n_vocab], the
logits after each token, computed in float64 from the trained weights)
and DIR/logits-f32.bin.json, in the format of tests/reference/README.md,
so tests/reference/test-logits reads them.
"""

import argparse
import json
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import bpe  # noqa: E402
from model import Config, Model  # noqa: E402

TEXT = ("Question: A crate holds 17 boxes of 23 apples and 45 are rotten. "
        "How many good apples are there?\nThought: I need to calculate "
        "17 * 23 - 45.\nAction: calc\n")
N_TOKENS = 32


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--tokenizer", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    ck = torch.load(args.model)
    cfg = Config(**ck["config"])
    tok = bpe.Tokenizer.load(args.tokenizer)
    ids = ([tok.eot] + tok.encode(TEXT))[:N_TOKENS]
    if len(ids) < N_TOKENS:
        sys.exit("ref_logits: the text has too few tokens")
    model = Model(cfg).double()
    model.load_state_dict({k: v.double() for k, v in ck["model"].items()})
    model.eval()
    with torch.no_grad():
        logits, _ = model(torch.tensor([ids]))
    lg = logits[0].numpy()
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "logits-tokens.txt"), "w") as f:
        f.write(" ".join(str(i) for i in ids) + "\n")
    path = os.path.join(args.out, "logits-f32.bin")
    lg.astype("<f4").tofile(path)
    top = np.sort(lg, axis=1)
    meta = {"format": "agentd-ref-logits-v1",
            "model": "agentd-tiny-moe", "arch": "llama",
            "n_tokens": len(ids), "n_vocab": cfg.n_vocab, "tokens": ids,
            "max_abs_logit": float(np.abs(lg).max()),
            "argmax": [int(x) for x in lg.argmax(axis=1)],
            "top1_top2_margin": [float(x) for x in top[:, -1] - top[:, -2]],
            "compute": "float64 PyTorch (models/train/model.py) on the "
                       "trained weights"}
    with open(path + ".json", "w") as f:
        json.dump(meta, f)
        f.write("\n")
    print("ref_logits: %d tokens, max |logit| %.3f" % (len(ids),
                                                       meta["max_abs_logit"]))


if __name__ == "__main__":
    main()
