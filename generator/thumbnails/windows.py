"""Window sanity for thumbnails: fall back to auto-contrast when an omero window leaves the
plane nearly flat, as the challenge viewer's autoBoost does.

A uint8 image whose windows end at 3000 would otherwise be drawn almost
black; the fallback is said on the dataset's page. (A window outside the data
type's range is a harvest warning: ``harvest.omero``.)
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable, Sequence

import numpy as np

from generator.records import Channel

# A windowed plane whose 0.5-99.5 percentile spread covers less than this share of the display range is "nearly flat".
FLAT_SPREAD = 0.1
# Values whose spread decides: the 0.5 and 99.5 percentiles of 8,192 values lie ~41 values
# in from either end, steady enough for a 10% threshold. 65,536 cost about a millisecond
# more per windowed channel (np.percentile is linear in the sample).
SAMPLE = 1 << 13


def _num(v: float) -> str:
    return f"{v:g}"


def _name(i: int, c: Channel) -> str:
    return f"channel {i}" + (f" ({c.label!r})" if c.label else "")


def _spread(values: np.ndarray, lo: float, hi: float) -> float:
    v = values.ravel()
    if v.size > SAMPLE:
        v = v[:: v.size // SAMPLE]
    if v.dtype.kind == "f":
        v = v[np.isfinite(v)]
    if v.size == 0 or hi <= lo:
        return 0.0
    norm = np.clip((v.astype(np.float64) - lo) / (hi - lo), 0.0, 1.0)
    p_lo, p_hi = np.percentile(norm, (0.5, 99.5))
    return float(p_hi - p_lo)


def boost_flat_windows(
    plane: np.ndarray, display: Sequence[Channel], given: Sequence[Channel], get_auto: Callable[[], Sequence[Channel]]
) -> tuple[tuple[Channel, ...], tuple[str, ...]]:
    """``display`` with auto-contrast windows (``get_auto()``) for given windows that leave their channel nearly flat.

    Only windows the dataset states (``given``) are judged; a channel with no
    spread under auto-contrast either (a flat image) keeps its window. The
    auto-contrast windows (percentiles of every channel) are computed only
    when a window is found flat: most stated windows are fine.
    """
    if len(given) != len(display):
        return tuple(display), ()
    out = list(display)
    notes: list[str] = []
    auto: Sequence[Channel] | None = None
    for i, (shown, stated) in enumerate(zip(display, given)):
        s, e = stated.window_start, stated.window_end
        if not shown.active or s is None or e is None or not (math.isfinite(s) and math.isfinite(e) and e > s):
            continue
        if _spread(plane[i], s, e) >= FLAT_SPREAD:
            continue
        if auto is None:
            auto = get_auto()
            if len(auto) != len(display):
                return tuple(display), ()
        fallback = auto[i]
        a, b = fallback.window_start, fallback.window_end
        if a is None or b is None or b <= a or _spread(plane[i], a, b) < FLAT_SPREAD:
            continue
        out[i] = dataclasses.replace(shown, window_start=a, window_end=b)
        notes.append(
            f"thumbnail: the omero window {_num(s)}–{_num(e)} of {_name(i, stated)} leaves the plane nearly flat; "
            f"drawn with auto-contrast ({_num(a)}–{_num(b)}) instead"
        )
    return tuple(out), tuple(notes)
