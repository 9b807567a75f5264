#!/usr/bin/python3
"""Tests of scripts/quants.py: hand-built blocks decode to hand-computed
values, the vectorized decoders agree with a per-element decoder written
from the format description, quantizers follow ggml's rounding rules and
stay within their error bounds, and (when built) the C engine's quantize
command writes blocks this decoder reads back correctly.

Run by tests/reference/test-quants.sh; OUT names the build folder.
"""

import hashlib
import os
import struct
import subprocess
import sys
import tempfile
import unittest

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(SRC, "scripts"))

import gguf_io as gi  # noqa: E402
import quants as q  # noqa: E402

F16_ONE = 0x3C00
F16_HALF = 0x3800
F16_QUARTER = 0x3400
F16_TWO = 0x4000


def h16(bits):
    return struct.pack("<H", bits)


def deq(raw, t, n):
    return q.dequantize(np.frombuffer(bytes(raw), dtype=np.uint8), t, (n,))


class HandBuiltBlocks(unittest.TestCase):
    """Blocks assembled byte by byte; expected values worked out by hand
    from the layout in ggml-common.h (see the comments)."""

    def test_f16_bf16(self):
        raw = h16(0x3C00) + h16(0xC000) + h16(0x7BFF) + h16(0x0001)
        y = deq(raw, gi.GGML_F16, 4)
        self.assertEqual(list(y), [1.0, -2.0, 65504.0, 2.0 ** -24])
        raw = h16(0x3F80) + h16(0xC0A0) + h16(0x4049) + h16(0x0000)
        y = deq(raw, gi.GGML_BF16, 4)
        self.assertEqual(list(y), [1.0, -5.0, 3.140625, 0.0])

    def test_q8_0(self):
        # d = 0.25; qs[0] = -128, qs[1] = -1, qs[31] = 127.
        qs = bytearray(32)
        qs[0] = 0x80
        qs[1] = 0xFF
        qs[31] = 0x7F
        y = deq(h16(F16_QUARTER) + qs, gi.GGML_Q8_0, 32)
        self.assertEqual(y[0], -32.0)
        self.assertEqual(y[1], -0.25)
        self.assertEqual(y[31], 31.75)
        self.assertTrue(np.all(y[2:31] == 0))

    def test_q4_0(self):
        # d = 0.5; byte j holds value j (low nibble) and j + 16 (high).
        qs = bytearray([0x88] * 16)
        qs[0] = 0x1F            # value 0: 15 - 8 = 7; value 16: 1 - 8 = -7
        qs[15] = 0x08           # value 15: 0; value 31: 0 - 8 = -8
        y = deq(h16(F16_HALF) + qs, gi.GGML_Q4_0, 32)
        self.assertEqual(y[0], 3.5)
        self.assertEqual(y[16], -3.5)
        self.assertEqual(y[15], 0.0)
        self.assertEqual(y[31], -4.0)
        self.assertEqual(np.count_nonzero(y), 3)

    def test_q5_0(self):
        # d = 1; qh bit j is the 5th bit of value j.
        qh = struct.pack("<I", 0x80000001)       # values 0 and 31
        qs = bytearray([0x00] * 16)
        qs[0] = 0x5A            # value 0: 10 | 16; value 16: 5
        qs[15] = 0xF0           # value 15: 0; value 31: 15 | 16
        y = deq(h16(F16_ONE) + qh + qs, gi.GGML_Q5_0, 32)
        self.assertEqual(y[0], 10.0)             # 26 - 16
        self.assertEqual(y[16], -11.0)           # 5 - 16
        self.assertEqual(y[15], -16.0)
        self.assertEqual(y[31], 15.0)            # 31 - 16
        self.assertEqual(y[1], -16.0)

    # K-quant scales for sub-blocks 0..7: sc = 1 2 3 4 5 6 7 63 and
    # m = 0 1 2 3 4 5 6 33, packed as ggml packs them:
    #   bytes 0-3: sc[j] | (sc[j+4] >> 4) << 6    -> 1 2 3 4|3<<6
    #   bytes 4-7: m[j]  | (m[j+4] >> 4) << 6     -> 0 1 2 3|2<<6
    #   bytes 8-11: sc[j+4] & 15 | (m[j+4] & 15) << 4
    K_SCALES = bytes([1, 2, 3, 196, 0, 1, 2, 131, 69, 86, 103, 31])

    def test_k_scale_unpack(self):
        sc, m = q.k_scale_min(np.frombuffer(self.K_SCALES, np.uint8)[None])
        self.assertEqual(list(sc[0]), [1, 2, 3, 4, 5, 6, 7, 63])
        self.assertEqual(list(m[0]), [0, 1, 2, 3, 4, 5, 6, 33])

    def test_q4_k(self):
        # d = 2, dmin = 1.  Chunk c (64 values) uses qs[32c..32c+31]:
        # low nibbles are values 64c..64c+31 (sub-block 2c), high nibbles
        # 64c+32..64c+63 (sub-block 2c+1).  x = d*sc*q - dmin*m.
        qs = bytearray(128)
        for c in range(4):
            for l in range(32):
                qs[32 * c + l] = (l % 16) | ((15 - l % 16) << 4)
        y = deq(h16(F16_TWO) + h16(F16_ONE) + self.K_SCALES + qs,
                gi.GGML_Q4_K, 256)
        self.assertEqual(y[0], 0.0)              # 2*1*0 - 0
        self.assertEqual(y[1], 2.0)              # 2*1*1 - 0
        self.assertEqual(y[32], 59.0)            # 2*2*15 - 1*1
        self.assertEqual(y[64 + 3], 2 * 3 * 3 - 2)       # sub 2
        self.assertEqual(y[192 + 5], 64.0)       # 2*7*5 - 6
        self.assertEqual(y[224], 1857.0)         # 2*63*15 - 33
        self.assertEqual(y[255], -33.0)          # 2*63*0 - 33

    def test_q5_k(self):
        # As Q4_K plus qh[32]: value 64c + l takes bit 2c of qh[l] as its
        # 5th bit, value 64c + 32 + l bit 2c + 1.
        qh = bytearray(32)
        qh[0] = 0x81            # bits 0 and 7
        qs = bytearray(128)
        qs[0] = 0x3A            # value 0: 10 (+16); value 32: 3
        qs[96] = 0x50           # value 192: 0; value 224: 5 (+16)
        y = deq(h16(F16_TWO) + h16(F16_ONE) + self.K_SCALES + qh + qs,
                gi.GGML_Q5_K, 256)
        self.assertEqual(y[0], 52.0)             # 2*1*26 - 0
        self.assertEqual(y[32], 11.0)            # 2*2*3 - 1
        self.assertEqual(y[192], -6.0)           # 2*7*0 - 6
        self.assertEqual(y[224], 2613.0)         # 2*63*21 - 33
        self.assertEqual(y[255], -33.0)

    def test_q6_k(self):
        # d = 0.5, scales[i] = i - 8.  Value 128h + 32k + l: low 4 bits
        # from ql[64h + l + 32(k & 1)] (low nibble for k < 2, high for
        # k >= 2), high 2 bits from qh[32h + l] >> 2k, minus 32; scale
        # index 8h + 2k + l / 16.
        ql = bytearray(128)
        qh = bytearray(64)
        ql[0] = 0x21
        ql[32] = 0x43
        qh[0] = 0xE4            # k0: 0, k1: 1, k2: 2, k3: 3
        ql[64 + 17] = 0x0F
        qh[32 + 17] = 0x03
        sc = bytes((i - 8) & 0xFF for i in range(16))
        y = deq(ql + qh + sc + h16(F16_HALF), gi.GGML_Q6_K, 256)
        self.assertEqual(y[0], 124.0)            # 0.5*-8*(1-32)
        self.assertEqual(y[32], 39.0)            # 0.5*-6*(3+16-32)
        self.assertEqual(y[64], -4.0)            # 0.5*-4*(2+32-32)
        self.assertEqual(y[96], -20.0)           # 0.5*-2*(4+48-32)
        self.assertEqual(y[128 + 17], 15.5)      # 0.5*1*(15+48-32)
        self.assertEqual(y[1], 128.0)            # 0.5*-8*-32
        self.assertEqual(y[16], 112.0)           # 0.5*-7*-32

    def test_q8_k(self):
        raw = struct.pack("<f", 0.5) + bytes([1, 0xFE]) + bytes(254) + \
            bytes(32)
        y = deq(raw, gi.GGML_Q8_K, 256)
        self.assertEqual(y[0], 0.5)
        self.assertEqual(y[1], -1.0)


def scalar_decode(raw, t):
    """Per-element decoder written straight from the layout description,
    independent of the vectorized code in quants.py."""
    name, blck, tsize = gi.GGML_TYPES[t]
    out = []
    for b in range(len(raw) // tsize):
        blk = raw[b * tsize:(b + 1) * tsize]

        def f16(o):
            return float(np.frombuffer(blk[o:o + 2], "<f2")[0])

        if t == gi.GGML_Q8_0:
            d = f16(0)
            out += [d * (v - 256 if v > 127 else v) for v in blk[2:34]]
        elif t in (gi.GGML_Q4_0, gi.GGML_Q5_0):
            d = f16(0)
            qh = struct.unpack_from("<I", blk, 2)[0] if t == gi.GGML_Q5_0 \
                else 0
            qs = blk[6:22] if t == gi.GGML_Q5_0 else blk[2:18]
            off = 16 if t == gi.GGML_Q5_0 else 8
            for j in range(32):
                nib = qs[j % 16] & 15 if j < 16 else qs[j % 16] >> 4
                hi = (qh >> j) & 1
                out.append(d * ((nib | hi << 4) - off))
        elif t in (gi.GGML_Q4_K, gi.GGML_Q5_K):
            d, dmin = f16(0), f16(2)
            s = blk[4:16]
            qh = blk[16:48] if t == gi.GGML_Q5_K else bytes(32)
            qs = blk[48:176] if t == gi.GGML_Q5_K else blk[16:144]
            for i in range(256):
                sub = i // 32
                if sub < 4:
                    sc, m = s[sub] & 63, s[sub + 4] & 63
                else:
                    sc = (s[sub + 4] & 15) | (s[sub - 4] >> 6) << 4
                    m = (s[sub + 4] >> 4) | (s[sub] >> 6) << 4
                byte = qs[32 * (i // 64) + i % 32]
                nib = byte & 15 if sub % 2 == 0 else byte >> 4
                hi = (qh[i % 32] >> sub) & 1
                out.append(d * sc * (nib | hi << 4) - dmin * m)
        elif t == gi.GGML_Q6_K:
            ql, qh, sc = blk[0:128], blk[128:192], blk[192:208]
            d = f16(208)
            for i in range(256):
                h, r = divmod(i, 128)
                k, l = divmod(r, 32)
                byte = ql[64 * h + l + 32 * (k & 1)]
                lo = byte & 15 if k < 2 else byte >> 4
                hi = (qh[32 * h + l] >> (2 * k)) & 3
                s = sc[8 * h + 2 * k + l // 16]
                s = s - 256 if s > 127 else s
                out.append(d * s * ((lo | hi << 4) - 32))
        else:
            raise ValueError(name)
    return np.array(out)


class AgainstScalarDecoder(unittest.TestCase):
    """Random bytes (with finite f16 scales) decode the same through the
    vectorized dequantizers and the per-element decoder above."""

    SCALE_FIELDS = {
        gi.GGML_Q8_0: [0], gi.GGML_Q4_0: [0], gi.GGML_Q5_0: [0],
        gi.GGML_Q4_K: [0, 2], gi.GGML_Q5_K: [0, 2], gi.GGML_Q6_K: [208],
    }

    def test_random_blocks(self):
        rng = np.random.default_rng(11)
        for t, fields in self.SCALE_FIELDS.items():
            _, blck, tsize = gi.GGML_TYPES[t]
            raw = rng.integers(0, 256, size=6 * tsize, dtype=np.uint8)
            for b in range(6):
                for o in fields:
                    v = np.float16(rng.uniform(-2, 2)).view(np.uint16)
                    raw[b * tsize + o:b * tsize + o + 2] = \
                        np.array([v], dtype="<u2").view(np.uint8)
            want = scalar_decode(raw.tobytes(), t)
            got = q.dequantize(raw, t, (6 * blck,))
            np.testing.assert_array_equal(got, want,
                                          err_msg=gi.ggml_type_name(t))


class QuantizerRules(unittest.TestCase):
    """ggml's reference rounding and sign conventions."""

    def test_bf16_rounding(self):
        u = np.array([0x3F808000, 0x3F818000, 0x3F80FFFF, 0x7F800001,
                      0xFF800000], dtype=np.uint32)
        got = q.bf16_bits(u.view(np.float32))
        # ties to even (down, up), above half (up), NaN stays quiet NaN,
        # -inf exact.
        self.assertEqual([hex(v) for v in got],
                         ["0x3f80", "0x3f82", "0x3f81", "0x7fc0", "0xff80"])

    def test_q8_0_rounds_half_away(self):
        x = np.zeros(32, dtype=np.float32)
        x[:6] = [127, 0.5, -0.5, 1.5, 2.5, -2.5]
        b = q.quantize(x, gi.GGML_Q8_0)
        self.assertEqual(bytes(b[:2]), h16(F16_ONE))
        self.assertEqual(list(b[2:8].view(np.int8)), [127, 1, -1, 2, 3, -3])

    def test_q4_0_sign_and_clamp(self):
        # The largest magnitude maps to -8: d = max / -8.
        x = np.zeros(32, dtype=np.float32)
        x[0], x[1], x[2] = 8.0, -8.0, 4.0
        b = q.quantize(x, gi.GGML_Q4_0)
        self.assertEqual(bytes(b[:2]), h16(0xBC00))          # d = -1
        y = q.dequantize(b, gi.GGML_Q4_0, (32,))
        self.assertEqual(y[0], 8.0)
        self.assertEqual(y[1], -7.0)        # 16 clamps to 15: (15-8)*-1
        self.assertEqual(y[2], 4.0)
        self.assertEqual(b[2] & 15, 0)      # 8*-1 + 8.5 -> 0

    def test_zero_blocks(self):
        z = np.zeros(256, dtype=np.float32)
        for t in (gi.GGML_Q8_0, gi.GGML_Q4_0, gi.GGML_Q5_0, gi.GGML_Q4_K,
                  gi.GGML_Q5_K, gi.GGML_Q6_K, gi.GGML_Q8_K):
            b = q.quantize(z, t)
            self.assertTrue(np.all(q.dequantize(b, t, (256,)) == 0),
                            gi.ggml_type_name(t))
        self.assertEqual(set(q.quantize(z, gi.GGML_Q4_0)[2:18]), {0x88})
        self.assertFalse(np.any(q.quantize(z, gi.GGML_Q6_K)))

    def test_bad_shapes(self):
        with self.assertRaises(q.QuantError):
            q.quantize(np.zeros(48, np.float32), gi.GGML_Q8_0)
        with self.assertRaises(q.QuantError):
            q.quantize(np.zeros(128, np.float32), gi.GGML_Q4_K)
        with self.assertRaises(q.QuantError):
            q.dequantize(np.zeros(33, np.uint8), gi.GGML_Q8_0, (32,))
        with self.assertRaises(q.QuantError):
            q.quantize(np.zeros(32, np.float32), gi.GGML_Q2_K)


class RoundTrips(unittest.TestCase):
    """quantize -> dequantize stays within each type's error."""

    # Relative RMS error bound on Gaussian rows (ggml's own figures on
    # such data are about: Q8_0 0.4%, Q6_K 1.6%, Q5_K 3.4%, Q5_0 4%,
    # Q4_K 6.5%, Q4_0 8%).
    RMSE = {
        gi.GGML_F32: 0.0, gi.GGML_F16: 3e-4, gi.GGML_BF16: 3e-3,
        gi.GGML_Q8_0: 7e-3, gi.GGML_Q8_K: 9e-3, gi.GGML_Q6_K: 2.2e-2,
        gi.GGML_Q5_K: 4.2e-2, gi.GGML_Q5_0: 5e-2, gi.GGML_Q4_K: 8e-2,
        gi.GGML_Q4_0: 1e-1,
    }

    def setUp(self):
        rng = np.random.default_rng(3)
        self.x = rng.standard_normal((16, 1024)).astype(np.float32)
        self.x[3] *= 1000.0         # scale does not matter
        self.x[4] *= 1e-3
        self.x[5, :512] = 0         # zero blocks among others

    def test_rmse(self):
        for t, bound in self.RMSE.items():
            y = q.dequantize(q.quantize(self.x, t), t, (1024, 16))
            for r in range(16):
                ref = self.x[r].astype(np.float64)
                err = np.sqrt(np.mean((y[r] - ref) ** 2)) / \
                    np.sqrt(np.mean(ref ** 2))
                self.assertLessEqual(err, bound, "%s row %d: %g" % (
                    gi.ggml_type_name(t), r, err))

    def test_q8_0_elementwise(self):
        y = q.dequantize(q.quantize(self.x, gi.GGML_Q8_0), gi.GGML_Q8_0,
                         (1024, 16))
        blocks = self.x.reshape(-1, 32).astype(np.float64)
        d = np.max(np.abs(blocks), axis=1, keepdims=True) / 127
        err = np.abs(y.reshape(-1, 32) - blocks)
        # Half a step, plus the f16 rounding of d (half an ulp: 2^-11
        # relative, or 2^-25 where d is subnormal) over 127 steps.
        dround = np.maximum(d * 2.0 ** -11, 2.0 ** -25)
        self.assertTrue(np.all(err <= d * 0.5 + 127 * dround))

    def test_k_quant_fast_mode(self):
        for t in (gi.GGML_Q4_K, gi.GGML_Q5_K, gi.GGML_Q6_K):
            y = q.dequantize(q.quantize(self.x, t, fast=True), t,
                             (1024, 16))
            ref = self.x.astype(np.float64)
            err = np.sqrt(np.mean((y - ref) ** 2, axis=1)) / \
                np.sqrt(np.mean(ref ** 2, axis=1))
            self.assertTrue(np.all(err <= self.RMSE[t] * 1.3))

    # sha256 of the quantized bytes of this setUp's data: any change to a
    # quantizer shows here (and in the committed fixtures).
    FINGERPRINTS = {
        gi.GGML_Q8_0: "83252b15c1f0e7c5",
        gi.GGML_Q4_0: "adbbb08f28fa8e5f",
        gi.GGML_Q5_0: "9310a2a2a9041efb",
        gi.GGML_Q4_K: "6bcc0ed0a42f10f8",
        gi.GGML_Q5_K: "7fd3b24bfc8bcdab",
        gi.GGML_Q6_K: "392e24e1ca593889",
        gi.GGML_Q8_K: "6f90108ee7472130",
        gi.GGML_BF16: "ef8c3c2d64514685",
        gi.GGML_F16: "04497069ab1a9f4c",
    }

    def test_fingerprints(self):
        got = {t: hashlib.sha256(q.quantize(self.x, t).tobytes())
               .hexdigest()[:16] for t in self.FINGERPRINTS}
        if os.environ.get("PRINT_FINGERPRINTS"):
            for t, h in got.items():
                print("gi.GGML_%s: \"%s\"," % (gi.ggml_type_name(t), h))
        for t, h in self.FINGERPRINTS.items():
            self.assertEqual(got[t], h, gi.ggml_type_name(t))


class AgainstCEngine(unittest.TestCase):
    """The engine's `agentd-infer quantize` output read back here."""

    TYPES = [("Q8_0", gi.GGML_Q8_0), ("Q4_0", gi.GGML_Q4_0),
             ("Q5_0", gi.GGML_Q5_0), ("Q4_K", gi.GGML_Q4_K),
             ("Q5_K", gi.GGML_Q5_K), ("Q6_K", gi.GGML_Q6_K)]

    def test_c_quantize(self):
        out = os.environ.get("OUT", "build")
        infer = os.path.join(SRC, out, "agentd-infer") \
            if not os.path.isabs(out) else os.path.join(out, "agentd-infer")
        if not os.access(infer, os.X_OK):
            self.skipTest("%s is not built" % infer)
        rng = np.random.default_rng(5)
        x = rng.standard_normal((8, 512)).astype(np.float32)
        with tempfile.TemporaryDirectory() as tmp:
            src = os.path.join(tmp, "in.gguf")
            w = gi.GGUFWriter()
            w.add_str("general.architecture", "llama")
            w.add_tensor("blk.0.ffn_up.weight", (512, 8), gi.GGML_F32, x)
            w.write(src)
            for name, t in self.TYPES:
                dst = os.path.join(tmp, name + ".gguf")
                r = subprocess.run([infer, "quantize", src, dst, name],
                                   capture_output=True, text=True)
                self.assertEqual(r.returncode, 0, r.stderr)
                with gi.read(dst) as f:
                    ti = f.tensor("blk.0.ffn_up.weight")
                    self.assertEqual(ti.type, t, name)
                    y = q.dequantize(ti.data, ti.type, ti.ne)
                    mine = q.quantize(x, t)
                    same = np.mean(np.all(
                        ti.data.reshape(-1, gi.GGML_TYPES[t][2]) ==
                        mine.reshape(-1, gi.GGML_TYPES[t][2]), axis=1))
                    print("  C quantize %-5s: %5.1f%% of blocks identical"
                          " to scripts/quants.py" % (name, 100 * same))
                err = np.sqrt(np.mean((y - x) ** 2)) / \
                    np.sqrt(np.mean(x ** 2))
                self.assertLessEqual(err, RoundTrips.RMSE[t], name)


if __name__ == "__main__":
    unittest.main(verbosity=2)
