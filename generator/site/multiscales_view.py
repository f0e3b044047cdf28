"""The dataset page's placement facts: every multiscale of the image, its translation and time step.

Parsed from the image's OME attributes as harvested (``Dataset.documents``),
with the same pure parsers harvest uses, so the page says what the data says.
"""

from __future__ import annotations

from dataclasses import dataclass

from generator.harvest.multiscales import Multiscale, parse_all_multiscales
from generator.harvest.transforms import Placement
from generator.records import Dataset
from generator.site.format import _num, format_tuple


@dataclass(frozen=True)
class MultiscaleRow:
    """One multiscale of the image, as the page lists it."""

    index: int
    name: str
    system: str  # 0.6: the coordinate system its datasets map into
    axes: str
    levels: str  # the level paths
    scale: str  # level 0's pixel size per axis
    translation: str  # level 0's origin per axis


def get_multiscales(d: Dataset) -> tuple[Multiscale, ...]:
    return parse_all_multiscales(d.documents.image) if d.documents is not None else ()


def get_level0_placement(ms: Multiscale) -> Placement:
    """Level 0's scale and translation in the multiscale's coordinates (the 0.4/0.5 global transform applied)."""
    own = Placement(ms.scales[0] if ms.scales else None, ms.translations[0] if ms.translations else None)
    return own.then(Placement(ms.global_scale, ms.global_translation))


def get_translation(d: Dataset) -> dict[str, float]:
    """Level 0's translation per axis of the first multiscale; empty when none or all zero."""
    found = get_multiscales(d)
    if not found:
        return {}
    t = get_level0_placement(found[0]).translation
    if t is None or len(t) != len(d.axes) or not any(t):
        return {}
    return {a.name: v for a, v in zip(d.axes, t)}


def get_time_step(d: Dataset) -> str | None:
    """The time step (level 0's scale along the time axis), with its unit."""
    for a in d.axes:
        if (a.type == "time" or (a.type is None and a.name.lower() == "t")) and a.name in d.physical_sizes:
            return f"{_num(d.physical_sizes[a.name])} {a.unit}" if a.unit else _num(d.physical_sizes[a.name])
    return None


def get_multiscale_rows(d: Dataset) -> tuple[MultiscaleRow, ...]:
    rows = []
    for i, ms in enumerate(get_multiscales(d)):
        placed = get_level0_placement(ms)
        rows.append(
            MultiscaleRow(
                index=i,
                name=ms.name or "–",
                system=ms.system or "–",
                axes=", ".join(a.name for a in ms.axes) or "–",
                levels=", ".join(ms.paths) or "–",
                scale=format_tuple([_num(v) for v in placed.scale]) if placed.scale else "–",
                translation=format_tuple([_num(v) for v in placed.translation]) if placed.translation else "–",
            )
        )
    return tuple(rows)
