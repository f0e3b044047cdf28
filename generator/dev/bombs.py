"""Compressed bytes that decode to far more than they weigh, for the tests and benchmarks of bounded decoding.

Real codecs' own formats, built by hand so that writing a 4 GiB bomb never
needs 4 GiB: a zstd frame of RLE blocks costs 4 bytes per 128 KiB of output.
"""

from __future__ import annotations

import zlib

ZSTD_BLOCK = 128 * 1024  # the largest block a zstd frame may hold
MIB = 1024 * 1024


def zstd_rle_frame(blocks: int, declared: int | None) -> bytes:
    """A zstd frame of ``blocks`` RLE blocks of 128 KiB, declaring ``declared`` bytes of content, or none."""
    if declared is not None:
        header = bytes([0b11100000]) + declared.to_bytes(8, "little")  # single segment, 8-byte content size
    else:
        header = bytes([0b00000000, (17 - 10) << 3])  # no content size; a 128 KiB window
    body = b"".join(
        ((ZSTD_BLOCK << 3) | (1 << 1) | (1 if i == blocks - 1 else 0)).to_bytes(3, "little") + b"\x07"
        for i in range(blocks)
    )
    return (0xFD2FB528).to_bytes(4, "little") + header + body


def zstd_bomb(size: int) -> bytes:
    """A zstd frame that honestly declares and decodes to ``size`` bytes (a multiple of 128 KiB)."""
    return zstd_rle_frame(size // ZSTD_BLOCK, size)


def deflate_of_zeros(size: int, wbits: int = 31) -> bytes:
    """``size`` zero bytes deflated: gzip with ``wbits`` 31, zlib with 15 (about 1/1000 of the size)."""
    c = zlib.compressobj(9, zlib.DEFLATED, wbits)
    piece = bytes(MIB)
    return b"".join(c.compress(piece) for _ in range(size // MIB)) + c.flush()
