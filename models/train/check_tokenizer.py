#!/usr/bin/python3
"""check_tokenizer.py: the Python tokenizer (bpe.py) and the engine's give
the same ids (run by tests/unit/test-model-tokenizer.sh).

    check_tokenizer.py --model FILE.gguf --infer BIN --data DIR [--n N]

The Python side is rebuilt from the GGUF file itself (its merges; its
token list must be bpe.py's order), then every text of a sample is
tokenized by both: `agentd-infer tokenize -m FILE -p TEXT --ids` (BOS
added, as the engine does for this model) against BOS + bpe.encode().
The sample is N episodes spread over DIR/{train,valid,test}.jsonl (whole
transcripts, and the model's own steps on their own), plus texts that
stress the pre-tokenizer (digits, contractions, runs of blanks and
newlines, punctuation runs, non-ASCII letters).
"""

import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "scripts"))

import bpe  # noqa: E402
import gguf_io as gi  # noqa: E402

EXTRA = [
    "Thought: I'll check it's 12 + 3456 = 3468, isn't it?\n",
    "Action Input: {\"expression\":\"(17 + 4) * 23 - 45 / 5\"}\n",
    "a  b   c\n\n\nd \n e\t\tf  ",
    "Observation: [cities.txt#3] caf\u00e9 na\u00efve \u00c5sa | x\n",
    "!!?? ... --- ''' \"\" ;; {{ }} [[ ]] 1,234.56 7e10",
    "   leading and trailing   ",
    "Final Answer: 555-0123\n",
]


def engine_ids(infer, model, text):
    r = subprocess.run([infer, "tokenize", "-m", model, "-p", text,
                        "--ids"], capture_output=True)
    if r.returncode != 0:
        raise RuntimeError("agentd-infer tokenize: %s"
                           % r.stderr.decode("utf-8", "replace").strip())
    return json.loads(r.stdout.decode("utf-8"))


def check_all(args, tok, tokens, bos):
    """Every transcript of train, valid and test, and every model-only
    text: one file for the engine, each text encoded on its own here."""
    eot = tokens.index("<|endoftext|>")
    texts = []
    for split in ("train", "valid", "test"):
        with open(os.path.join(args.data, split + ".jsonl"),
                  encoding="utf-8") as f:
            for line in f:
                rec = json.loads(line)
                texts.append("".join(s[0] for s in rec["segments"]))
                texts.append("".join(s[0] for s in rec["segments"][1:]
                                     if s[1]))
    for t in texts:
        if "<|endoftext|>" in t:
            return "check_tokenizer: a text holds <|endoftext|>"
    path = os.path.join(args.data, "all-texts.txt")
    with open(path, "w", encoding="utf-8") as f:
        f.write("<|endoftext|>".join(texts))
    r = subprocess.run([args.infer, "tokenize", "-m", args.model, "-f", path,
                        "--ids", "--special"], capture_output=True)
    os.unlink(path)
    if r.returncode != 0:
        return "agentd-infer tokenize: %s" % r.stderr.decode(
            "utf-8", "replace").strip()
    got = json.loads(r.stdout.decode("utf-8"))
    want = [bos]
    for i, t in enumerate(texts):
        if i:
            want.append(eot)
        want.extend(tok.encode(t))
    if got == want:
        print("check_tokenizer: all %d texts (%d tokens), 0 differ"
              % (len(texts), len(want)))
        return 0
    n = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b),
             min(len(got), len(want)))
    which = want[1:n].count(eot)  # the BOS is the same token
    return ("check_tokenizer: text %d of %d (%r) differs at token %d of "
            "the whole: engine %s, python %s"
            % (which, len(texts), texts[which][:60], n, got[n:n + 4],
               want[n:n + 4]))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--infer", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--n", type=int, default=120)
    ap.add_argument("--all", action="store_true",
                    help="every episode of the data set: the transcripts "
                    "joined by <|endoftext|> into one text the engine "
                    "tokenizes at once")
    args = ap.parse_args()
    with gi.read(args.model) as g:
        tokens = g.require("tokenizer.ggml.tokens")
        merges = [tuple(m.split(" "))
                  for m in g.require("tokenizer.ggml.merges")]
        bos = g.require("tokenizer.ggml.bos_token_id")
    tok = bpe.Tokenizer(merges)
    if tok.tokens != tokens:
        sys.exit("check_tokenizer: %s: token list is not bpe.py's order"
                 % args.model)
    if args.all:
        sys.exit(check_all(args, tok, tokens, bos))
    texts = list(EXTRA)
    recs = []
    for split in ("train", "valid", "test"):
        with open(os.path.join(args.data, split + ".jsonl"),
                  encoding="utf-8") as f:
            recs.extend(json.loads(line) for line in f)
    step = max(1, len(recs) // max(1, args.n))
    for rec in recs[::step][:args.n]:
        texts.append("".join(s[0] for s in rec["segments"]))
        texts.append("".join(s[0] for s in rec["segments"][1:] if s[1]))
    bad = 0
    for text in texts:
        want = [bos] + tok.encode(text)
        got = engine_ids(args.infer, args.model, text)
        if got != want:
            bad += 1
            if bad <= 5:
                n = next((i for i, (a, b) in enumerate(zip(got, want))
                          if a != b), min(len(got), len(want)))
                print("check_tokenizer: %r: first difference at token %d: "
                      "engine %s, python %s" % (text[:60], n, got[n:n + 4],
                                                want[n:n + 4]),
                      file=sys.stderr)
    print("check_tokenizer: %d texts, %d differ" % (len(texts), bad))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
