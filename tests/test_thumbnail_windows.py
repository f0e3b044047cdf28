"""Thumbnail facts: a window beyond the data type, the rdefs plane, label colours; served by the local server."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
import zarr
from PIL import Image

from generator.config import ThumbnailConfig
from generator.dev.samples import ChannelSpec, write_image
from generator.fetch.http import Fetcher
from generator.harvest.dataset import harvest_one
from generator.plan import AxisRoles, DefaultPlane, get_plane_selection
from generator.records import Channel, Dataset, Entry
from generator.thumbnails.make import make_thumbnails
from generator.thumbnails.render import render_montage_image

from .conftest import StaticServer, start_static_server

CONFIG = ThumbnailConfig(workers=2)
LABEL_COLOURS = {1: (230, 40, 20), 2: (20, 200, 60)}


def _bands() -> np.ndarray:
    """uint8, one channel: vertical bands from 0 to 255 (its full range)."""
    row = np.linspace(0, 255, 256).astype(np.uint8)
    return np.tile(row, (1, 256, 1))


def _marked_planes() -> np.ndarray:
    """(t=3, z=5, 60, 100): each plane is dark with one bright block at (row t, column z) of a 3 x 5 grid."""
    data = np.full((3, 5, 60, 100), 10, dtype=np.uint16)
    for t in range(3):
        for z in range(5):
            data[t, z, t * 20 : t * 20 + 20, z * 20 : z * 20 + 20] = 1000
    return data


def _write_labelled(path: Path) -> None:
    mask = np.zeros((1, 128, 128), dtype=np.uint8)
    mask[0, :, :64] = 1
    mask[0, :, 64:] = 2
    write_image(path, np.zeros((1, 128, 128), dtype=np.uint16), levels=1, labels={"cells": mask})
    label = zarr.open_group(str(path / "labels" / "cells"), mode="r+")
    ome = dict(label.attrs["ome"])
    ome["image-label"] = {**ome["image-label"], "colors": [
        {"label-value": v, "rgba": [*rgb, 255]} for v, rgb in LABEL_COLOURS.items()
    ]}
    label.attrs.update({"ome": ome})


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[StaticServer, Path]]:
    root = tmp_path_factory.mktemp("windows")
    www = root / "www"
    www.mkdir()
    write_image(www / "wide_window.zarr", _bands(), levels=1, channels=[ChannelSpec("gray", "FFFFFF", 0, 3000)])
    write_image(www / "sane_window.zarr", _bands(), levels=1, channels=[ChannelSpec("gray", "FFFFFF", 0, 255)])
    write_image(www / "rdefs.zarr", _marked_planes(), axes="tzyx", levels=1,
                extra_attrs=None, name="marked")
    group = zarr.open_group(str(www / "rdefs.zarr"), mode="r+")
    ome = dict(group.attrs["ome"])
    ome["omero"] = {"channels": [{"color": "FFFFFF", "window": {"start": 0, "end": 1000, "min": 0, "max": 65535}}],
                    "rdefs": {"defaultZ": 3, "defaultT": 2, "model": "greyscale"}}
    group.attrs.update({"ome": ome})
    _write_labelled(www / "labelled.zarr")
    server, info = start_static_server(www)
    try:
        yield info, root / "site"
    finally:
        server.stop()


def built(served: tuple[StaticServer, Path], name: str) -> tuple[Dataset, Image.Image | None]:
    info, out = served

    async def go() -> Dataset:
        async with Fetcher(allow_private_addresses=True) as f:
            ds = await harvest_one(Entry(url=info.url_for(name), source="t", collection="t", listings=()), f)
            return (await make_thumbnails([ds], f, out, CONFIG))[0]

    ds = asyncio.run(go())
    thumb = ds.thumbnail
    img = Image.open(out / (thumb.detail or thumb.card)).convert("RGB") if thumb is not None else None
    return ds, img


def test_window_beyond_uint8_warns_and_falls_back_to_auto_contrast(served: tuple[StaticServer, Path]) -> None:
    ds, img = built(served, "wide_window.zarr")
    assert any("window 0–3000 lies outside the uint8 range 0–255" in w for w in ds.warnings), ds.warnings
    assert any("nearly flat; drawn with auto-contrast" in w for w in ds.warnings), ds.warnings
    assert img is not None
    grey = np.asarray(img.convert("L"), dtype=np.float64)
    # Drawn with the 0-3000 window, the bands would span 0-21 of 255 (std about 6).
    assert grey.std() > 50 and np.percentile(grey, 99) - np.percentile(grey, 1) > 200


def test_a_reused_thumbnail_still_says_it_was_auto_contrasted(served: tuple[StaticServer, Path]) -> None:
    first, _ = built(served, "wide_window.zarr")
    again, _ = built(served, "wide_window.zarr")  # the same key: the file is reused, nothing rendered
    assert again.thumbnail is not None and again.thumbnail.card == first.thumbnail.card
    assert [w for w in again.warnings if "auto-contrast" in w] == [w for w in first.warnings if "auto-contrast" in w] != []


def test_a_sane_window_is_kept(served: tuple[StaticServer, Path]) -> None:
    ds, img = built(served, "sane_window.zarr")
    assert not any("auto-contrast" in w or "lies outside" in w for w in ds.warnings), ds.warnings
    assert img is not None and np.asarray(img.convert("L")).std() > 50


def test_rdefs_choose_the_plane(served: tuple[StaticServer, Path]) -> None:
    ds, img = built(served, "rdefs.zarr")
    assert img is not None, ds.warnings
    grey = np.asarray(img.convert("L"), dtype=np.float64)
    h, w = grey.shape
    blocks = grey[: h // 3 * 3, : w // 5 * 5].reshape(3, h // 3, 5, w // 5).mean(axis=(1, 3))
    # The bright block of plane (t=2, z=3): row 2, column 3, not middle z / first t (row 0, column 2).
    assert np.unravel_index(np.argmax(blocks), blocks.shape) == (2, 3)
    assert blocks[2, 3] > 200 and blocks[0, 2] < 60


def test_rdefs_indices_follow_a_level_downsampled_along_z() -> None:
    roles = AxisRoles(y=2, x=3, z=1, t=0)
    assert get_plane_selection((3, 8, 10, 10), roles, DefaultPlane(z=5, t=2), (3, 16, 40, 40)) == (2, 2, slice(None), slice(None))
    # Out of range: the default plane (first t, middle z).
    assert get_plane_selection((3, 8, 10, 10), roles, DefaultPlane(z=99, t=7)) == (0, 4, slice(None), slice(None))


def test_label_thumbnail_in_its_image_label_colours(served: tuple[StaticServer, Path]) -> None:
    ds, img = built(served, "labelled.zarr/labels/cells")
    assert ds.kind == "labels" and img is not None, ds.warnings
    px = np.asarray(img, dtype=np.int32)
    h, w, _ = px.shape
    left, right = px[h // 2, w // 4], px[h // 2, 3 * w // 4]
    assert np.abs(left - LABEL_COLOURS[1]).max() <= 12, left
    assert np.abs(right - LABEL_COLOURS[2]).max() <= 12, right


def test_plate_montage_with_a_flat_window_falls_back_once_for_the_whole_plate() -> None:
    bright = _bands()
    dim = (_bands() // 4).astype(np.uint8)
    window = (Channel(label="gray", color="FFFFFF", window_start=0, window_end=3000),)
    img, notes = render_montage_image([bright, dim], [(0, 0), (0, 1)], rows=1, cols=2, channels=window, size=200)
    assert len(notes) == 1 and "auto-contrast" in notes[0]
    grey = np.asarray(img.convert("L"), dtype=np.float64)
    h, w = grey.shape
    left, right = grey[h // 4 : 3 * h // 4, 2 : w // 2 - 2], grey[h // 4 : 3 * h // 4, w // 2 + 2 : w - 2]
    # One contrast for the plate: the dim well stays dimmer than the bright one, and neither is black.
    assert left.max() > 200 and 20 < right.max() < left.max() - 80


def test_auto_contrast_is_computed_only_for_a_flat_window() -> None:
    """Percentiles of every channel are the fallback's cost: paid only when a stated window is flat."""
    from generator.thumbnails.windows import boost_flat_windows

    plane = np.stack([_bands().astype(np.uint16), (_bands() // 2).astype(np.uint16)])
    display = (Channel(window_start=0, window_end=255, active=True), Channel(window_start=0, window_end=255, active=True))
    calls: list[int] = []

    def get_auto() -> tuple[Channel, ...]:
        calls.append(1)
        return (Channel(window_start=0, window_end=255, active=True), Channel(window_start=0, window_end=127, active=True))

    shown, notes = boost_flat_windows(plane, display, display, get_auto)
    assert (shown, notes, calls) == (display, (), [])

    flat = (display[0], Channel(window_start=0, window_end=60000, active=True))
    shown, notes = boost_flat_windows(plane, flat, flat, get_auto)
    assert calls == [1]
    assert (shown[1].window_start, shown[1].window_end) == (0, 127)
    assert shown[0] == display[0] and len(notes) == 1 and "channel 1" in notes[0]
