"""Pure image logic for thumbnails: a (C, Y, X) numpy plane and channel settings in, an RGB image out.

No I/O happens here; ``thumbnails`` reads the plane and writes the files.
The steps are:

1. ``get_display_channels`` decides, per channel, the colour and the
   intensity window: the ``omero`` settings when the dataset has them, else
   robust auto-contrast (percentiles) with default colours.
2. ``render_plane`` box-reduces the plane close to the target size (so a big
   plane never becomes a big float image), composites the channels
   additively and resamples with Lanczos to the exact size, keeping the
   physical aspect ratio.

Label images are coloured by a hash of the label id and resampled with
nearest-neighbour, since averaging ids would invent labels.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Mapping, Sequence

import numpy as np
from PIL import Image

from generator.records import Channel
from generator.thumbnails.labels import paint
from generator.thumbnails.windows import boost_flat_windows

# Bumped whenever the output for the same input changes; part of the thumbnail key.
RENDER_VERSION = 2

GREY = "FFFFFF"
RGB = ("FF0000", "00FF00", "0000FF")
# Distinguishable additive colours for 2+ channels without omero settings.
PALETTE = ("FF00FF", "00FF00", "00FFFF", "FFFF00", "FF0000", "0000FF", "FF8000", "8080FF")
# Compositing more auto-coloured channels than this only saturates to white.
MAX_AUTO_CHANNELS = len(PALETTE)
LOW_PERCENTILE = 0.5
HIGH_PERCENTILE = 99.5
# A plane is box-reduced to at most this many times the output size before compositing.
OVERSAMPLE = 2
PERCENTILE_SAMPLE = 1 << 18


def parse_color(color: str | None) -> tuple[float, float, float] | None:
    """'RRGGBB' (optionally '#RRGGBB') → RGB in 0..1; None when absent or malformed."""
    if not color or not isinstance(color, str):
        return None
    c = color.strip().lstrip("#")
    if len(c) != 6:
        return None
    try:
        return tuple(int(c[i : i + 2], 16) / 255.0 for i in (0, 2, 4))  # type: ignore[return-value]
    except ValueError:
        return None


def get_output_size(height: int, width: int, size: int, pixel_aspect: float = 1.0) -> tuple[int, int]:
    """(width, height) of the rendering: longest side ``size``, never beyond the native plane.

    ``pixel_aspect`` is the physical height of a pixel over its width, so a
    plane of 100 rows of 3 µm by 300 columns of 1 µm is square.
    """
    if not (pixel_aspect > 0 and math.isfinite(pixel_aspect)):
        pixel_aspect = 1.0
    phys_h, phys_w = height * pixel_aspect, float(width)
    # Anisotropic pixels stretch one axis; the native size is the larger of the two.
    native = max(phys_h, phys_w, 1.0)
    scale = min(size, native) / max(phys_h, phys_w)
    return max(1, round(phys_w * scale)), max(1, round(phys_h * scale))


def _finite(values: np.ndarray) -> np.ndarray:
    if values.dtype.kind == "f":
        return values[np.isfinite(values)]
    return values.ravel()


def get_auto_window(values: np.ndarray) -> tuple[float, float]:
    """Robust (low, high) intensity window: the 0.5/99.5 percentiles of the finite values.

    Sparse images (mostly background, a few bright spots) have equal
    percentiles; they fall back to min/max so the spots stay visible. A
    truly flat image returns low == high, which renders as a constant.
    """
    v = _finite(values)
    if v.size > PERCENTILE_SAMPLE:
        # A strided sample gives the same percentiles to display precision, much faster.
        v = v[:: v.size // PERCENTILE_SAMPLE]
    if v.size == 0:
        return 0.0, 0.0
    if v.dtype == bool:
        return 0.0, 1.0
    lo, hi = np.percentile(v, (LOW_PERCENTILE, HIGH_PERCENTILE))
    if hi <= lo:
        lo, hi = v.min(), v.max()
    return float(lo), float(hi)


def _default_colors(n: int, dtype: np.dtype) -> list[str]:
    if n == 1:
        return [GREY]
    if n == 3 and dtype == np.uint8:
        return list(RGB)
    return [PALETTE[i % len(PALETTE)] for i in range(n)]


def get_display_channels(
    planes: Sequence[np.ndarray], channels: Sequence[Channel] = (), *, dtype: np.dtype | None = None
) -> tuple[Channel, ...]:
    """One fully specified Channel (colour, window, active) per plane channel.

    ``planes`` are (C, Y, X) arrays sharing their channels (several for a
    plate, so all wells share one contrast). The omero ``channels`` are used
    when they describe exactly C channels; missing colours or windows are
    filled in. Without them: auto-contrast, default colours, and three uint8
    channels are shown as the RGB image they almost surely are. ``dtype`` is
    the stored data type when ``planes`` were already reduced to floats.
    """
    if not planes:
        return ()
    n = planes[0].shape[0]
    dtype = np.dtype(dtype) if dtype is not None else planes[0].dtype
    given = list(channels) if len(channels) == n else []
    if given and not any(c.active for c in given):
        # An all-inactive omero block would give a black thumbnail; show everything instead.
        given = [dataclasses.replace(c, active=True) for c in given]
    defaults = _default_colors(n, dtype)
    rgb = not given and n == 3 and dtype == np.uint8
    out: list[Channel] = []
    for i in range(n):
        ch = given[i] if given else Channel(active=i < MAX_AUTO_CHANNELS)
        color = ch.color if parse_color(ch.color) else defaults[i]
        start, end = ch.window_start, ch.window_end
        usable = (
            start is not None and end is not None and math.isfinite(start) and math.isfinite(end) and end > start
        )
        if rgb:
            start, end = 0.0, 255.0
        elif not usable and ch.active:
            lo, hi = get_auto_window(np.concatenate([_finite(p[i]) for p in planes]))
            start, end = lo, hi
        out.append(Channel(label=ch.label, color=color, window_start=start, window_end=end, active=ch.active))
    return tuple(out)


def _box_reduce(channel: np.ndarray, fy: int, fx: int) -> np.ndarray:
    """Mean over fy×fx blocks (NaN-aware), as float32; edge rows/columns that do not fill a block are dropped."""
    if fy == 1 and fx == 1:
        return channel.astype(np.float32, copy=False)
    h, w = channel.shape[0] // fy, channel.shape[1] // fx
    blocks = channel[: h * fy, : w * fx].reshape(h, fy, w, fx)
    if channel.dtype.kind == "f":
        with np.errstate(invalid="ignore", divide="ignore"):
            finite = np.isfinite(blocks)
            total = np.where(finite, blocks, 0).sum(axis=(1, 3), dtype=np.float64)
            count = finite.sum(axis=(1, 3))
            return np.where(count > 0, total / np.maximum(count, 1), np.nan).astype(np.float32)
    return blocks.mean(axis=(1, 3), dtype=np.float32)


def _reduce_factors(height: int, width: int, out_w: int, out_h: int) -> tuple[int, int]:
    return max(1, height // (OVERSAMPLE * out_h)), max(1, width // (OVERSAMPLE * out_w))


def label_colors(ids: np.ndarray) -> np.ndarray:
    """Stable, well-spread RGB (uint8) for integer label ids; 0 (background) is black."""
    h = ids.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    h ^= h >> np.uint64(29)
    rgb = np.stack([(h >> np.uint64(s)) & np.uint64(0xFF) for s in (8, 24, 40)], axis=-1).astype(np.uint8)
    # Keep labels bright enough to see against the black background.
    rgb = (rgb.astype(np.uint16) // 2 + 96).astype(np.uint8)
    rgb[ids == 0] = 0
    return rgb


def _render_labels(
    plane: np.ndarray, out_w: int, out_h: int, colors: Mapping[int, tuple[int, int, int]] | None = None
) -> Image.Image:
    fy, fx = _reduce_factors(plane.shape[1], plane.shape[2], out_w, out_h)
    ids = plane[0, ::fy, ::fx]
    if ids.dtype.kind == "f":
        ids = np.nan_to_num(ids, nan=0.0)
    ids = ids.astype(np.int64)
    ids[ids < 0] = 0
    img = Image.fromarray(paint(ids, label_colors(ids), colors or {}), "RGB")
    return img.resize((out_w, out_h), Image.Resampling.NEAREST)


def composite(plane: np.ndarray, channels: Sequence[Channel]) -> np.ndarray:
    """Additive composite of a (C, Y, X) plane with display channels → (Y, X, 3) uint8."""
    rgb = np.zeros(plane.shape[1:] + (3,), dtype=np.float32)
    for data, ch in zip(plane, channels):
        color = parse_color(ch.color)
        if not ch.active or color is None or ch.window_start is None or ch.window_end is None:
            continue
        lo, hi = float(ch.window_start), float(ch.window_end)
        values = data.astype(np.float32, copy=False)
        if hi > lo:
            norm = (values - np.float32(lo)) * np.float32(1.0 / (hi - lo))
        else:
            # Flat: draw a constant (mid level where there is signal), never stretched noise.
            norm = np.where(values > 0, np.float32(0.5), np.float32(0.0))
        norm = np.nan_to_num(np.clip(norm, 0.0, 1.0), nan=0.0)
        for k in range(3):
            if color[k]:
                rgb[..., k] += norm * np.float32(color[k])
    return (np.clip(rgb, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def render_plane(
    plane: np.ndarray,
    channels: Sequence[Channel] = (),
    *,
    pixel_aspect: float = 1.0,
    size: int = 256,
    labels: bool = False,
    label_colors: Mapping[int, tuple[int, int, int]] | None = None,
) -> Image.Image:
    """Render a (C, Y, X) plane as an RGB image whose longest side is ``size`` (or the native size, if smaller).

    ``channels`` are the omero settings (any missing parts are filled by
    auto-contrast); ``pixel_aspect`` is pixel height / pixel width in
    physical units; ``labels`` colours integer ids instead of intensities
    (``label_colors``, the ``image-label`` colours, where they name the id).
    """
    return render_image(plane, channels, pixel_aspect=pixel_aspect, size=size, labels=labels, label_colors=label_colors)[0]


def render_image(
    plane: np.ndarray,
    channels: Sequence[Channel] = (),
    *,
    pixel_aspect: float = 1.0,
    size: int = 256,
    labels: bool = False,
    label_colors: Mapping[int, tuple[int, int, int]] | None = None,
    boost: bool = True,
) -> tuple[Image.Image, tuple[str, ...]]:
    """``render_plane``, and what the rendering says about the dataset (a window replaced by auto-contrast).

    ``boost`` False keeps the given windows whatever they do (a montage's
    wells share one contrast, judged over the whole plate).
    """
    if plane.ndim == 2:
        plane = plane[np.newaxis]
    if plane.ndim != 3:
        raise ValueError(f"expected a (C, Y, X) plane, got shape {plane.shape}")
    c, height, width = plane.shape
    if c == 0 or height == 0 or width == 0:
        raise ValueError(f"empty plane {plane.shape}")
    out_w, out_h = get_output_size(height, width, size, pixel_aspect)
    if labels:
        return _render_labels(plane, out_w, out_h, label_colors), ()
    fy, fx = _reduce_factors(height, width, out_w, out_h)
    if fy == 1 and fx == 1:
        reduced = plane
    else:
        reduced = np.stack([_box_reduce(plane[i], fy, fx) for i in range(c)])
    display = get_display_channels([reduced], channels, dtype=plane.dtype)
    notes: tuple[str, ...] = ()
    if boost and len(channels) == c:
        display, notes = boost_flat_windows(
            reduced, display, channels, lambda: get_display_channels([reduced], (), dtype=plane.dtype)
        )
    img = Image.fromarray(composite(reduced, display), "RGB")
    if img.size != (out_w, out_h):
        img = img.resize((out_w, out_h), Image.Resampling.LANCZOS)
    return img, notes

EMPTY_WELL = (48, 48, 48)


MONTAGE_BACKGROUND = (20, 20, 20)


def render_montage(
    planes: Sequence[np.ndarray],
    positions: Sequence[tuple[int, int]],
    rows: int,
    cols: int,
    channels: Sequence[Channel],
    size: int,
    labels: bool = False,
) -> Image.Image:
    """Plate layout: each plane in its (row, column) cell; empty wells dark grey. Pure (no I/O)."""
    return render_montage_image(planes, positions, rows, cols, channels, size, labels)[0]


def render_montage_image(
    planes: Sequence[np.ndarray],
    positions: Sequence[tuple[int, int]],
    rows: int,
    cols: int,
    channels: Sequence[Channel],
    size: int,
    labels: bool = False,
) -> tuple[Image.Image, tuple[str, ...]]:
    """``render_montage``, and what it says about the plate (a window replaced by auto-contrast)."""
    gap = 1 if max(rows, cols) > 1 else 0
    cell = max(2, (size - gap * (max(rows, cols) + 1)) // max(rows, cols))
    native = max(max(p.shape[1], p.shape[2]) for p in planes)
    cell = min(cell, native)
    canvas = Image.new("RGB", (cols * cell + (cols + 1) * gap, rows * cell + (rows + 1) * gap), MONTAGE_BACKGROUND)
    for r in range(rows):
        for c in range(cols):
            canvas.paste(EMPTY_WELL, _cell_box(r, c, cell, gap))
    # One contrast for the whole plate, so wells can be compared.
    same = [p for p in planes if p.shape[0] == planes[0].shape[0]]
    display = get_display_channels(same, channels) if not labels else ()
    notes: tuple[str, ...] = ()
    if display and len(channels) == len(display):
        # The window is judged over every well drawn, as the contrast is shared.
        pooled = np.concatenate([p.reshape(p.shape[0], 1, -1) for p in same], axis=2)
        display, notes = boost_flat_windows(pooled, display, channels, lambda: get_display_channels(same, ()))
    for plane, (r, c) in zip(planes, positions):
        shown = display if plane.shape[0] == len(display) else channels
        img = render_image(plane, shown, size=cell, labels=labels, boost=False)[0]
        x0, y0, _, _ = _cell_box(r, c, cell, gap)
        canvas.paste(img, (x0 + (cell - img.width) // 2, y0 + (cell - img.height) // 2))
    return canvas, notes


def _cell_box(r: int, c: int, cell: int, gap: int) -> tuple[int, int, int, int]:
    x0, y0 = gap + c * (cell + gap), gap + r * (cell + gap)
    return x0, y0, x0 + cell, y0 + cell
