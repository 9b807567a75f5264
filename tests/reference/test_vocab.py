#!/usr/bin/python3
"""Tests of the fixtures' byte-level BPE vocabulary (scripts/gen-fixtures):
the file's tokens, types and merges are consistent, a plain Python BPE
encoder round-trips text through them, and (when built) the engine's
`agentd-infer tokenize --ids` produces the same ids for the same text.

Run by tests/reference/test-py-vocab.sh; OUT names the build folder.
"""

import importlib.machinery
import importlib.util
import os
import re
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(SRC, "scripts"))

import gguf_io as gi  # noqa: E402


def load_gen_fixtures():
    path = os.path.join(SRC, "scripts", "gen-fixtures")
    loader = importlib.machinery.SourceFileLoader("gen_fixtures", path)
    spec = importlib.util.spec_from_loader("gen_fixtures", loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


GF = load_gen_fixtures()
FIXTURE = os.path.join(SRC, "tests", "fixtures", "models", "llama-q8_0.gguf")

# Texts whose pre-tokenization by Python's re (the gen-fixtures pattern)
# equals the gpt-2 pattern's: letters, decimal digits, punctuation, symbols
# and white space, nothing that \p{N} and \d would split differently.
TEXTS = [
    "The agent reads the question, then it's done: 42 times!",
    "Thought: I know the answer\nFinal Answer: Paris\n",
    "  leading spaces,\ttabs\t\tand\n\n\nblank lines   ",
    "numbers 1234567 and 3.14159; ratios 4:3 and 16:9",
    "punctuation!!! ??? ... --- ((nested)) [x] {y} snake_case_name",
    "caf\u00e9 d\u00e9j\u00e0 vu, \u00fcber se\u00f1or \u2603 \U0001f600 end",
    "they'll say we've seen what I'm doing, aren't they? 'quoted'",
]


class BPE:
    """A plain byte-level BPE encoder over a GGUF vocabulary."""

    def __init__(self, tokens, merges):
        self.ids = {t: i for i, t in enumerate(tokens)}
        self.rank = {tuple(m.split(" ")): r for r, m in enumerate(merges)}
        self.b2u = GF.bytes_to_unicode()
        self.u2b = {c: b for b, c in self.b2u.items()}

    def encode_piece(self, piece):
        parts = [self.b2u[b] for b in piece.encode("utf-8")]
        while len(parts) > 1:
            best = None
            for i in range(len(parts) - 1):
                r = self.rank.get((parts[i], parts[i + 1]))
                if r is not None and (best is None or r < best[0]):
                    best = (r, i)
            if best is None:
                break
            i = best[1]
            parts[i:i + 2] = [parts[i] + parts[i + 1]]
        return [self.ids[p] for p in parts]

    def encode(self, text):
        out = []
        for piece in GF.PRETOKENIZE.findall(text):
            out += self.encode_piece(piece)
        return out

    def decode(self, ids, tokens):
        return bytes(self.u2b[c] for i in ids for c in tokens[i]) \
            .decode("utf-8")


class FixtureVocabulary(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with gi.read(FIXTURE) as f:
            cls.tokens = f.get("tokenizer.ggml.tokens")
            cls.types = f.get("tokenizer.ggml.token_type")
            cls.merges = f.get("tokenizer.ggml.merges")
            cls.model = f.get("tokenizer.ggml.model")
            cls.pre = f.get("tokenizer.ggml.pre")
            cls.bos = f.get("tokenizer.ggml.bos_token_id")
        cls.bpe = BPE(cls.tokens, cls.merges)

    def test_metadata(self):
        self.assertEqual((self.model, self.pre), ("gpt2", "gpt-2"))
        self.assertEqual(len(self.tokens), 384)
        self.assertEqual(len(self.types), len(self.tokens))
        self.assertEqual(self.tokens[self.bos], "<|endoftext|>")
        self.assertEqual(self.tokens[-3:], GF.SPECIALS)
        self.assertEqual(self.types[-3:], [3, 3, 3])
        self.assertEqual(set(self.types[:-3]), {1})
        self.assertEqual(len(set(self.tokens)), len(self.tokens))

    def test_merges_build_tokens_in_order(self):
        b2u = GF.bytes_to_unicode()
        self.assertEqual(self.tokens[:256], [b2u[b] for b in range(256)])
        for r, m in enumerate(self.merges):
            a, b = m.split(" ")
            self.assertIn(a, self.bpe.ids)
            self.assertIn(b, self.bpe.ids)
            self.assertEqual(self.tokens[256 + r], a + b)
            # Both halves exist before the merge that joins them.
            self.assertLess(self.bpe.ids[a], 256 + r)
            self.assertLess(self.bpe.ids[b], 256 + r)

    def test_training_is_deterministic(self):
        with open(GF.TRAIN_TEXT, encoding="utf-8") as f:
            text = f.read()
        tokens, merges = GF.train_bpe(text, GF.N_MERGES)
        self.assertEqual(["%s %s" % m for m in merges], self.merges)
        self.assertEqual(tokens + GF.SPECIALS, self.tokens)

    def test_round_trip(self):
        for text in TEXTS:
            ids = self.bpe.encode(text)
            self.assertEqual(self.bpe.decode(ids, self.tokens), text)
            # Merges do their job on the training vocabulary.
            self.assertLess(len(ids), len(text.encode("utf-8")))

    def test_known_ids(self):
        # Worked out by hand from the first merges ("\u0120 t", "\u0120 a",
        # "h e", "\u0120t he", ...): " the" is one token.
        the = self.bpe.ids["\u0120the"]
        self.assertEqual(self.bpe.encode(" the"), [the])
        self.assertEqual(self.bpe.encode("x"), [ord("x")])

    def test_engine_tokenizer_agrees(self):
        out = os.environ.get("OUT", "build")
        infer = os.path.join(out if os.path.isabs(out) else
                             os.path.join(SRC, out), "agentd-infer")
        if not os.access(infer, os.X_OK):
            self.skipTest("%s is not built" % infer)
        for text in TEXTS:
            r = subprocess.run([infer, "tokenize", "-m", FIXTURE, "-p", text,
                                "--ids"], capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            got = [int(v) for v in re.findall(r"-?\d+", r.stdout)]
            self.assertEqual(got, self.bpe.encode(text), repr(text))


if __name__ == "__main__":
    unittest.main(verbosity=2)
