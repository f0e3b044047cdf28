"""render.py is pure: numpy planes and channel settings in, RGB images out. No I/O here."""

from __future__ import annotations

import numpy as np
import pytest

from generator.records import Channel
from generator.thumbnails.render import (
    get_auto_window,
    get_display_channels,
    get_output_size,
    label_colors,
    render_montage,
    render_plane,
)


def rgb(img, x: int, y: int) -> tuple[int, int, int]:
    return img.getpixel((x, y))


def two_halves(dtype: str = "uint16", value: int = 1000) -> np.ndarray:
    plane = np.zeros((2, 64, 128), dtype=dtype)
    plane[0, :, :64] = value
    plane[1, :, 64:] = value
    return plane


def test_red_green_omero_composite() -> None:
    chans = (Channel("a", "FF0000", 0, 1000), Channel("b", "00FF00", 0, 1000))
    img = render_plane(two_halves(), chans, size=128)
    assert img.mode == "RGB" and img.size == (128, 64)
    assert rgb(img, 10, 30) == (255, 0, 0)
    assert rgb(img, 120, 30) == (0, 255, 0)


def test_omero_window_clips_below_start_and_above_end() -> None:
    plane = np.array([[[0, 100, 150, 200, 900]]], dtype="uint16")
    img = render_plane(plane, (Channel(color="FFFFFF", window_start=100, window_end=200),), size=5)
    reds = [rgb(img, x, 0)[0] for x in range(5)]
    assert reds == [0, 0, 128, 255, 255]


def test_inactive_channels_are_left_out_and_all_inactive_shows_all() -> None:
    chans = (Channel("a", "FF0000", 0, 1000), Channel("b", "00FF00", 0, 1000, active=False))
    img = render_plane(two_halves(), chans, size=128)
    assert rgb(img, 120, 30) == (0, 0, 0)
    none_active = tuple(Channel(c.label, c.color, c.window_start, c.window_end, False) for c in chans)
    img = render_plane(two_halves(), none_active, size=128)
    assert rgb(img, 120, 30) == (0, 255, 0)


def test_channel_count_mismatch_falls_back_to_auto_colours() -> None:
    img = render_plane(two_halves(), (Channel("only", "FF0000", 0, 10),), size=128)
    # Default two-channel palette: magenta and green.
    assert rgb(img, 10, 30) == (255, 0, 255)
    assert rgb(img, 120, 30) == (0, 255, 0)


def test_missing_window_uses_auto_contrast_with_given_colour() -> None:
    plane = np.arange(100, dtype="uint16").reshape(1, 10, 10) + 5000
    img = render_plane(plane, (Channel(color="00FFFF"),), size=10)
    low, high = rgb(img, 0, 0), rgb(img, 9, 9)
    assert low == (0, 0, 0) and high[1] == 255 and high[2] == 255 and high[0] == 0


def test_flat_images_are_not_stretched_into_noise() -> None:
    for dtype in ("uint8", "uint16", "int32", "float32"):
        img = render_plane(np.full((1, 40, 40), 7, dtype=dtype), size=40)
        arr = np.asarray(img)
        assert arr.std() == 0, dtype
        assert tuple(arr[0, 0]) == (128, 128, 128), dtype
    zero = np.asarray(render_plane(np.zeros((1, 40, 40), dtype="uint16"), size=40))
    assert zero.max() == 0


def test_auto_contrast_ignores_outliers_but_keeps_sparse_spots() -> None:
    rng = np.random.default_rng(1)
    plane = rng.integers(1000, 2000, size=(1, 100, 100)).astype("uint16")
    plane[0, 0, 0] = 65535  # one hot pixel must not squash the rest to black
    lo, hi = get_auto_window(plane[0])
    assert 1000 <= lo < 1020 and 1980 < hi <= 2000
    sparse = np.zeros((100, 100), dtype="uint16")
    sparse[50, 50] = 500
    assert get_auto_window(sparse) == (0.0, 500.0)


def test_float_with_nan_and_inf_renders_nan_black() -> None:
    plane = np.linspace(0, 1, 64 * 64, dtype="float32").reshape(1, 64, 64)
    plane[0, :8, :8] = np.nan
    plane[0, -1, -1] = np.inf
    arr = np.asarray(render_plane(plane, size=64))
    assert arr[2, 2].max() == 0
    assert arr[60, 30].min() > 150  # the gradient is visible, not crushed by the inf
    all_nan = np.full((1, 8, 8), np.nan, dtype="float32")
    assert np.asarray(render_plane(all_nan, size=8)).max() == 0


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "uint32", "int8", "int16", "int32", "int64", "float64"])
def test_every_numeric_dtype_renders_a_gradient(dtype: str) -> None:
    info = np.iinfo(dtype) if np.dtype(dtype).kind in "iu" else None
    lo, hi = (info.min, info.max) if info else (-1.0, 1.0)
    if info:  # exact integer steps across the whole range (a float linspace would overflow int64)
        row = np.array([int(lo) + (int(hi) - int(lo)) * i // 31 for i in range(32)], dtype=dtype)
    else:
        row = np.linspace(lo, hi, 32).astype(dtype)
    plane = row[None, None, :].repeat(8, axis=1)
    arr = np.asarray(render_plane(plane, size=32))
    assert arr[4, 0].max() == 0 and arr[4, -1].min() == 255
    assert np.all(np.diff(arr[4, :, 0].astype(int)) >= 0)


def test_bool_plane() -> None:
    plane = np.zeros((1, 16, 16), dtype=bool)
    plane[0, 4:12, 4:12] = True
    arr = np.asarray(render_plane(plane, size=16))
    assert tuple(arr[8, 8]) == (255, 255, 255) and tuple(arr[0, 0]) == (0, 0, 0)


def test_three_uint8_channels_are_rgb_without_stretching() -> None:
    plane = np.zeros((3, 8, 8), dtype="uint8")
    plane[:, :, :] = np.array([100, 50, 25])[:, None, None]
    assert rgb(render_plane(plane, size=8), 3, 3) == (100, 50, 25)
    # Three uint16 channels are not RGB: they get the palette and auto-contrast.
    chans = get_display_channels([plane.astype("uint16")])
    assert [c.color for c in chans] == ["FF00FF", "00FF00", "00FFFF"]


def test_single_channel_is_grey() -> None:
    plane = np.arange(256, dtype="uint8").reshape(1, 16, 16)
    r, g, b = rgb(render_plane(plane, size=16), 8, 8)
    assert r == g == b


def test_aspect_ratio_and_no_upsampling() -> None:
    img = render_plane(np.ones((1, 300, 600), dtype="uint8"), size=256)
    assert img.size == (256, 128)
    img = render_plane(np.ones((1, 600, 300), dtype="uint8"), size=256)
    assert img.size == (128, 256)
    assert render_plane(np.ones((1, 50, 80), dtype="uint8"), size=1024).size == (80, 50)
    # 100 rows of 3 µm by 300 columns of 1 µm is physically square.
    assert get_output_size(100, 300, 256, pixel_aspect=3.0) == (256, 256)
    assert render_plane(np.ones((1, 100, 300), dtype="uint8"), pixel_aspect=3.0, size=256).size == (256, 256)
    # Anisotropy alone may stretch a small plane up to its physical size, no further.
    assert get_output_size(10, 40, 1024, pixel_aspect=2.0) == (40, 20)
    assert get_output_size(10, 10, 256, pixel_aspect=float("nan")) == (10, 10)


def test_large_plane_is_box_reduced_without_aliasing() -> None:
    # A 1-pixel checkerboard averages to grey; naive striding would give black or white.
    yy, xx = np.mgrid[0:2048, 0:2048]
    plane = (((yy + xx) % 2) * 200).astype("uint8")[None]
    arr = np.asarray(render_plane(plane, (Channel(color="FFFFFF", window_start=0, window_end=200),), size=128))
    assert arr.shape == (128, 128, 3)
    assert np.all(np.abs(arr.astype(int) - 128) <= 2)


def test_labels_are_coloured_by_id_with_black_background() -> None:
    plane = np.zeros((1, 20, 40), dtype="uint32")
    plane[0, :, 10:20] = 1
    plane[0, :, 20:30] = 2
    plane[0, :, 30:] = 70000
    img = render_plane(plane, size=40, labels=True)
    colours = [rgb(img, x, 10) for x in (5, 15, 25, 35)]
    assert colours[0] == (0, 0, 0)
    assert len(set(colours[1:])) == 3 and all(max(c) >= 96 for c in colours[1:])
    # Stable: the same id always gets the same colour.
    assert np.array_equal(label_colors(np.array([1, 2, 70000])), label_colors(np.array([1, 2, 70000])))


def test_invalid_planes_raise() -> None:
    with pytest.raises(ValueError):
        render_plane(np.zeros((1, 0, 5), dtype="uint8"), size=8)
    with pytest.raises(ValueError):
        render_plane(np.zeros((1, 2, 3, 4), dtype="uint8"), size=8)


def test_montage_layout_blank_cells_and_shared_contrast() -> None:
    dim = np.full((1, 32, 32), 100, dtype="uint16")
    bright = np.full((1, 32, 32), 1000, dtype="uint16")
    img = render_montage([dim, bright], [(0, 0), (1, 2)], rows=2, cols=3, channels=(), size=100)
    assert img.width > img.height
    cw, ch = img.width / 3, img.height / 2
    centre = lambda r, c: rgb(img, int(cw * c + cw / 2), int(ch * r + ch / 2))  # noqa: E731
    assert centre(0, 1) == (48, 48, 48)  # empty well
    # One window for the whole plate: the dim well is darker than the bright one.
    assert centre(0, 0)[0] < centre(1, 2)[0]
