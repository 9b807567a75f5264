"""numpy quantizers and dequantizers for the ggml tensor types.

Block layouts are ggml's, byte for byte (ggml/src/ggml-common.h):

  Q8_0  32 values:  f16 d, int8 qs[32];                      x = d * q
  Q4_0  32 values:  f16 d, u8 qs[16] (value j in the low nibble of byte j,
                    value j+16 in the high nibble);           x = d * (q - 8)
  Q5_0  32 values:  f16 d, u32 qh (bit j = 5th bit of value j), u8 qs[16]
                    as Q4_0;                                  x = d * (q - 16)
  Q4_K  256 values: f16 d, f16 dmin, u8 scales[12] (8 six-bit scales and 8
                    six-bit mins, packed as below), u8 qs[128];
                    x = d * sc[s] * q - dmin * m[s] for sub-block s of 32
  Q5_K  256 values: as Q4_K plus u8 qh[32] before qs (5th bits)
  Q6_K  256 values: u8 ql[128], u8 qh[64], int8 scales[16], f16 d;
                    x = d * scales[s] * (q - 32) for sub-block s of 16
  Q8_K  256 values: f32 d, int8 qs[256], int16 bsums[16] (activations only)

K-quant scale packing (12 bytes, sub-blocks j = 0..7):
  j < 4:  scales[j] & 63 = sc, scales[j+4] & 63 = m
  j >= 4: sc = (scales[j+4] & 15) | (scales[j-4] >> 6) << 4
          m  = (scales[j+4] >> 4) | (scales[j]   >> 6) << 4
Q4_K/Q5_K quant order: each 64-value chunk c uses 32 bytes of qs, values
64c..64c+31 in the low nibbles and 64c+32..64c+63 in the high nibbles.
Q6_K: each 128-value half h uses ql[64h..64h+63] and qh[32h..32h+31]; value
128h + l + 32k (k = 0..3, l = 0..31) takes its low 4 bits from
ql[64h + l + 32 (k & 1)] (low nibble for k < 2, high for k >= 2) and its
high 2 bits from qh[32h + l] >> 2k.

The quantizers follow ggml's reference algorithms (quantize_row_*_ref)
step by step in float32, including the order of every sum, so that they
give the same bytes; the dequantizers compute exactly in float64.  Written
from the format description, not from ggml's code.
"""

import numpy as np

import gguf_io as gi

F32 = np.float32
QK_K = 256
GROUP_MAX_EPS = F32(1e-15)


class QuantError(Exception):
    """A shape or type that cannot be (de)quantized."""


# ---------------------------------------------------------------------------
# Scalar helpers with ggml's exact float semantics

def fp16_bits(x):
    """float32 array -> uint16 IEEE half bits, round to nearest even."""
    return np.asarray(x, dtype=F32).astype(np.float16).view(np.uint16)


def fp16_value(bits):
    """uint16 half bits -> float32 values (exact)."""
    return np.asarray(bits, dtype=np.uint16).view(np.float16).astype(F32)


def bf16_bits(x):
    """float32 -> uint16 bfloat16 bits: round to nearest even; NaN stays a
    quiet NaN (ggml_compute_fp32_to_bf16)."""
    u = np.asarray(x, dtype=F32).view(np.uint32).astype(np.uint64)
    nan = (u & 0x7FFFFFFF) > 0x7F800000
    rounded = (u + (0x7FFF + ((u >> 16) & 1))) >> 16
    quiet = (u >> 16) | 64
    return np.where(nan, quiet, rounded).astype(np.uint16)


def bf16_value(bits):
    return (np.asarray(bits, dtype=np.uint16).astype(np.uint32) << 16) \
        .view(F32)


def nearest_int(v):
    """ggml nearest_int: round half to even of a float32 value."""
    return np.rint(np.asarray(v, dtype=F32)).astype(np.int64)


def roundf(v):
    """C roundf: half away from zero (exact via float64)."""
    v = np.asarray(v, dtype=F32).astype(np.float64)
    return (np.sign(v) * np.floor(np.abs(v) + 0.5)).astype(np.int64)


def trunc_int(v):
    """C (int) conversion of a float: toward zero."""
    return np.trunc(np.asarray(v, dtype=F32)).astype(np.int64)


def _abs_argmax(x):
    """For each row: the first value with the largest magnitude and that
    magnitude, as ggml's 'if (amax < fabsf(v))' loops find them."""
    ax = np.abs(x)
    idx = np.argmax(ax, axis=1)
    rows = np.arange(x.shape[0])
    return x[rows, idx], ax[rows, idx]


def _inv(d):
    """1.0f/d where d != 0, else 0 (float32)."""
    out = np.zeros_like(d, dtype=F32)
    nz = d != 0
    out[nz] = F32(1.0) / d[nz]
    return out


# ---------------------------------------------------------------------------
# Simple types

def _q8_0(x):
    nb = x.shape[0]
    amax = np.max(np.abs(x), axis=1)
    d = (amax / F32(127)).astype(F32)
    idd = _inv(d)
    qs = roundf(x * idd[:, None]).astype(np.int8)
    out = np.zeros((nb, 34), dtype=np.uint8)
    out[:, 0:2] = fp16_bits(d).view(np.uint8).reshape(nb, 2)
    out[:, 2:34] = qs.view(np.uint8)
    return out


def _dq8_0(b):
    d = fp16_value(b[:, 0:2].copy().view(np.uint16)[:, 0]).astype(np.float64)
    q = b[:, 2:34].view(np.int8).astype(np.float64)
    return d[:, None] * q


def _q4_0(x):
    nb = x.shape[0]
    mx, _ = _abs_argmax(x)
    d = (mx / F32(-8)).astype(F32)
    idd = _inv(d)
    v = (x * idd[:, None]).astype(F32) + F32(8.5)
    q = np.minimum(15, trunc_int(v)).astype(np.uint8)
    out = np.zeros((nb, 18), dtype=np.uint8)
    out[:, 0:2] = fp16_bits(d).view(np.uint8).reshape(nb, 2)
    out[:, 2:18] = q[:, :16] | (q[:, 16:] << 4)
    return out


def _dq4_0(b):
    d = fp16_value(b[:, 0:2].copy().view(np.uint16)[:, 0]).astype(np.float64)
    qs = b[:, 2:18]
    q = np.concatenate([qs & 15, qs >> 4], axis=1).astype(np.float64) - 8
    return d[:, None] * q


def _q5_0(x):
    nb = x.shape[0]
    mx, _ = _abs_argmax(x)
    d = (mx / F32(-16)).astype(F32)
    idd = _inv(d)
    v = (x * idd[:, None]).astype(F32) + F32(16.5)
    q = np.minimum(31, trunc_int(v)).astype(np.uint32)
    qh = np.zeros(nb, dtype=np.uint32)
    for j in range(32):
        qh |= ((q[:, j] >> 4) & 1) << j
    out = np.zeros((nb, 22), dtype=np.uint8)
    out[:, 0:2] = fp16_bits(d).view(np.uint8).reshape(nb, 2)
    out[:, 2:6] = qh.astype("<u4").view(np.uint8).reshape(nb, 4)
    lo = (q & 15).astype(np.uint8)
    out[:, 6:22] = lo[:, :16] | (lo[:, 16:] << 4)
    return out


def _dq5_0(b):
    d = fp16_value(b[:, 0:2].copy().view(np.uint16)[:, 0]).astype(np.float64)
    qh = b[:, 2:6].copy().view("<u4")[:, 0].astype(np.uint64)
    qs = b[:, 6:22]
    lo = np.concatenate([qs & 15, qs >> 4], axis=1).astype(np.int64)
    bits = (qh[:, None] >> np.arange(32, dtype=np.uint64)) & 1
    q = lo | (bits.astype(np.int64) << 4)
    return d[:, None] * (q.astype(np.float64) - 16)


# ---------------------------------------------------------------------------
# K-quants

def _clamp(v, lo, hi):
    """min(hi, max(lo, v)) elementwise, keeping v's float32 type."""
    return np.minimum(np.maximum(v, F32(lo)), F32(hi))


def colsum(a):
    """Column sums of float32 [n, B], adding row 0, then row 1, ... as a C
    loop over the n values of each block adds them (numpy reduces a
    contiguous array over its first axis row by row; np.sum over the last
    axis would be pairwise and round differently)."""
    return np.add.reduce(np.ascontiguousarray(a, dtype=F32), axis=0)


def _make_qkx2(x, w, nmax, rmin, rdelta, nstep):
    """ggml make_qkx2_quants over blocks of x (float32 [B, n]) with
    weights w; squared error.  Works on [n, B] copies, so every sum runs
    over contiguous rows in ggml's order.  Returns (scale [B], the_min
    [B], L [B, n])."""
    x = np.ascontiguousarray(x.T)
    w = np.ascontiguousarray(w.T)
    nmax_f = F32(nmax)
    mn = np.min(x, axis=0)
    mx = np.max(x, axis=0)
    sum_w = colsum(w)
    sum_x = colsum(w * x)
    mn = np.where(mn > 0, F32(0), mn)
    flat = mx == mn
    rng = np.where(flat, F32(1), mx - mn)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        iscale = nmax_f / rng
        scale = F32(1) / iscale
    # Quant levels stay float32 (exact small integers) until the end.
    L = _clamp(np.rint(iscale * (x - mn)), 0, nmax_f)
    diff = scale * L + mn - x
    best = colsum(w * (diff * diff))
    if nstep >= 1:
        for step in range(nstep + 1):
            # ggml moves min to the best fit found so far, and both the
            # range and the offset below use the moved min.
            num = F32(rmin) + F32(rdelta) * F32(step) + nmax_f
            rng = np.where(flat, F32(1), mx - mn)
            with np.errstate(divide="ignore", invalid="ignore"):
                isc = num / rng
            lf = _clamp(np.rint(isc * (x - mn)), 0, nmax_f)
            wl = w * lf
            sum_l = colsum(wl)
            sum_l2 = colsum(wl * lf)
            sum_xl = colsum(wl * x)
            D = sum_w * sum_l2 - sum_l * sum_l
            ok = D > 0
            Ds = np.where(ok, D, F32(1))
            this_scale = (sum_w * sum_xl - sum_x * sum_l) / Ds
            this_min = (sum_l2 * sum_x - sum_l * sum_xl) / Ds
            pos = this_min > 0
            with np.errstate(divide="ignore", invalid="ignore"):
                alt = sum_xl / np.where(sum_l2 != 0, sum_l2, F32(1))
            this_scale = np.where(pos, alt, this_scale).astype(F32)
            this_min = np.where(pos, F32(0), this_min).astype(F32)
            diff = this_scale * lf + this_min - x
            cur = colsum(w * (diff * diff))
            better = ok & (cur < best) & ~flat
            L = np.where(better, lf, L)
            best = np.where(better, cur, best)
            scale = np.where(better, this_scale, scale)
            mn = np.where(better, this_min, mn)
    L = np.where(flat, F32(0), L)
    scale = np.where(flat, F32(0), scale).astype(F32)
    return scale, (-mn).astype(F32), \
        np.ascontiguousarray(L.T).astype(np.int64)


def _k_scale_bytes(ls, lm):
    """Packs 8 six-bit scales and mins per row into 12 bytes."""
    nb = ls.shape[0]
    s = np.zeros((nb, 12), dtype=np.uint8)
    for j in range(8):
        if j < 4:
            s[:, j] = ls[:, j]
            s[:, j + 4] = lm[:, j]
        else:
            s[:, j + 4] = (ls[:, j] & 15) | ((lm[:, j] & 15) << 4)
            s[:, j - 4] |= (ls[:, j] >> 4) << 6
            s[:, j] |= (lm[:, j] >> 4) << 6
    return s


def k_scale_min(scales):
    """Unpacks [B, 12] scale bytes into ([B, 8] scales, [B, 8] mins)."""
    s = scales.astype(np.int64)
    sc = np.zeros((s.shape[0], 8), dtype=np.int64)
    m = np.zeros_like(sc)
    for j in range(8):
        if j < 4:
            sc[:, j] = s[:, j] & 63
            m[:, j] = s[:, j + 4] & 63
        else:
            sc[:, j] = (s[:, j + 4] & 15) | ((s[:, j - 4] >> 6) << 4)
            m[:, j] = (s[:, j + 4] >> 4) | ((s[:, j] >> 6) << 4)
    return sc, m


def _q45_k(x, nmax, rmin, rdelta, nstep):
    """Shared part of Q4_K and Q5_K: returns (d bits, dmin bits, scale
    bytes, L [nb, 256])."""
    nb = x.shape[0]
    sub = x.reshape(nb * 8, 32)
    sum_x2 = colsum((sub * sub).T)
    av_x = np.sqrt(sum_x2 / F32(32))
    w = av_x[:, None] + np.abs(sub)
    scales, mins, L = _make_qkx2(sub, w, nmax, rmin, rdelta, nstep)
    scales = scales.reshape(nb, 8)
    mins = mins.reshape(nb, 8)
    L = L.reshape(nb, 256)
    max_scale = np.zeros(nb, dtype=F32)
    max_min = np.zeros(nb, dtype=F32)
    for j in range(8):
        max_scale = np.where(scales[:, j] > max_scale, scales[:, j],
                             max_scale)
        max_min = np.where(mins[:, j] > max_min, mins[:, j], max_min)
    inv_scale = np.where(max_scale > 0, F32(63) / np.where(
        max_scale > 0, max_scale, F32(1)), F32(0)).astype(F32)
    inv_min = np.where(max_min > 0, F32(63) / np.where(
        max_min > 0, max_min, F32(1)), F32(0)).astype(F32)
    ls = np.minimum(63, nearest_int(inv_scale[:, None] * scales) & 255)
    lm = np.minimum(63, nearest_int(inv_min[:, None] * mins) & 255)
    sbytes = _k_scale_bytes(ls.astype(np.uint8), lm.astype(np.uint8))
    dbits = fp16_bits(max_scale / F32(63))
    mbits = fp16_bits(max_min / F32(63))
    df = fp16_value(dbits)
    mf = fp16_value(mbits)
    sc, m = k_scale_min(sbytes)
    for j in range(8):
        d = df * sc[:, j].astype(F32)
        dm = mf * m[:, j].astype(F32)
        nz = d != 0
        dd = np.where(nz, d, F32(1))
        xs = x[:, 32 * j:32 * j + 32]
        lnew = np.clip(nearest_int((xs + dm[:, None]) / dd[:, None]), 0,
                       nmax)
        L[:, 32 * j:32 * j + 32] = np.where(nz[:, None], lnew,
                                            L[:, 32 * j:32 * j + 32])
    return dbits, mbits, sbytes, L


def _q4_k(x, fast=False):
    nb = x.shape[0]
    dbits, mbits, sbytes, L = _q45_k(x, 15, -1.0, 0.1, 0 if fast else 20)
    out = np.zeros((nb, 144), dtype=np.uint8)
    out[:, 0:2] = dbits.view(np.uint8).reshape(nb, 2)
    out[:, 2:4] = mbits.view(np.uint8).reshape(nb, 2)
    out[:, 4:16] = sbytes
    L = L.astype(np.uint8)
    for c in range(4):
        out[:, 16 + 32 * c:48 + 32 * c] = \
            L[:, 64 * c:64 * c + 32] | (L[:, 64 * c + 32:64 * c + 64] << 4)
    return out


def _dq4_k(b):
    nb = b.shape[0]
    d = fp16_value(b[:, 0:2].copy().view(np.uint16)[:, 0]).astype(np.float64)
    dmin = fp16_value(b[:, 2:4].copy().view(np.uint16)[:, 0]) \
        .astype(np.float64)
    sc, m = k_scale_min(b[:, 4:16])
    qs = b[:, 16:144]
    y = np.zeros((nb, 256))
    for c in range(4):
        q = qs[:, 32 * c:32 * c + 32].astype(np.int64)
        lo = q & 15
        hi = q >> 4
        s0, s1 = 2 * c, 2 * c + 1
        y[:, 64 * c:64 * c + 32] = (d * sc[:, s0])[:, None] * lo \
            - (dmin * m[:, s0])[:, None]
        y[:, 64 * c + 32:64 * c + 64] = (d * sc[:, s1])[:, None] * hi \
            - (dmin * m[:, s1])[:, None]
    return y


def _q5_k(x, fast=False):
    nb = x.shape[0]
    dbits, mbits, sbytes, L = _q45_k(x, 31, -0.5, 0.1, 0 if fast else 15)
    out = np.zeros((nb, 176), dtype=np.uint8)
    out[:, 0:2] = dbits.view(np.uint8).reshape(nb, 2)
    out[:, 2:4] = mbits.view(np.uint8).reshape(nb, 2)
    out[:, 4:16] = sbytes
    qh = np.zeros((nb, 32), dtype=np.uint8)
    L = L.astype(np.uint8)
    for c in range(4):
        l1 = L[:, 64 * c:64 * c + 32]
        l2 = L[:, 64 * c + 32:64 * c + 64]
        qh |= ((l1 >> 4) & 1) << (2 * c)
        qh |= ((l2 >> 4) & 1) << (2 * c + 1)
        out[:, 48 + 32 * c:80 + 32 * c] = (l1 & 15) | ((l2 & 15) << 4)
    out[:, 16:48] = qh
    return out


def _dq5_k(b):
    nb = b.shape[0]
    d = fp16_value(b[:, 0:2].copy().view(np.uint16)[:, 0]).astype(np.float64)
    dmin = fp16_value(b[:, 2:4].copy().view(np.uint16)[:, 0]) \
        .astype(np.float64)
    sc, m = k_scale_min(b[:, 4:16])
    qh = b[:, 16:48].astype(np.int64)
    ql = b[:, 48:176].astype(np.int64)
    y = np.zeros((nb, 256))
    for c in range(4):
        q = ql[:, 32 * c:32 * c + 32]
        lo = (q & 15) | (((qh >> (2 * c)) & 1) << 4)
        hi = (q >> 4) | (((qh >> (2 * c + 1)) & 1) << 4)
        s0, s1 = 2 * c, 2 * c + 1
        y[:, 64 * c:64 * c + 32] = (d * sc[:, s0])[:, None] * lo \
            - (dmin * m[:, s0])[:, None]
        y[:, 64 * c + 32:64 * c + 64] = (d * sc[:, s1])[:, None] * hi \
            - (dmin * m[:, s1])[:, None]
    return y


def _make_qx_rmse1(x, nmax, fast=False):
    """ggml make_qx_quants(n, nmax, x, L, rmse_type = 1, NULL) over rows of
    x (float32 [B, n]); fast=True skips the search over nearby scales.
    Returns (scale [B], L [B, n] in 0..2 nmax - 1)."""
    nmax_f = F32(nmax)
    mx, amax = _abs_argmax(x)
    zero = amax < GROUP_MAX_EPS
    mxs = np.where(zero, F32(1), mx)
    # [n, B] copies: the sums run over contiguous rows in ggml's order.
    xt = np.ascontiguousarray(x.T)
    wt = xt * xt

    def attempt(iscale):
        # Levels stay float32 (exact small integers).
        lf = _clamp(np.rint(iscale * xt), -nmax, nmax - 1)
        return lf, colsum(wt * xt * lf), colsum(wt * lf * lf)

    iscale = (-nmax_f / mxs).astype(F32)
    L, sumlx, suml2 = attempt(iscale)
    scale = np.where(suml2 != 0, sumlx / np.where(suml2 != 0, suml2,
                                                  F32(1)), F32(0)).astype(F32)
    best = scale * sumlx
    for step in range(-9, 10):
        if step == 0 or fast:
            continue
        isc = (-(nmax_f + F32(0.1) * F32(step)) / mxs).astype(F32)
        l, slx, sl2 = attempt(isc)
        better = (sl2 > 0) & (slx * slx > best * sl2)
        L = np.where(better, l, L)
        sl2s = np.where(sl2 != 0, sl2, F32(1))
        scale = np.where(better, slx / sl2s, scale).astype(F32)
        best = np.where(better, scale * slx, best).astype(F32)
    L = np.where(zero, F32(-nmax), L)
    scale = np.where(zero, F32(0), scale).astype(F32)
    return scale, np.ascontiguousarray(L.T).astype(np.int64) + nmax


def _q6_k(x, fast=False):
    nb = x.shape[0]
    sub = x.reshape(nb * 16, 16)
    scales, L = _make_qx_rmse1(sub, 32, fast)
    scales = scales.reshape(nb, 16)
    L = L.reshape(nb, 256)
    max_scale, max_abs = _abs_argmax(scales)
    zero = max_abs < GROUP_MAX_EPS
    ms = np.where(zero, F32(1), max_scale)
    iscale = (F32(-128) / ms).astype(F32)
    dbits = fp16_bits(F32(1) / iscale)
    dbits = np.where(zero, np.uint16(0), dbits).astype(np.uint16)
    sc = np.minimum(127, nearest_int(iscale[:, None] * scales))
    sc = np.where(zero[:, None], 0, sc)
    df = fp16_value(dbits)
    for j in range(16):
        d = df * sc[:, j].astype(F32)
        nz = d != 0
        dd = np.where(nz, d, F32(1))
        xs = x[:, 16 * j:16 * j + 16]
        lnew = np.clip(nearest_int(xs / dd[:, None]), -32, 31) + 32
        L[:, 16 * j:16 * j + 16] = np.where(nz[:, None], lnew,
                                            L[:, 16 * j:16 * j + 16])
    L = np.where(zero[:, None], 0, L).astype(np.uint8)
    out = np.zeros((nb, 210), dtype=np.uint8)
    for h in range(2):
        Lh = L[:, 128 * h:128 * h + 128]
        q1, q2, q3, q4 = (Lh[:, 32 * k:32 * k + 32] for k in range(4))
        out[:, 64 * h:64 * h + 32] = (q1 & 15) | ((q3 & 15) << 4)
        out[:, 64 * h + 32:64 * h + 64] = (q2 & 15) | ((q4 & 15) << 4)
        out[:, 128 + 32 * h:160 + 32 * h] = (q1 >> 4) | ((q2 >> 4) << 2) | \
            ((q3 >> 4) << 4) | ((q4 >> 4) << 6)
    out[:, 192:208] = sc.astype(np.int8).view(np.uint8)
    out[:, 208:210] = dbits.view(np.uint8).reshape(nb, 2)
    return out


def _dq6_k(b):
    nb = b.shape[0]
    ql = b[:, 0:128].astype(np.int64)
    qh = b[:, 128:192].astype(np.int64)
    sc = b[:, 192:208].view(np.int8).astype(np.float64)
    d = fp16_value(b[:, 208:210].copy().view(np.uint16)[:, 0]) \
        .astype(np.float64)
    y = np.zeros((nb, 256))
    for h in range(2):
        for k in range(4):
            lo = ql[:, 64 * h + 32 * (k & 1):64 * h + 32 * (k & 1) + 32]
            lo = (lo & 15) if k < 2 else (lo >> 4)
            hi = (qh[:, 32 * h:32 * h + 32] >> (2 * k)) & 3
            q = (lo | (hi << 4)) - 32
            for half in range(2):
                s = sc[:, 8 * h + 2 * k + half]
                cols = slice(128 * h + 32 * k + 16 * half,
                             128 * h + 32 * k + 16 * half + 16)
                y[:, cols] = (d * s)[:, None] * q[:, 16 * half:16 * half + 16]
    return y


def _q8_k(x):
    nb = x.shape[0]
    mx, amax = _abs_argmax(x)
    zero = amax == 0
    iscale = (F32(-127) / np.where(zero, F32(1), mx)).astype(F32)
    q = np.minimum(127, nearest_int(iscale[:, None] * x))
    q = np.where(zero[:, None], 0, q).astype(np.int8)
    d = np.where(zero, F32(0), F32(1) / iscale).astype(F32)
    bsums = q.astype(np.int64).reshape(nb, 16, 16).sum(axis=2)
    out = np.zeros((nb, 292), dtype=np.uint8)
    out[:, 0:4] = d.astype("<f4").view(np.uint8).reshape(nb, 4)
    out[:, 4:260] = q.view(np.uint8)
    out[:, 260:292] = bsums.astype("<i2").view(np.uint8).reshape(nb, 32)
    return out


def _dq8_k(b):
    d = b[:, 0:4].copy().view("<f4")[:, 0].astype(np.float64)
    return d[:, None] * b[:, 4:260].view(np.int8).astype(np.float64)


# type id -> (quantize blocks, dequantize blocks)
_BLOCK_CODECS = {
    gi.GGML_Q8_0: (_q8_0, _dq8_0),
    gi.GGML_Q4_0: (_q4_0, _dq4_0),
    gi.GGML_Q5_0: (_q5_0, _dq5_0),
    gi.GGML_Q4_K: (_q4_k, _dq4_k),
    gi.GGML_Q5_K: (_q5_k, _dq5_k),
    gi.GGML_Q6_K: (_q6_k, _dq6_k),
    gi.GGML_Q8_K: (_q8_k, _dq8_k),
}

SUPPORTED = (gi.GGML_F32, gi.GGML_F16, gi.GGML_BF16) + tuple(_BLOCK_CODECS)


def quantize(x, ttype, fast=False):
    """Quantizes x (any float array; its last axis is the row, ne[0], and
    must be a multiple of the type's block size) to ggml type ttype.
    Returns the bytes as a flat uint8 array.  fast=True skips the K-quant
    scale searches (same layout, a little more error; for large benchmark
    models)."""
    x = np.ascontiguousarray(x, dtype=F32)
    if ttype == gi.GGML_F32:
        return x.astype("<f4").reshape(-1).view(np.uint8)
    if ttype == gi.GGML_F16:
        return fp16_bits(x).astype("<u2").reshape(-1).view(np.uint8)
    if ttype == gi.GGML_BF16:
        return bf16_bits(x).astype("<u2").reshape(-1).view(np.uint8)
    codec = _BLOCK_CODECS.get(ttype)
    if codec is None:
        raise QuantError("cannot quantize to %s" % gi.ggml_type_name(ttype))
    name, blck, _ = gi.GGML_TYPES[ttype]
    if x.ndim == 0 or x.shape[-1] % blck != 0:
        raise QuantError("row length %s is not a multiple of the %s block "
                         "size %d" % (x.shape[-1:] or "()", name, blck))
    blocks = x.reshape(-1, blck)
    if ttype in (gi.GGML_Q4_K, gi.GGML_Q5_K, gi.GGML_Q6_K):
        out = codec[0](blocks, fast)
    else:
        out = codec[0](blocks)
    return out.reshape(-1)


def dequantize(raw, ttype, ne):
    """Dequantizes raw bytes of ggml type ttype and dimensions ne (ggml
    order) into a float64 numpy array of shape reversed(ne)."""
    ne = tuple(int(d) for d in ne)
    shape = tuple(reversed(ne))
    raw = np.frombuffer(raw, dtype=np.uint8) if not isinstance(
        raw, np.ndarray) else raw.reshape(-1).view(np.uint8)
    need = gi.ggml_nbytes(ttype, ne)
    if raw.size != need:
        raise QuantError("%s %r needs %d bytes, got %d" % (
            gi.ggml_type_name(ttype), ne, need, raw.size))
    if ttype == gi.GGML_F32:
        return raw.view("<f4").astype(np.float64).reshape(shape)
    if ttype == gi.GGML_F16:
        return raw.view("<f2").astype(np.float64).reshape(shape)
    if ttype == gi.GGML_BF16:
        return bf16_value(raw.view("<u2")).astype(np.float64).reshape(shape)
    codec = _BLOCK_CODECS.get(ttype)
    if codec is None:
        raise QuantError("cannot dequantize %s" % gi.ggml_type_name(ttype))
    _, _, tsize = gi.GGML_TYPES[ttype]
    return codec[1](raw.reshape(-1, tsize)).reshape(shape)


def roundtrip(x, ttype):
    """quantize then dequantize (float64), for activation simulation."""
    x = np.asarray(x)
    return dequantize(quantize(x, ttype), ttype,
                      tuple(reversed(x.shape))).reshape(x.shape)
