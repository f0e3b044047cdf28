"""Bounded chunk decoding: a decoded chunk never exceeds the size its metadata declares.

A compressed chunk is tiny on the wire and may claim any size: a 128 KB
zstd frame can declare 4 GiB of output, 2 MB of gzip can hold 2 GiB of
zeros, and the stock codecs allocate whatever the data asks for. The read
budget counts the bytes received, not the bytes decoded, so every
compressor of an array opened for a thumbnail is swapped for a bounded one:

- before decoding, the size a frame declares (zstd content size, blosc and
  lz4 headers) is checked against the chunk's declared size;
- while decoding, streams without a declared size (gzip, zlib, bz2, zstd
  without a content size) are decompressed with an output limit;
- a codec whose output cannot be bounded is refused when the array is
  opened, before any chunk is fetched.

The declared size is the chunk's shape times its item size, plus what the
codecs between the compressor and the array add (a 4-byte checksum). After
a codec whose output size varies (a second compressor, a shard), the limit
is that size plus a small fraction (``LOOSE_FRACTION``, ``LOOSE_SLACK``).
"""

from __future__ import annotations

import asyncio
import bz2
import dataclasses
import math
import zlib
from dataclasses import dataclass
from typing import Any, Iterable

import numcodecs.blosc
import numcodecs.lz4
import numcodecs.zstd
import numpy as np
from numcodecs.abc import Codec as Numcodec
from numcodecs.compat import ensure_bytes, ndarray_copy
from zarr.abc.codec import ArrayArrayCodec, ArrayBytesCodec, BytesBytesCodec, Codec
from zarr.codecs.sharding import ShardingCodec
from zarr.core.metadata import ArrayV2Metadata, ArrayV3Metadata

from generator.plan import ThumbnailSkipped

# Compressors decoded here with a bound on their output.
BOUNDED_DECODERS = ("zstd", "gzip", "zlib", "bz2", "blosc", "lz4")
# Codecs that add a fixed number of bytes when encoding (and remove them when decoding).
CHECKSUM_BYTES = {"crc32c": 4, "crc32": 4, "adler32": 4, "fletcher32": 4, "jenkins_lookup3": 4}
# Element-wise array codecs and filters: the output is the declared chunk, whatever the input.
ELEMENTWISE = frozenset({"transpose", "delta", "fixedscaleoffset", "quantize", "bitround", "astype", "shuffle"})
# Limit for a decoded size that is not known exactly (after a shard or a second compressor).
LOOSE_FRACTION = 8  # size + size / 8
LOOSE_SLACK = 64 * 1024

ZSTD_MAGIC = 0xFD2FB528


class ChunkTooLarge(ThumbnailSkipped):
    """A chunk that declares or decodes to more than its declared size."""


@dataclass(frozen=True)
class Limit:
    """How large one compressor's output may be: exactly ``size + extra``, or about ``size`` when ``extra`` is None."""

    extra: int | None
    where: str  # "level 0", for messages

    def bytes_for(self, size: int) -> tuple[int | None, int]:
        """(exact expected size or None, cap) for a chunk whose decoded array holds ``size`` bytes."""
        if self.extra is not None:
            return size + self.extra, size + self.extra
        return None, size + size // LOOSE_FRACTION + LOOSE_SLACK


def _name(codec: Any) -> str:
    name = getattr(codec, "codec_name", None) or getattr(codec, "codec_id", None)
    if not isinstance(name, str):
        name = codec.to_dict().get("name", type(codec).__name__)
    return str(name).removeprefix("numcodecs.")


def _refuse(name: str, where: str) -> ThumbnailSkipped:
    return ThumbnailSkipped(
        f"thumbnail skipped: codec {name!r} at {where}: its decoded size cannot be bounded, so it is not decoded"
    )


def _too_large(kind: str, where: str, what: str, cap: int) -> ChunkTooLarge:
    return ChunkTooLarge(
        f"thumbnail skipped: a {kind} chunk at {where} {what}, more than the {cap} bytes its declared chunk holds "
        "(a decompression bomb, or metadata that understates the chunks)"
    )


# ---------------------------------------------------------------- bounded decoders (pure)


def zstd_content_size(data: bytes) -> int | None:
    """The content size a zstd frame header declares, or None when it declares none (RFC 8878, 3.1.1.1)."""
    if len(data) < 5 or int.from_bytes(data[:4], "little") != ZSTD_MAGIC:
        raise ValueError("not a zstd frame")
    fhd = data[4]
    fcs_flag, single_segment, did_flag = fhd >> 6, (fhd >> 5) & 1, fhd & 3
    fcs_len = (1 if single_segment else 0, 2, 4, 8)[fcs_flag]
    if fcs_len == 0:
        return None
    pos = 5 + (0 if single_segment else 1) + (0, 1, 2, 4)[did_flag]
    if len(data) < pos + fcs_len:
        raise ValueError("truncated zstd frame header")
    value = int.from_bytes(data[pos : pos + fcs_len], "little")
    return value + 256 if fcs_len == 2 else value


def _decode_zstd(data: bytes, expected: int | None, cap: int, where: str) -> bytes:
    declared = zstd_content_size(data)
    if declared is not None and declared > cap:
        raise _too_large("zstd", where, f"declares {declared} bytes of output", cap)
    size = declared if declared is not None else expected
    if size is None:
        raise ChunkTooLarge(f"thumbnail skipped: a zstd chunk at {where} declares no content size, and its size is not known to bound it")
    # Decoded into a buffer of exactly that size: the decoder fails rather than grow it.
    try:
        return bytes(numcodecs.zstd.decompress(data, bytearray(size)))
    except (RuntimeError, ValueError) as e:
        if declared is None and "too small" in str(e):
            raise _too_large("zstd", where, f"decodes to more than {size} bytes", cap) from None
        raise


def _decode_stream(kind: str, data: bytes, cap: int, where: str) -> bytes:
    """gzip (any number of members), zlib or bz2, decompressed with an output limit."""
    out = bytearray()
    rest = data
    while rest:
        d: Any = bz2.BZ2Decompressor() if kind == "bz2" else zlib.decompressobj(31 if kind == "gzip" else 15)
        # Ask for one byte more than allowed: getting it proves the chunk too large. Never 0 (unlimited).
        out += d.decompress(rest, cap + 1 - len(out))
        if len(out) > cap:
            raise _too_large(kind, where, f"decodes to more than {cap} bytes", cap)
        if not d.eof:
            raise ValueError(f"truncated {kind} stream")
        rest = d.unused_data
        if kind == "zlib" or not rest.strip(b"\0"):
            break  # zlib has one stream; gzip may end in zero padding
    return bytes(out)


def _decode_with_header(kind: str, data: bytes, cap: int, where: str) -> bytes:
    """blosc and lz4 state their output size in a header; the decoder allocates exactly that."""
    if kind == "blosc":
        if len(data) < 16:
            raise ValueError("truncated blosc header")
        declared = int.from_bytes(data[4:8], "little")
        if int.from_bytes(data[12:16], "little") > len(data):
            raise ValueError("truncated blosc chunk (its header claims more bytes than it has)")
    else:
        if len(data) < 4:
            raise ValueError("truncated lz4 header")
        declared = int.from_bytes(data[:4], "little", signed=True)
    if declared > cap:
        raise _too_large(kind, where, f"declares {declared} bytes of output", cap)
    decoder = numcodecs.blosc.decompress if kind == "blosc" else numcodecs.lz4.decompress
    return bytes(decoder(data))


def decode_bounded(kind: str, data: bytes, expected: int | None, cap: int, where: str) -> bytes:
    """Decode one chunk with compressor ``kind``; ChunkTooLarge past ``cap`` bytes (checked before and while decoding)."""
    if kind == "zstd":
        return _decode_zstd(data, expected, cap, where)
    if kind in ("gzip", "zlib", "bz2"):
        return _decode_stream(kind, data, cap, where)
    return _decode_with_header(kind, data, cap, where)


# ---------------------------------------------------------------- Zarr v3: bounded codecs


@dataclass(frozen=True)
class BoundedCodec(BytesBytesCodec):
    """A compressor of a Zarr v3 array, read-only, whose output is bounded by the chunk it decodes."""

    inner: BytesBytesCodec
    kind: str
    limit: Limit
    is_fixed_size = False

    def to_dict(self) -> dict[str, Any]:
        return self.inner.to_dict()

    async def _decode_single(self, chunk_bytes: Any, chunk_spec: Any) -> Any:
        native = chunk_spec.dtype.to_native_dtype()
        expected, cap = self.limit.bytes_for(math.prod(chunk_spec.shape) * native.itemsize)
        data = chunk_bytes.to_bytes()
        out = await asyncio.to_thread(decode_bounded, self.kind, data, expected, cap, self.limit.where)
        return chunk_spec.prototype.buffer.from_bytes(out)

    async def _encode_single(self, chunk_bytes: Any, chunk_spec: Any) -> Any:
        raise NotImplementedError("thumbnail arrays are read-only")

    def compute_encoded_size(self, input_byte_length: int, chunk_spec: Any) -> int:
        raise NotImplementedError


def bound_codecs(codecs: Iterable[Codec], where: str) -> tuple[Codec, ...]:
    """A v3 codec chain with every compressor bounded; ThumbnailSkipped for a codec that cannot be."""
    out: list[Codec] = []
    extra: int | None = 0  # bytes the codecs so far add to the array's own, None once not exact
    for codec in codecs:
        name = _name(codec)
        if isinstance(codec, ArrayArrayCodec):
            if name not in ELEMENTWISE:
                raise _refuse(name, where)
        elif isinstance(codec, ShardingCodec):
            codec = ShardingCodec(
                chunk_shape=codec.chunk_shape,
                codecs=bound_codecs(codec.codecs, where),
                index_codecs=bound_codecs(codec.index_codecs, f"{where} (shard index)"),
                index_location=codec.index_location,
            )
            extra = None  # a shard's encoded size varies with its chunks
        elif isinstance(codec, ArrayBytesCodec):
            if name != "bytes":
                raise _refuse(name, where)
        elif isinstance(codec, BytesBytesCodec):
            if name in CHECKSUM_BYTES:
                extra = None if extra is None else extra + CHECKSUM_BYTES[name]
            elif name in BOUNDED_DECODERS:
                codec = BoundedCodec(inner=codec, kind=name, limit=Limit(extra, where))
                extra = None  # a compressed stream's size varies
            elif name not in ELEMENTWISE:  # "shuffle" keeps the size
                raise _refuse(name, where)
        else:
            raise _refuse(name, where)
        out.append(codec)
    return tuple(out)


# ---------------------------------------------------------------- Zarr v2: a bounded compressor


class BoundedCompressor(Numcodec):
    """A Zarr v2 compressor, read-only, whose output may not exceed the chunk size (fixed per array in v2)."""

    codec_id = "ngff-catalog-bounded"

    def __init__(self, inner: Numcodec, kind: str, expected: int | None, cap: int, where: str) -> None:
        self.inner, self.kind, self.expected, self.cap, self.where = inner, kind, expected, cap, where

    def decode(self, buf: Any, out: Any = None) -> Any:
        result = decode_bounded(self.kind, ensure_bytes(buf), self.expected, self.cap, self.where)
        return result if out is None else ndarray_copy(result, out)

    def encode(self, buf: Any) -> bytes:
        raise NotImplementedError("thumbnail arrays are read-only")

    def get_config(self) -> dict[str, Any]:
        return self.inner.get_config()


def _itemsize_ratio(f: Numcodec) -> tuple[int, int]:
    """(encoded, decoded) item sizes of an element-wise filter, e.g. (1, 8) for float64 stored as uint8."""
    decoded = getattr(f, "decode_dtype", None) or getattr(f, "dtype", None)
    encoded = getattr(f, "encode_dtype", None) or getattr(f, "astype", None) or decoded
    if decoded is None:
        return 1, 1
    return np.dtype(encoded).itemsize, np.dtype(decoded).itemsize


def bound_v2(meta: ArrayV2Metadata, where: str) -> ArrayV2Metadata:
    native = meta.dtype.to_native_dtype()
    if native.hasobject:
        raise _refuse(f"object dtype {native}", where)
    size = math.prod(meta.chunks) * native.itemsize
    # What the compressor must produce: the chunk as the filters encode it, exactly.
    for f in meta.filters or ():
        name = _name(f)
        if name in CHECKSUM_BYTES:
            size += CHECKSUM_BYTES[name]
        elif name in ELEMENTWISE:
            enc, dec = _itemsize_ratio(f)
            size = size * enc // dec
        else:
            raise _refuse(name, where)
    compressor = meta.compressor
    if compressor is None:
        return meta
    name = _name(compressor)
    if name not in BOUNDED_DECODERS:
        raise _refuse(name, where)
    return dataclasses.replace(meta, compressor=BoundedCompressor(compressor, name, size, size, where))


def bound_array_metadata(meta: ArrayV2Metadata | ArrayV3Metadata, where: str) -> ArrayV2Metadata | ArrayV3Metadata:
    """The same array with bounded decoding, or ThumbnailSkipped naming a codec that cannot be bounded."""
    if isinstance(meta, ArrayV2Metadata):
        return bound_v2(meta, where)
    if meta.data_type.to_native_dtype().hasobject:
        raise _refuse(f"variable-length data type {meta.data_type}", where)
    return dataclasses.replace(meta, codecs=bound_codecs(meta.codecs, where))
