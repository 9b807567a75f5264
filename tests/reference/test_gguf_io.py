#!/usr/bin/python3
"""Tests of scripts/gguf_io.py: the writer's bytes against a layout worked
out by hand, write/read round trips of every value type and of tensors at
several alignments, rejection of malformed files with a message naming the
file and the offset (every truncation of a valid file included), and
byte-identical rewrites of the shared vocabulary files.

Run by tests/reference/test-gguf-py.sh.  AGENTD_SHARED_DATA names the
shared data folder; with CI=true its absence fails instead of skipping.
"""

import os
import struct
import sys
import tempfile
import unittest

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(SRC, "scripts"))

import gguf_io as gi  # noqa: E402


def s(text):
    raw = text.encode()
    return struct.pack("<Q", len(raw)) + raw


class Tmp(unittest.TestCase):
    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory()
        self.dir = self._tmp.name

    def tearDown(self):
        self._tmp.cleanup()

    def path(self, name="t.gguf"):
        return os.path.join(self.dir, name)

    def put(self, data, name="t.gguf"):
        p = self.path(name)
        with open(p, "wb") as f:
            f.write(data)
        return p


class WriterLayout(Tmp):
    def test_minimal_file_bytes(self):
        # One uint32 key and one 1-D F32 tensor of 3 values, alignment 32.
        w = gi.GGUFWriter()
        w.add_u32("a.b", 7)
        w.add_tensor("t", (3,), gi.GGML_F32,
                     np.array([1, 2, 3], dtype=np.float32))
        p = self.path()
        w.write(p)
        head = b"GGUF" + struct.pack("<IQQ", 3, 1, 1) + \
            s("a.b") + struct.pack("<II", gi.T_UINT32, 7) + \
            s("t") + struct.pack("<IQIQ", 1, 3, gi.GGML_F32, 0)
        pad = (32 - len(head) % 32) % 32
        data = struct.pack("<3f", 1, 2, 3)
        want = head + bytes(pad) + data + bytes(32 - len(data))
        with open(p, "rb") as f:
            self.assertEqual(f.read(), want)

    def test_vocab_only_file_has_no_padding(self):
        w = gi.GGUFWriter()
        w.add_str("k", "v")
        p = self.path()
        w.write(p)
        want = b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + s("k") + \
            struct.pack("<I", gi.T_STRING) + s("v")
        with open(p, "rb") as f:
            self.assertEqual(f.read(), want)

    def test_nested_array_bytes(self):
        w = gi.GGUFWriter()
        inner = [gi.Value(gi.T_ARRAY, [1, 2], gi.T_INT16),
                 gi.Value(gi.T_ARRAY, [], gi.T_INT16)]
        w.add_array("n", gi.T_ARRAY, inner)
        want = s("n") + struct.pack("<IIQ", gi.T_ARRAY, gi.T_ARRAY, 2) + \
            struct.pack("<IQhh", gi.T_INT16, 2, 1, 2) + \
            struct.pack("<IQ", gi.T_INT16, 0)
        self.assertEqual(w.header_bytes()[24:], want)

    def test_deterministic(self):
        def build(path):
            w = gi.GGUFWriter(64)
            w.add_f32("x", 0.1)
            w.add_tensor("a", (32, 2), gi.GGML_F16,
                         np.arange(64, dtype=np.float16))
            w.write(path)
            with open(path, "rb") as f:
                return f.read()
        self.assertEqual(build(self.path("1")), build(self.path("2")))

    def test_writer_refuses(self):
        w = gi.GGUFWriter()
        w.add_u32("k", 1)
        with self.assertRaises(gi.GGUFError):
            w.add_u32("k", 2)
        w.add_tensor("t", (32,), gi.GGML_F32, bytes(128))
        with self.assertRaises(gi.GGUFError):
            w.add_tensor("t", (32,), gi.GGML_F32, bytes(128))
        with self.assertRaises(gi.GGUFError):
            w.add_tensor("u", (32,), gi.GGML_F32, bytes(127))
        with self.assertRaises(gi.GGUFError):
            w.add_tensor("v", (48,), gi.GGML_Q8_0, bytes(51))
        with self.assertRaises(gi.GGUFError):
            w.add_tensor("w", (32,), 4, bytes(18))
        with self.assertRaises(gi.GGUFError):
            gi.GGUFWriter(48)
        w2 = gi.GGUFWriter()
        w2.add_array("a", gi.T_UINT8, [1, 256])
        with self.assertRaises(gi.GGUFError):
            w2.header_bytes()
        w3 = gi.GGUFWriter()
        w3.add_u32("a", -1)
        with self.assertRaises(gi.GGUFError):
            w3.header_bytes()


class RoundTrip(Tmp):
    SCALARS = [
        ("u8", gi.T_UINT8, 255), ("i8", gi.T_INT8, -128),
        ("u16", gi.T_UINT16, 65535), ("i16", gi.T_INT16, -32768),
        ("u32", gi.T_UINT32, 2 ** 32 - 1), ("i32", gi.T_INT32, -2 ** 31),
        ("u64", gi.T_UINT64, 2 ** 64 - 1), ("i64", gi.T_INT64, -2 ** 63),
        ("f32", gi.T_FLOAT32, 1.5), ("f64", gi.T_FLOAT64, np.pi),
        ("t", gi.T_BOOL, True), ("f", gi.T_BOOL, False),
        ("str", gi.T_STRING, "h\u00e9llo \u2603 \U0001f600"),
        ("empty", gi.T_STRING, ""),
    ]

    def test_values(self):
        w = gi.GGUFWriter()
        for key, t, v in self.SCALARS:
            w.add(key, t, v)
        for key, t, v in self.SCALARS:
            w.add_array("arr." + key, t, [v, v])
            w.add_array("empty." + key, t, [])
        deep = gi.Value(gi.T_ARRAY, [
            gi.Value(gi.T_ARRAY, ["a", "b"], gi.T_STRING),
            gi.Value(gi.T_ARRAY, [], gi.T_STRING)], gi.T_ARRAY)
        w.add_array("nested", gi.T_ARRAY,
                    [deep, gi.Value(gi.T_ARRAY, [], gi.T_ARRAY)])
        p = self.path()
        w.write(p)
        with gi.read(p) as f:
            self.assertEqual(f.version, 3)
            for key, t, v in self.SCALARS:
                self.assertEqual(f.kv[key].type, t, key)
                self.assertEqual(f.get(key), v, key)
                self.assertEqual(f.kv["arr." + key].elem_type, t)
                self.assertEqual(f.get("arr." + key), [v, v], key)
                self.assertEqual(f.get("empty." + key), [], key)
            self.assertEqual(f.get("nested"), [[["a", "b"], []], []])
            self.assertEqual(len(f.tensors), 0)

    def test_tensors_and_alignment(self):
        rng = np.random.default_rng(1)
        for align in (32, 64, 128, 4096):
            w = gi.GGUFWriter(align)
            data = {}
            for i, (ne, t) in enumerate([((5,), gi.GGML_F32),
                                          ((32, 3), gi.GGML_Q8_0),
                                          ((256, 2, 2), gi.GGML_Q4_K),
                                          ((7, 1, 1, 2), gi.GGML_F16)]):
                raw = rng.integers(0, 256, gi.ggml_nbytes(t, ne),
                                   dtype=np.uint8)
                data["t%d" % i] = (ne, t, raw)
                w.add_tensor("t%d" % i, ne, t, lambda raw=raw: raw)
            p = self.path("a%d.gguf" % align)
            w.write(p)
            with gi.read(p) as f:
                self.assertEqual(f.alignment, align)
                self.assertEqual(f.get("general.alignment",
                                       gi.GGUF_DEFAULT_ALIGNMENT), align)
                self.assertEqual(f.data_offset % align, 0)
                self.assertEqual(list(f.tensors), list(data))
                for name, (ne, t, raw) in data.items():
                    ti = f.tensor(name)
                    self.assertEqual(ti.ne, ne)
                    self.assertEqual(ti.type, t)
                    self.assertEqual(ti.offset % align, 0)
                    self.assertTrue(np.array_equal(ti.data, raw))

    def test_version_2_reads(self):
        w = gi.GGUFWriter()
        w.add_u32("k", 5)
        raw = bytearray(w.header_bytes())
        raw[4:8] = struct.pack("<I", 2)
        with gi.read(self.put(bytes(raw))) as f:
            self.assertEqual((f.version, f.get("k")), (2, 5))


class Malformed(Tmp):
    """Every bad file raises GGUFError naming the file and the place."""

    def valid(self):
        w = gi.GGUFWriter()
        w.add_str("general.architecture", "llama")
        w.add_array("tok", gi.T_STRING, ["a", "bc"])
        w.add_array("ids", gi.T_INT32, [1, 2, 3])
        w.add_tensor("w", (32, 2), gi.GGML_Q8_0, bytes(68))
        w.add_tensor("b", (4,), gi.GGML_F32, bytes(16))
        return w.header_bytes(), w

    def expect(self, data, *parts):
        p = self.put(data, "bad.gguf")
        with self.assertRaises(gi.GGUFError) as cm:
            gi.read(p).close()
        msg = str(cm.exception)
        self.assertTrue(msg.startswith("bad.gguf:"), msg)
        for part in parts:
            self.assertIn(part, msg)
        return msg

    def full(self):
        _, w = self.valid()
        p = self.path("ok.gguf")
        w.write(p)
        with open(p, "rb") as f:
            return f.read()

    def test_every_truncation(self):
        data = self.full()
        with gi.read(self.path("ok.gguf")) as f:
            end = f.data_offset + max(t.offset + t.nbytes
                                      for t in f.tensors.values())
        # Cutting into the padding after the last tensor loses nothing.
        for n in range(end):
            self.expect(data[:n])
        for n in range(end, len(data)):
            with gi.read(self.put(data[:n], "short.gguf")) as f:
                self.assertEqual(len(f.tensors), 2)

    def test_header(self):
        data = self.full()
        self.expect(b"GGUX" + data[4:], "bad magic")
        self.expect(data[:4] + struct.pack("<I", 1) + data[8:],
                    "version 1", "offset 4")
        self.expect(data[:4] + struct.pack("<I", 4) + data[8:],
                    "unsupported version 4")
        self.expect(data[:8] + struct.pack("<Q", 2 ** 62) + data[16:],
                    "tensor count")
        self.expect(data[:16] + struct.pack("<Q", 2 ** 40) + data[24:],
                    "metadata count")
        self.expect(b"", "empty file")

    def patch(self, data, old, new):
        i = data.index(old)
        return data[:i] + new + data[i + len(old):]

    def test_metadata(self):
        data = self.full()
        key = s("general.architecture")
        self.expect(self.patch(data, key + struct.pack("<I", gi.T_STRING),
                               key + struct.pack("<I", 13)),
                    "unknown value type 13")
        self.expect(self.patch(data, key + struct.pack("<I", gi.T_STRING) +
                               struct.pack("<Q", 5),
                               key + struct.pack("<I", gi.T_STRING) +
                               struct.pack("<Q", 2 ** 50)),
                    "past end of file")
        self.expect(self.patch(data, s("ids") + struct.pack("<IIQ",
                               gi.T_ARRAY, gi.T_INT32, 3),
                               s("ids") + struct.pack("<IIQ", gi.T_ARRAY,
                                                      gi.T_INT32, 2 ** 60)),
                    "'ids'", "past end of file")
        self.expect(self.patch(data, s("ids") + struct.pack("<II",
                               gi.T_ARRAY, gi.T_INT32),
                               s("ids") + struct.pack("<II", gi.T_ARRAY,
                                                      99)),
                    "unknown array element type 99")
        self.expect(self.patch(data, s("tok"), s("ids")),
                    "duplicate key 'ids'")

    def test_bool(self):
        w = gi.GGUFWriter()
        w.add_bool("b", True)
        raw = w.header_bytes()
        self.expect(raw[:-1] + b"\x02", "bool value 2")

    def test_tensor_infos(self):
        data = self.full()
        info_w = s("w") + struct.pack("<I", 2)
        self.expect(self.patch(data, info_w, s("w") + struct.pack("<I", 0)),
                    "tensor 0 'w'", "n_dims 0")
        self.expect(self.patch(data, info_w, s("w") + struct.pack("<I", 5)),
                    "n_dims 5")
        self.expect(self.patch(data, info_w + struct.pack("<Q", 32),
                               info_w + struct.pack("<Q", 0)),
                    "ne[0] = 0")
        self.expect(self.patch(data, info_w + struct.pack("<QQ", 32, 2),
                               info_w + struct.pack("<QQ", 48, 2)),
                    "not a multiple of the Q8_0 block size 32")
        self.expect(self.patch(data, info_w + struct.pack("<QQ", 32, 2),
                               info_w + struct.pack("<QQ", 32, 2 ** 40)),
                    "tensor 0 'w'", "past end of file")
        self.expect(self.patch(data, info_w + struct.pack("<QQ", 32, 2),
                               info_w + struct.pack("<QQ", 2 ** 32, 2 ** 32)),
                    "tensor 0 'w'", "overflow int64")
        self.expect(self.patch(data, info_w + struct.pack("<QQI", 32, 2,
                                                          gi.GGML_Q8_0),
                               info_w + struct.pack("<QQI", 32, 2, 4)),
                    "unknown ggml type 4")
        info_b = s("b") + struct.pack("<IQI", 1, 4, gi.GGML_F32)
        off_b = data.index(info_b) + len(info_b)
        (off,) = struct.unpack_from("<Q", data, off_b)
        self.expect(data[:off_b] + struct.pack("<Q", off + 4) +
                    data[off_b + 8:], "not a multiple of the alignment")
        self.expect(data[:off_b] + struct.pack("<Q", 0) + data[off_b + 8:],
                    "overlaps")
        self.expect(data[:off_b] + struct.pack("<Q", 2 ** 40) +
                    data[off_b + 8:], "tensor 1 'b'", "past end of file")
        self.expect(self.patch(data, s("b") + struct.pack("<I", 1),
                               s("w") + struct.pack("<I", 1)),
                    "duplicate name")

    def test_alignment_key(self):
        w = gi.GGUFWriter()
        w.add_u32("general.alignment", 48)
        w.add_tensor("t", (4,), gi.GGML_F32, bytes(16))
        raw = w.header_bytes() + bytes(16)
        self.expect(raw, "not a power of two")
        w = gi.GGUFWriter()
        w.add_u64("general.alignment", 64)
        self.expect(w.header_bytes(), "general.alignment has type uint64")

    def test_deep_nesting(self):
        v = gi.Value(gi.T_ARRAY, [1], gi.T_UINT8)
        for _ in range(9):
            v = gi.Value(gi.T_ARRAY, [v], gi.T_ARRAY)
        w = gi.GGUFWriter()
        w.add_value("deep", v)
        self.expect(w.header_bytes(), "nested deeper than 8")


class SharedVocabularies(Tmp):
    """The vocabulary files llama.cpp's gguf-py wrote come out of this
    writer byte for byte after a read."""

    def test_rewrite_identical(self):
        d = os.environ.get("AGENTD_SHARED_DATA") or \
            os.path.join(SRC, "..", "shared", "data")
        d = os.path.join(d, "tokenizer-vectors")
        files = sorted(f for f in os.listdir(d) if f.endswith(".gguf")) \
            if os.path.isdir(d) else []
        if not files:
            if os.environ.get("CI") == "true":
                self.fail("%s has no .gguf files (CI=true)" % d)
            self.skipTest("%s has no .gguf files" % d)
        for name in files:
            src = os.path.join(d, name)
            with gi.read(src) as f:
                w = gi.GGUFWriter(f.alignment)
                for key, v in f.kv.items():
                    if key != "general.alignment":
                        w.add_value(key, v)
                self.assertGreater(len(f.get("tokenizer.ggml.tokens")),
                                   1000)
            dst = self.path(name)
            w.write(dst)
            with open(src, "rb") as a, open(dst, "rb") as b:
                self.assertEqual(a.read(), b.read(), name)


if __name__ == "__main__":
    unittest.main(verbosity=2)
