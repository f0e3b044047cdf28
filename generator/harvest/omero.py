"""omero rendering settings judged against the data: a window outside the data type's range is a warning."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from generator.records import Channel, Findings


def _range(dtype: str | np.dtype | None) -> tuple[float, float] | None:
    try:
        dt = np.dtype(dtype) if dtype is not None else None
    except (TypeError, ValueError):
        return None
    if dt is None or dt.kind not in "iu":
        return None
    info = np.iinfo(dt)
    return float(info.min), float(info.max)


def _num(v: float) -> str:
    return f"{v:g}"


def _name(i: int, c: Channel) -> str:
    return f"channel {i}" + (f" ({c.label!r})" if c.label else "")


def get_window_findings(channels: Sequence[Channel], dtype: str | None) -> Findings:
    """A warning for each omero window that lies (partly) outside ``dtype``'s range."""
    bounds = _range(dtype)
    if bounds is None:
        return Findings()
    lo, hi = bounds
    found = Findings()
    for i, c in enumerate(channels[:64]):
        start, end = c.window_start, c.window_end
        if start is None or end is None:
            continue
        if start < lo or end > hi:
            found += Findings.warning(
                f"omero: {_name(i, c)} window {_num(start)}–{_num(end)} lies outside the {np.dtype(dtype).name} "
                f"range {_num(lo)}–{_num(hi)}"
            )
    return found
