"""Byte-level BPE in the GPT-2 manner, trained on the episodes.

The model is stored in GGUF the standard way (tokenizer.ggml.model =
"gpt2", tokenizer.ggml.pre = "gpt-2"): tokens are byte strings written
with GPT-2's byte-to-unicode table, merges are "a b" strings by rank, and
text is first cut into pre-tokens by GPT-2's expression

    's|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+

(implemented below by hand: Debian's Python has no module for \\p{..}).
Merges never involve digits, so every digit is a token of its own, which
is what lets a small model copy and add numbers.  Token ids: the 256
bytes in byte order, then one token per merge, then <|endoftext|> (the
BOS and EOS token).
"""

import json
import unicodedata

EOT = "<|endoftext|>"


def bytes_to_unicode():
    """GPT-2's reversible map from bytes to printable characters."""
    bs = list(range(ord("!"), ord("~") + 1)) + \
        list(range(ord("\xa1"), ord("\xac") + 1)) + \
        list(range(ord("\xae"), ord("\xff") + 1))
    cs = list(bs)
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


BYTE_CHAR = bytes_to_unicode()
DIGIT_CHARS = set(BYTE_CHAR[b] for b in b"0123456789")
CONTRACTIONS = ("'s", "'t", "'re", "'ve", "'m", "'ll", "'d")


def _kind(ch):
    """'L' letter, 'N' number, 'S' white space, 'P' anything else."""
    if ch.isspace():
        return "S"
    cat = unicodedata.category(ch)
    if cat[0] == "L":
        return "L"
    if cat[0] == "N":
        return "N"
    return "P"


def pre_tokenize(text):
    """Cuts text into GPT-2 pre-tokens."""
    out = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "'":
            hit = None
            for c in CONTRACTIONS:
                if text.startswith(c, i):
                    hit = c
                    break
            if hit is not None:
                out.append(hit)
                i += len(hit)
                continue
        k = _kind(ch)
        start = i
        if ch == " " and i + 1 < n and _kind(text[i + 1]) != "S":
            i += 1
            k = _kind(text[i])
        if k in ("L", "N", "P"):
            while i < n and _kind(text[i]) == k:
                i += 1
            out.append(text[start:i])
            continue
        # White space: \s+(?!\S) leaves the last blank before a
        # non-blank to the next pre-token; a single one stands alone.
        j = i
        while j < n and _kind(text[j]) == "S":
            j += 1
        if j < n and j - i > 1:
            j -= 1
        out.append(text[i:j])
        i = j
    return out


def _word(pre):
    return tuple(BYTE_CHAR[b] for b in pre.encode("utf-8"))


def train(texts, vocab_size, min_count=2):
    """Learns merges until vocab_size tokens (256 bytes + merges + the
    special token).  Returns the list of merges as (a, b) pairs."""
    counts = {}
    for t in texts:
        for p in pre_tokenize(t):
            counts[p] = counts.get(p, 0) + 1
    words = [list(_word(p)) for p in counts]
    freq = [counts[p] for p in counts]
    pairs = {}
    where = {}

    def add(w, idx, sign):
        for a, b in zip(w, w[1:]):
            if a in DIGIT_CHARS or b in DIGIT_CHARS:
                continue
            key = (a, b)
            pairs[key] = pairs.get(key, 0) + sign * freq[idx]
            if sign > 0:
                where.setdefault(key, set()).add(idx)

    for i, w in enumerate(words):
        add(w, i, 1)
    merges = []
    n_merges = vocab_size - 256 - 1
    while len(merges) < n_merges and pairs:
        best = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))
        (a, b), c = best
        if c < min_count:
            break
        merges.append((a, b))
        ab = a + b
        for idx in list(where.get((a, b), ())):
            w = words[idx]
            add(w, idx, -1)
            out = []
            i = 0
            while i < len(w):
                if i + 1 < len(w) and w[i] == a and w[i + 1] == b:
                    out.append(ab)
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            words[idx] = out
            add(out, idx, 1)
        pairs.pop((a, b), None)
        where.pop((a, b), None)
        for k in [k for k, v in pairs.items() if v <= 0]:
            del pairs[k]
    return merges


class Tokenizer:
    """Encodes text with a vocabulary of byte tokens, merges and EOT."""

    def __init__(self, merges):
        self.merges = [tuple(m) for m in merges]
        self.tokens = [BYTE_CHAR[b] for b in range(256)]
        self.tokens += [a + b for a, b in self.merges]
        self.tokens.append(EOT)
        self.id_of = {}
        for i, t in enumerate(self.tokens):
            self.id_of.setdefault(t, i)
        self.rank = {m: i for i, m in enumerate(self.merges)}
        self.eot = len(self.tokens) - 1
        self.cache = {}
        self.char_byte = {c: b for b, c in BYTE_CHAR.items()}

    @property
    def n_vocab(self):
        return len(self.tokens)

    def _bpe(self, pre):
        hit = self.cache.get(pre)
        if hit is not None:
            return hit
        w = list(_word(pre))
        while len(w) > 1:
            best, bi = None, -1
            for i in range(len(w) - 1):
                r = self.rank.get((w[i], w[i + 1]))
                if r is not None and (best is None or r < best):
                    best, bi = r, i
            if best is None:
                break
            a, b = self.merges[best]
            out = []
            i = 0
            while i < len(w):
                if i + 1 < len(w) and w[i] == a and w[i + 1] == b:
                    out.append(a + b)
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            w = out
        ids = [self.id_of[t] for t in w]
        self.cache[pre] = ids
        return ids

    def encode(self, text):
        ids = []
        for p in pre_tokenize(text):
            ids.extend(self._bpe(p))
        return ids

    def decode(self, ids):
        raw = bytearray()
        for i in ids:
            if i == self.eot:
                continue
            raw.extend(self.char_byte[c] for c in self.tokens[i])
        return raw.decode("utf-8", "replace")

    def save(self, path):
        with open(path, "w") as f:
            json.dump({"merges": [" ".join(m) for m in self.merges]}, f)

    @classmethod
    def load(cls, path):
        with open(path) as f:
            data = json.load(f)
        return cls([tuple(m.split(" ")) for m in data["merges"]])


def main():
    import argparse
    import os

    ap = argparse.ArgumentParser(
        description="Trains the tokenizer on the training episodes and "
        "the knowledge base; writes DATA/tokenizer.json.")
    ap.add_argument("--data", required=True)
    ap.add_argument("--kb", required=True)
    ap.add_argument("--vocab", type=int, default=1024)
    ap.add_argument("--episodes", type=int, default=8000)
    args = ap.parse_args()
    texts = []
    with open(os.path.join(args.data, "train.jsonl"), encoding="utf-8") as f:
        for line in f:
            rec = json.loads(line)
            texts.append("".join(s[0] for s in rec["segments"]))
            if len(texts) >= args.episodes:
                break
    for name in sorted(os.listdir(args.kb)):
        if name.endswith(".txt"):
            with open(os.path.join(args.kb, name), encoding="utf-8") as f:
                texts.append(f.read())
    tok = Tokenizer(train(texts, args.vocab))
    tok.save(os.path.join(args.data, "tokenizer.json"))
    print("bpe: %d tokens (%d merges)" % (tok.n_vocab, len(tok.merges)))


if __name__ == "__main__":
    main()
