"""GGUF reader and writer in Python (numpy), independent of the C engine.

GGUF is the container llama.cpp and ggml use for models.  Everything is
little-endian:

    header   "GGUF" magic, uint32 version (2 or 3), uint64 tensor count,
             uint64 metadata count
    metadata count x (string key, uint32 value type, value)
    tensors  count x (string name, uint32 n_dims, uint64 ne[n_dims],
             uint32 ggml type, uint64 offset relative to the data section)
    padding  to `general.alignment` (default 32) from the file start
    data     each tensor at its offset (a multiple of the alignment), each
             followed by padding up to the alignment

A string is a uint64 byte length and that many bytes of UTF-8 (no NUL).  An
array is a uint32 element type, a uint64 count and the elements; arrays may
nest.  ne[0] is the row length (contiguous), as in ggml; numpy shapes are the
reverse of ne.  Version 1 (32-bit counts) is refused; version 2 and 3 share
this layout (3 only added a big-endian variant, which is refused here too).

The reader validates every length, count and offset against the file size
before it uses it, and raises GGUFError with a message naming the file, the
item and the byte offset.  The writer produces the same bytes as llama.cpp's
gguf-py for the same content: keys and tensors in the order added, tensor
data padded to the alignment.
"""

import mmap
import os
import struct

import numpy as np

GGUF_MAGIC = b"GGUF"
GGUF_DEFAULT_ALIGNMENT = 32
GGML_MAX_DIMS = 4

# Metadata value types, numbered as in gguf.
T_UINT8 = 0
T_INT8 = 1
T_UINT16 = 2
T_INT16 = 3
T_UINT32 = 4
T_INT32 = 5
T_FLOAT32 = 6
T_BOOL = 7
T_STRING = 8
T_ARRAY = 9
T_UINT64 = 10
T_INT64 = 11
T_FLOAT64 = 12

VALUE_TYPE_NAMES = {
    T_UINT8: "uint8", T_INT8: "int8", T_UINT16: "uint16", T_INT16: "int16",
    T_UINT32: "uint32", T_INT32: "int32", T_FLOAT32: "float32",
    T_BOOL: "bool", T_STRING: "string", T_ARRAY: "array",
    T_UINT64: "uint64", T_INT64: "int64", T_FLOAT64: "float64",
}

# Fixed-size scalar types: struct format and numpy dtype.
_SCALAR = {
    T_UINT8: ("<B", np.dtype("<u1")),
    T_INT8: ("<b", np.dtype("<i1")),
    T_UINT16: ("<H", np.dtype("<u2")),
    T_INT16: ("<h", np.dtype("<i2")),
    T_UINT32: ("<I", np.dtype("<u4")),
    T_INT32: ("<i", np.dtype("<i4")),
    T_FLOAT32: ("<f", np.dtype("<f4")),
    T_BOOL: ("<?", np.dtype("<u1")),
    T_UINT64: ("<Q", np.dtype("<u8")),
    T_INT64: ("<q", np.dtype("<i8")),
    T_FLOAT64: ("<d", np.dtype("<f8")),
}

# ggml tensor types: id -> (name, elements per block, bytes per block).
# Numbered exactly as ggml numbers them; ids 4, 5 and 31-33, 36-38 were
# removed from ggml and are refused.
GGML_F32 = 0
GGML_F16 = 1
GGML_Q4_0 = 2
GGML_Q4_1 = 3
GGML_Q5_0 = 6
GGML_Q5_1 = 7
GGML_Q8_0 = 8
GGML_Q8_1 = 9
GGML_Q2_K = 10
GGML_Q3_K = 11
GGML_Q4_K = 12
GGML_Q5_K = 13
GGML_Q6_K = 14
GGML_Q8_K = 15
GGML_BF16 = 30

GGML_TYPES = {
    0: ("F32", 1, 4),
    1: ("F16", 1, 2),
    2: ("Q4_0", 32, 18),
    3: ("Q4_1", 32, 20),
    6: ("Q5_0", 32, 22),
    7: ("Q5_1", 32, 24),
    8: ("Q8_0", 32, 34),
    9: ("Q8_1", 32, 36),
    10: ("Q2_K", 256, 84),
    11: ("Q3_K", 256, 110),
    12: ("Q4_K", 256, 144),
    13: ("Q5_K", 256, 176),
    14: ("Q6_K", 256, 210),
    15: ("Q8_K", 256, 292),
    16: ("IQ2_XXS", 256, 66),
    17: ("IQ2_XS", 256, 74),
    18: ("IQ3_XXS", 256, 98),
    19: ("IQ1_S", 256, 50),
    20: ("IQ4_NL", 32, 18),
    21: ("IQ3_S", 256, 110),
    22: ("IQ2_S", 256, 82),
    23: ("IQ4_XS", 256, 136),
    24: ("I8", 1, 1),
    25: ("I16", 1, 2),
    26: ("I32", 1, 4),
    27: ("I64", 1, 8),
    28: ("F64", 1, 8),
    29: ("IQ1_M", 256, 56),
    30: ("BF16", 1, 2),
    34: ("TQ1_0", 256, 54),
    35: ("TQ2_0", 256, 66),
    39: ("MXFP4", 32, 17),
}

GGML_TYPE_BY_NAME = {v[0]: k for k, v in GGML_TYPES.items()}


class GGUFError(Exception):
    """A malformed file or a value that cannot be written."""


def ggml_type_name(t):
    """Returns the ggml name of type id t, or 'type N' when unknown."""
    info = GGML_TYPES.get(t)
    return info[0] if info else "type %d" % t


def ggml_row_nbytes(t, n):
    """Bytes of a row of n elements of type t; n must fill whole blocks."""
    name, blck, tsize = GGML_TYPES[t]
    if n % blck != 0:
        raise GGUFError("row of %d elements is not a multiple of the %s "
                        "block size %d" % (n, name, blck))
    return n // blck * tsize


def ggml_nbytes(t, ne):
    """Bytes of a tensor of type t with dimensions ne (ne[0] = row)."""
    nrows = 1
    for d in ne[1:]:
        nrows *= d
    return ggml_row_nbytes(t, ne[0]) * nrows


def _pad(n, align):
    return (n + align - 1) // align * align


class Value:
    """A typed metadata value.

    type is one of the T_* ids.  For scalars, value is an int, float, bool
    or str.  For arrays, elem_type is the element type and value is a list
    (arrays of arrays: a list of Value objects) or, for numeric elements, a
    numpy array.
    """

    __slots__ = ("type", "value", "elem_type")

    def __init__(self, vtype, value, elem_type=None):
        if vtype not in VALUE_TYPE_NAMES:
            raise GGUFError("unknown metadata value type %r" % (vtype,))
        if vtype == T_ARRAY and elem_type not in VALUE_TYPE_NAMES:
            raise GGUFError("array needs a valid element type, not %r"
                            % (elem_type,))
        self.type = vtype
        self.value = value
        self.elem_type = elem_type

    def plain(self):
        """The value as plain Python (lists for arrays, recursively)."""
        if self.type != T_ARRAY:
            return self.value
        if self.elem_type == T_ARRAY:
            return [v.plain() for v in self.value]
        if isinstance(self.value, np.ndarray):
            if self.elem_type == T_BOOL:
                return [bool(x) for x in self.value]
            return self.value.tolist()
        return list(self.value)

    def __repr__(self):
        if self.type == T_ARRAY:
            return "Value(array[%s] x %d)" % (
                VALUE_TYPE_NAMES[self.elem_type], len(self.value))
        return "Value(%s, %r)" % (VALUE_TYPE_NAMES[self.type], self.value)


class TensorInfo:
    """One tensor of a file: name, ne (ggml order), ggml type, offset
    relative to the data section, size in bytes and, once read, data (a
    read-only uint8 numpy view of the bytes)."""

    __slots__ = ("name", "ne", "type", "offset", "nbytes", "data")

    def __init__(self, name, ne, ttype, offset, nbytes, data=None):
        self.name = name
        self.ne = tuple(ne)
        self.type = ttype
        self.offset = offset
        self.nbytes = nbytes
        self.data = data

    @property
    def shape(self):
        """The numpy shape (ne reversed)."""
        return tuple(reversed(self.ne))

    @property
    def n_elements(self):
        n = 1
        for d in self.ne:
            n *= d
        return n

    def __repr__(self):
        return "TensorInfo(%r, ne=%r, %s, off=%d)" % (
            self.name, self.ne, ggml_type_name(self.type), self.offset)


# ---------------------------------------------------------------------------
# Reader

class _Cursor:
    """Bounds-checked little-endian reads from a buffer."""

    def __init__(self, buf, path):
        self.buf = buf
        self.size = len(buf)
        self.off = 0
        self.path = path

    def fail(self, what, off=None):
        raise GGUFError("%s: %s at offset %d" % (
            self.path, what, self.off if off is None else off))

    def need(self, n, what):
        if n < 0 or n > self.size - self.off:
            self.fail("%s: needs %d bytes, %d left in file (size %d)"
                      % (what, n, self.size - self.off, self.size))

    def scalar(self, vtype, what):
        fmt, _ = _SCALAR[vtype]
        n = struct.calcsize(fmt)
        self.need(n, what)
        (v,) = struct.unpack_from(fmt, self.buf, self.off)
        self.off += n
        return v

    def u32(self, what):
        return self.scalar(T_UINT32, what)

    def u64(self, what):
        return self.scalar(T_UINT64, what)

    def string(self, what):
        start = self.off
        n = self.u64(what + " length")
        if n > self.size - self.off:
            self.fail("%s: length %d past end of file (size %d)"
                      % (what, n, self.size), start)
        raw = bytes(self.buf[self.off:self.off + n])
        self.off += n
        # surrogateescape keeps invalid UTF-8 byte for byte on rewrite.
        return raw.decode("utf-8", "surrogateescape")


def _read_value(cur, vtype, what, depth=0):
    if vtype in _SCALAR:
        v = cur.scalar(vtype, what)
        if vtype == T_BOOL:
            raw = cur.buf[cur.off - 1]
            if raw > 1:
                cur.fail("%s: bool value %d is neither 0 nor 1" % (what, raw),
                         cur.off - 1)
        return Value(vtype, v)
    if vtype == T_STRING:
        return Value(T_STRING, cur.string(what))
    if vtype == T_ARRAY:
        if depth >= 8:
            cur.fail("%s: arrays nested deeper than 8" % what)
        start = cur.off
        et = cur.u32(what + " element type")
        if et not in VALUE_TYPE_NAMES:
            cur.fail("%s: unknown array element type %d" % (what, et), start)
        n = cur.u64(what + " count")
        if et in _SCALAR:
            dt = _SCALAR[et][1]
            if n > (cur.size - cur.off) // dt.itemsize:
                cur.fail("%s: %d elements of %s past end of file (size %d)"
                         % (what, n, VALUE_TYPE_NAMES[et], cur.size), start)
            arr = np.frombuffer(cur.buf, dtype=dt, count=n, offset=cur.off)
            if et == T_BOOL and n and int(arr.max()) > 1:
                cur.fail("%s: bool element is neither 0 nor 1" % what)
            cur.off += n * dt.itemsize
            return Value(T_ARRAY, arr.copy(), et)
        # Strings and arrays take at least 8 and 12 bytes each.
        least = 8 if et == T_STRING else 12
        if n > (cur.size - cur.off) // least:
            cur.fail("%s: count %d cannot fit in the file (size %d)"
                     % (what, n, cur.size), start)
        items = []
        for i in range(n):
            item = _read_value(cur, et, "%s[%d]" % (what, i), depth + 1)
            items.append(item if et == T_ARRAY else item.value)
        return Value(T_ARRAY, items, et)
    cur.fail("%s: unknown value type %d" % (what, vtype))
    return None


class GGUFFile:
    """A parsed GGUF file.

    Attributes: path, version, alignment, kv (dict key -> Value, in file
    order), tensors (dict name -> TensorInfo, in file order, data filled in
    as read-only views of the mapping), data_offset (absolute offset of the
    data section), size (file size).  Use close() or a with block to drop
    the mapping.
    """

    def __init__(self, path):
        self.path = path
        self._file = open(path, "rb")
        try:
            self.size = os.fstat(self._file.fileno()).st_size
            if self.size == 0:
                raise GGUFError("%s: empty file" % os.path.basename(path))
            self._map = mmap.mmap(self._file.fileno(), 0,
                                  access=mmap.ACCESS_READ)
        except BaseException:
            self._file.close()
            raise
        try:
            self._parse(memoryview(self._map))
        except BaseException:
            self.close()
            raise

    def _parse(self, buf):
        cur = _Cursor(buf, os.path.basename(self.path))
        cur.need(4, "magic")
        magic = bytes(buf[0:4])
        if magic != GGUF_MAGIC:
            cur.fail("bad magic %r (expected %r)" % (magic, GGUF_MAGIC), 0)
        cur.off = 4
        self.version = cur.u32("version")
        if self.version == 1:
            cur.fail("version 1 is not supported (32-bit counts)", 4)
        if self.version not in (2, 3):
            cur.fail("unsupported version %d" % self.version, 4)
        n_tensors = cur.u64("tensor count")
        n_kv = cur.u64("metadata count")
        # Each key-value takes at least 12 bytes, each tensor info 24.
        if n_kv > (self.size - cur.off) // 12:
            cur.fail("metadata count %d cannot fit in the file (size %d)"
                     % (n_kv, self.size), 16)
        if n_tensors > (self.size - cur.off) // 24:
            cur.fail("tensor count %d cannot fit in the file (size %d)"
                     % (n_tensors, self.size), 8)

        self.kv = {}
        for i in range(n_kv):
            start = cur.off
            key = cur.string("metadata %d key" % i)
            if key in self.kv:
                cur.fail("metadata %d: duplicate key '%s'" % (i, key), start)
            vtype = cur.u32("metadata %d '%s' type" % (i, key))
            if vtype not in VALUE_TYPE_NAMES:
                cur.fail("metadata %d '%s': unknown value type %d"
                         % (i, key, vtype), cur.off - 4)
            self.kv[key] = _read_value(cur, vtype,
                                       "metadata %d '%s'" % (i, key))

        self.alignment = GGUF_DEFAULT_ALIGNMENT
        al = self.kv.get("general.alignment")
        if al is not None:
            if al.type != T_UINT32:
                raise GGUFError("%s: general.alignment has type %s, not "
                                "uint32" % (cur.path,
                                            VALUE_TYPE_NAMES[al.type]))
            if al.value == 0 or al.value & (al.value - 1):
                raise GGUFError("%s: general.alignment %d is not a power of "
                                "two" % (cur.path, al.value))
            self.alignment = al.value

        infos = []
        names = set()
        for i in range(n_tensors):
            start = cur.off
            name = cur.string("tensor %d name" % i)
            what = "tensor %d '%s'" % (i, name)
            if name in names:
                cur.fail("%s: duplicate name" % what, start)
            names.add(name)
            n_dims = cur.u32(what + " n_dims")
            if n_dims == 0 or n_dims > GGML_MAX_DIMS:
                cur.fail("%s: n_dims %d out of range 1..%d"
                         % (what, n_dims, GGML_MAX_DIMS), cur.off - 4)
            ne = []
            for d in range(n_dims):
                v = cur.u64("%s ne[%d]" % (what, d))
                if v == 0 or v >= 1 << 63:
                    cur.fail("%s: ne[%d] = %d out of range"
                             % (what, d, v), cur.off - 8)
                ne.append(v)
            nel = 1
            for v in ne:
                nel *= v
            if nel >= 1 << 63:
                cur.fail("%s: %d elements overflow int64" % (what, nel),
                         start)
            ttype = cur.u32(what + " type")
            if ttype not in GGML_TYPES:
                cur.fail("%s: unknown ggml type %d" % (what, ttype),
                         cur.off - 4)
            tname, blck, _ = GGML_TYPES[ttype]
            if ne[0] % blck != 0:
                cur.fail("%s: row length ne[0] = %d is not a multiple of the "
                         "%s block size %d" % (what, ne[0], tname, blck),
                         start)
            offset = cur.u64(what + " offset")
            if offset % self.alignment != 0:
                cur.fail("%s: data offset %d is not a multiple of the "
                         "alignment %d" % (what, offset, self.alignment),
                         cur.off - 8)
            infos.append(TensorInfo(name, ne, ttype, offset,
                                    ggml_nbytes(ttype, ne)))

        self.data_offset = _pad(cur.off, self.alignment)
        if n_tensors and self.data_offset > self.size:
            cur.fail("data section at %d past end of file (size %d)"
                     % (self.data_offset, self.size))
        self.tensors = {}
        avail = self.size - self.data_offset
        spans = []
        for i, t in enumerate(infos):
            if t.offset > avail or t.nbytes > avail - t.offset:
                raise GGUFError(
                    "%s: tensor %d '%s': data [%d, %d) past end of file "
                    "(size %d)" % (cur.path, i, t.name,
                                   self.data_offset + t.offset,
                                   self.data_offset + t.offset + t.nbytes,
                                   self.size))
            spans.append((t.offset, t.offset + t.nbytes, i, t.name))
            t.data = np.frombuffer(buf, dtype=np.uint8, count=t.nbytes,
                                   offset=self.data_offset + t.offset)
            self.tensors[t.name] = t
        spans.sort()
        for a, b in zip(spans, spans[1:]):
            if b[0] < a[1]:
                raise GGUFError("%s: tensor %d '%s' overlaps tensor %d '%s'"
                                % (cur.path, b[2], b[3], a[2], a[3]))

    def close(self):
        """Drops the mapping; tensor data views become invalid."""
        for t in getattr(self, "tensors", {}).values():
            t.data = None
        if getattr(self, "_map", None) is not None:
            try:
                self._map.close()
            except BufferError:
                # A caller still holds a view; the mapping goes with it.
                pass
            self._map = None
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def get(self, key, default=None):
        """The plain value of key, or default when absent."""
        v = self.kv.get(key)
        return default if v is None else v.plain()

    def require(self, key, types=None):
        """The plain value of key; GGUFError naming the key when absent or
        of a type not in types (a tuple of T_* ids)."""
        v = self.kv.get(key)
        if v is None:
            raise GGUFError("%s: missing metadata key '%s'"
                            % (os.path.basename(self.path), key))
        if types is not None and v.type not in types:
            raise GGUFError("%s: metadata '%s' has type %s" % (
                os.path.basename(self.path), key, VALUE_TYPE_NAMES[v.type]))
        return v.plain()

    def tensor(self, name):
        """The TensorInfo of name; GGUFError when absent."""
        t = self.tensors.get(name)
        if t is None:
            raise GGUFError("%s: missing tensor '%s'"
                            % (os.path.basename(self.path), name))
        return t


def read(path):
    """Parses path; returns a GGUFFile (close it when done)."""
    return GGUFFile(path)


# ---------------------------------------------------------------------------
# Writer

def _pack_string(s):
    raw = s.encode("utf-8", "surrogateescape") if isinstance(s, str) else s
    return struct.pack("<Q", len(raw)) + raw


def _pack_value(v, out):
    if v.type in _SCALAR:
        fmt = _SCALAR[v.type][0]
        if v.type == T_BOOL:
            out.append(struct.pack("<B", 1 if v.value else 0))
        else:
            try:
                out.append(struct.pack(fmt, v.value))
            except struct.error as e:
                raise GGUFError("value %r does not fit %s: %s" % (
                    v.value, VALUE_TYPE_NAMES[v.type], e)) from e
        return
    if v.type == T_STRING:
        out.append(_pack_string(v.value))
        return
    # Arrays.
    items = v.value
    out.append(struct.pack("<IQ", v.elem_type, len(items)))
    if v.elem_type in _SCALAR:
        dt = _SCALAR[v.elem_type][1]
        if v.elem_type == T_BOOL:
            arr = np.asarray([1 if x else 0 for x in items], dtype=dt)
        else:
            arr = np.asarray(items)
            if arr.size and dt.kind in "iu":
                info = np.iinfo(dt)
                if arr.min() < info.min or arr.max() > info.max:
                    raise GGUFError("array element out of range of %s"
                                    % VALUE_TYPE_NAMES[v.elem_type])
            arr = arr.astype(dt)
        out.append(arr.tobytes())
    elif v.elem_type == T_STRING:
        out.extend(_pack_string(s) for s in items)
    else:
        for item in items:
            if not isinstance(item, Value) or item.type != T_ARRAY:
                raise GGUFError("an array of arrays holds Value arrays")
            _pack_value(item, out)


class GGUFWriter:
    """Builds a GGUF v3 file.

    Add metadata with add(key, T_*, value) or the typed helpers, tensors with
    add_tensor(), then write(path).  Keys and tensors keep the order they are
    added in.  Tensor data may be given as bytes, a numpy array, or a
    callable returning either (called once, at write time, so large models
    can be produced one tensor at a time).
    """

    def __init__(self, alignment=GGUF_DEFAULT_ALIGNMENT):
        if alignment <= 0 or alignment & (alignment - 1):
            raise GGUFError("alignment %d is not a power of two" % alignment)
        self.alignment = alignment
        self.kv = {}
        self.tensors = []
        self._names = set()
        if alignment != GGUF_DEFAULT_ALIGNMENT:
            self.add("general.alignment", T_UINT32, alignment)

    def add(self, key, vtype, value, elem_type=None):
        """Adds key with a value of type vtype (arrays: elem_type)."""
        if key in self.kv:
            raise GGUFError("duplicate metadata key '%s'" % key)
        self.kv[key] = value if isinstance(value, Value) else \
            Value(vtype, value, elem_type)

    def add_value(self, key, value):
        """Adds an existing Value (for copying metadata between files)."""
        self.add(key, value.type, value)

    def add_u32(self, key, v):
        self.add(key, T_UINT32, int(v))

    def add_i32(self, key, v):
        self.add(key, T_INT32, int(v))

    def add_u64(self, key, v):
        self.add(key, T_UINT64, int(v))

    def add_f32(self, key, v):
        self.add(key, T_FLOAT32, float(v))

    def add_bool(self, key, v):
        self.add(key, T_BOOL, bool(v))

    def add_str(self, key, v):
        self.add(key, T_STRING, str(v))

    def add_array(self, key, elem_type, items):
        self.add(key, T_ARRAY, items, elem_type)

    def add_tensor(self, name, ne, ttype, data, nbytes=None):
        """Adds tensor name with dimensions ne (ggml order, ne[0] = row
        length) of ggml type ttype.  data: bytes, a numpy array, or a
        callable returning one; nbytes must then match ne and ttype."""
        if name in self._names:
            raise GGUFError("duplicate tensor '%s'" % name)
        if ttype not in GGML_TYPES:
            raise GGUFError("tensor '%s': unknown ggml type %r"
                            % (name, ttype))
        ne = tuple(int(d) for d in ne)
        if not 1 <= len(ne) <= GGML_MAX_DIMS or min(ne) <= 0:
            raise GGUFError("tensor '%s': bad dimensions %r" % (name, ne))
        want = ggml_nbytes(ttype, ne)
        if nbytes is not None and nbytes != want:
            raise GGUFError("tensor '%s': %d bytes given, %s %r needs %d"
                            % (name, nbytes, ggml_type_name(ttype), ne,
                               want))
        if not callable(data):
            n = data.nbytes if isinstance(data, np.ndarray) else len(data)
            if n != want:
                raise GGUFError("tensor '%s': %d bytes given, %s %r needs %d"
                                % (name, n, ggml_type_name(ttype), ne, want))
        self._names.add(name)
        self.tensors.append((name, ne, ttype, want, data))

    def header_bytes(self):
        """Everything before the data section, padding included."""
        out = [GGUF_MAGIC, struct.pack("<IQQ", 3, len(self.tensors),
                                       len(self.kv))]
        for key, v in self.kv.items():
            out.append(_pack_string(key))
            out.append(struct.pack("<I", v.type))
            _pack_value(v, out)
        offset = 0
        for name, ne, ttype, nbytes, _ in self.tensors:
            out.append(_pack_string(name))
            out.append(struct.pack("<I", len(ne)))
            out.append(struct.pack("<%dQ" % len(ne), *ne))
            out.append(struct.pack("<IQ", ttype, offset))
            offset += _pad(nbytes, self.alignment)
        head = b"".join(out)
        if not self.tensors:
            # As gguf-py: a file without tensors (a vocabulary) ends here.
            return head
        return head + b"\0" * (_pad(len(head), self.alignment) - len(head))

    def write(self, path):
        """Writes the file to path (through a temporary file renamed into
        place, so a reader never sees half a file)."""
        tmp = "%s.tmp.%d" % (path, os.getpid())
        try:
            with open(tmp, "wb") as f:
                f.write(self.header_bytes())
                for name, ne, ttype, nbytes, data in self.tensors:
                    if callable(data):
                        data = data()
                    if isinstance(data, np.ndarray):
                        data = np.ascontiguousarray(data).view(np.uint8) \
                            .reshape(-1)
                        n = data.nbytes
                    else:
                        n = len(data)
                    if n != nbytes:
                        raise GGUFError("tensor '%s': producer gave %d bytes,"
                                        " expected %d" % (name, n, nbytes))
                    f.write(data)
                    f.write(b"\0" * (_pad(nbytes, self.alignment) - nbytes))
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise


def copy_metadata(src, writer, prefix):
    """Copies every key of GGUFFile src starting with prefix to writer."""
    for key, v in src.kv.items():
        if key.startswith(prefix):
            writer.add_value(key, v)
