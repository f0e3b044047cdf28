"""Label colours: the ``image-label`` ``colors`` of a label image, as a lookup the renderer paints with."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

MAX_COLORS = 65536


def parse_label_colors(ome: Mapping[str, Any] | None) -> dict[int, tuple[int, int, int]]:
    """``{label value: (r, g, b)}`` from ``image-label.colors``; entries that are not valid are skipped.

    A fully transparent colour is drawn black, like the background.
    """
    label = ome.get("image-label") if isinstance(ome, Mapping) else None
    colors = label.get("colors") if isinstance(label, Mapping) else None
    out: dict[int, tuple[int, int, int]] = {}
    for c in colors[:MAX_COLORS] if isinstance(colors, list) else ():
        if not isinstance(c, Mapping):
            continue
        value, rgba = c.get("label-value"), c.get("rgba")
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            continue
        if not isinstance(rgba, list) or len(rgba) not in (3, 4):
            continue
        if not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 255 for v in rgba):
            continue
        alpha = rgba[3] if len(rgba) == 4 else 255
        out[value] = (0, 0, 0) if alpha == 0 else (rgba[0], rgba[1], rgba[2])
    return out


def paint(ids: np.ndarray, base: np.ndarray, colors: Mapping[int, tuple[int, int, int]]) -> np.ndarray:
    """``base`` (the hashed colours) with each listed label value in its own colour."""
    if not colors:
        return base
    out = base.copy()
    for value in np.unique(ids)[:MAX_COLORS]:
        rgb = colors.get(int(value))
        if rgb is not None:
            out[ids == value] = rgb
    return out
