"""Decompression bombs: a decoded chunk never exceeds its declared chunk size.

Each hostile dataset is a 256 x 256 uint8 image written by zarr-python whose
one chunk is replaced by a bomb (its metadata says 65,536 bytes). Built
against a real local server beside a good dataset, which keeps its thumbnail.
"""

from __future__ import annotations

import json
from pathlib import Path

import numcodecs
import numpy as np
import pytest

from generator.dev.bombs import deflate_of_zeros, zstd_rle_frame
from generator.dev.samples import gradient, write_image
from generator.thumbnails.decode import ChunkTooLarge, decode_bounded, zstd_content_size

from .conftest import Host
from .test_hostile_text import (
    assert_good,
    edit_json,
    run_build,
    write_good,
)

CHUNK = 256 * 256  # bytes the metadata declares for the one chunk
MIB = 1024 * 1024


def blosc_lying_header(declared: int) -> bytes:
    real = numcodecs.Blosc(cname="lz4").encode(np.full(CHUNK, 5, "u1"))
    return real[:4] + declared.to_bytes(4, "little") + real[8:]


def write_v3_bomb(root: Path, name: str, codec: dict, chunk: bytes) -> None:
    write_image(root / name, gradient((256, 256), "uint8"), axes="yx", version="0.5", levels=1, chunks=(256, 256))
    edit_json(root / name / "0" / "zarr.json", lambda d: d.update(codecs=[{"name": "bytes"}, codec]))
    (root / name / "0" / "c" / "0" / "0").write_bytes(chunk)


def write_v2_bomb(root: Path, name: str, compressor: dict, chunk: bytes) -> None:
    write_image(root / name, gradient((256, 256), "uint8"), axes="yx", version="0.4", levels=1, chunks=(256, 256))
    edit_json(root / name / "0" / ".zarray", lambda d: d.update(compressor=compressor))
    (root / name / "0" / "0" / "0").write_bytes(chunk)


def test_zstd_content_size_is_read_from_the_frame_header() -> None:
    assert zstd_content_size(numcodecs.Zstd().encode(bytes(1000))) == 1000
    assert zstd_content_size(zstd_rle_frame(2, 4 * 1024 * MIB)) == 4 * 1024 * MIB
    assert zstd_content_size(zstd_rle_frame(2, None)) is None


@pytest.mark.parametrize(
    ("kind", "data", "message"),
    [
        ("zstd", zstd_rle_frame(512, 4 * 1024 * MIB), "declares 4294967296 bytes of output"),
        ("zstd", zstd_rle_frame(512, None), "decodes to more than 65536 bytes"),
        ("gzip", deflate_of_zeros(16 * MIB), "decodes to more than 65536 bytes"),
        ("zlib", deflate_of_zeros(16 * MIB, 15), "decodes to more than 65536 bytes"),
        ("blosc", blosc_lying_header(1024 * MIB), "declares 1073741824 bytes of output"),
    ],
)
def test_bounded_decoders_stop_at_the_declared_size(kind: str, data: bytes, message: str) -> None:
    with pytest.raises(ChunkTooLarge, match=f"^thumbnail skipped: a {kind} chunk at level 0 {message}, more than the 65536 bytes"):
        decode_bounded(kind, data, CHUNK, CHUNK, "level 0")


def test_bounded_decoders_decode_honest_chunks() -> None:
    raw = np.arange(CHUNK, dtype="u1").tobytes()
    for kind, codec in [("zstd", numcodecs.Zstd()), ("gzip", numcodecs.GZip()), ("zlib", numcodecs.Zlib()), ("bz2", numcodecs.BZ2()),
                        ("blosc", numcodecs.Blosc()), ("lz4", numcodecs.LZ4())]:
        assert decode_bounded(kind, codec.encode(raw), CHUNK, CHUNK, "level 0") == raw, kind
    # A zstd frame without a content size decodes when its exact size is known.
    assert decode_bounded("zstd", zstd_rle_frame(1, None), 128 * 1024, 128 * 1024, "level 0") == b"\x07" * 128 * 1024


def test_bombs_get_a_warning_and_no_thumbnail_the_rest_of_the_build_is_untouched(host: Host, www: Path, tmp_path: Path) -> None:
    write_good(www)
    write_image(www / "good-v2.zarr", gradient((1, 64, 64), "uint8"), version="0.4", name="Good v2")
    zstd = {"name": "zstd", "configuration": {"level": 0, "checksum": False}}
    write_v3_bomb(www, "zstd-declared.zarr", zstd, zstd_rle_frame(512, 4 * 1024 * MIB))
    write_v3_bomb(www, "zstd-streamed.zarr", zstd, zstd_rle_frame(512, None))
    write_v3_bomb(www, "gzip.zarr", {"name": "gzip", "configuration": {"level": 5}}, deflate_of_zeros(16 * MIB))
    blosc = {"name": "blosc", "configuration": {"cname": "lz4", "clevel": 5, "shuffle": "noshuffle", "typesize": 1, "blocksize": 0}}
    write_v3_bomb(www, "blosc.zarr", blosc, blosc_lying_header(1024 * MIB))
    write_v2_bomb(www, "zlib-v2.zarr", {"id": "zlib", "level": 1}, deflate_of_zeros(16 * MIB, 15))
    write_v2_bomb(www, "unknown-v2.zarr", {"id": "lzma", "format": 1, "check": -1, "preset": None, "filters": None}, b"\0" * 64)
    names = ["good.zarr", "good-v2.zarr", "zstd-declared.zarr", "zstd-streamed.zarr", "gzip.zarr", "blosc.zarr", "zlib-v2.zarr", "unknown-v2.zarr"]
    urls = {n: host.url(n) for n in names}

    datasets = run_build(tmp_path, list(urls.values()))

    assert_good(tmp_path, datasets, urls["good.zarr"])
    assert_good(tmp_path, datasets, urls["good-v2.zarr"])
    expected = {
        "zstd-declared.zarr": "thumbnail skipped: a zstd chunk at level 0 declares 4294967296 bytes of output, more than the 65536 bytes its declared chunk holds",
        "zstd-streamed.zarr": "thumbnail skipped: a zstd chunk at level 0 decodes to more than 65536 bytes",
        "gzip.zarr": "thumbnail skipped: a gzip chunk at level 0 decodes to more than 65536 bytes",
        "blosc.zarr": "thumbnail skipped: a blosc chunk at level 0 declares 1073741824 bytes of output",
        "zlib-v2.zarr": "thumbnail skipped: a zlib chunk at level 0 decodes to more than 65536 bytes",
        "unknown-v2.zarr": "thumbnail skipped: codec 'lzma' at level 0: its decoded size cannot be bounded, so it is not decoded",
    }
    for name, message in expected.items():
        d = datasets[urls[name]]
        assert d["status"] == "ok" and d["thumbnail"] is None, (name, d["errors"])
        assert any(w.startswith(message) for w in d["warnings"]), (name, d["warnings"])
    catalog = json.loads((tmp_path / "site" / "catalog.json").read_text())
    assert len(catalog["datasets"]) == len(names)
