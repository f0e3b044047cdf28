"""Coordinate transformations (OME-NGFF 0.4-0.6, RFC-5) reduced to what the catalog shows: scale and translation.

A level's transformations map its array indices into a coordinate system.
The catalog needs the per-axis scale (pixel size) and translation (origin)
of that map. ``scale``, ``translation``, ``identity``, ``sequence`` (applied
in order), an ``affine`` without rotation or shear, and the ``forward`` of a
``bijection`` reduce to one; the rest of RFC-5's list (``rotation``,
``mapAxis``, ``displacements``, ``coordinates``, ``byDimension``,
``projectAxis``, an affine that rotates, parameters stored in an array at
``path``) cannot be reduced, and become a warning saying so, never a failure.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from generator.records import Axis, Findings
from generator.sources.columns import MAX_NDIM

KNOWN_TYPES = frozenset(
    {"identity", "scale", "translation", "sequence", "affine", "bijection", "rotation", "mapAxis",
     "displacements", "coordinates", "byDimension", "projectAxis"}
)
# A sequence nested deeper than this is no pyramid a writer makes.
MAX_DEPTH = 8
MAX_STEPS = 16


class Uninterpretable(Exception):
    """A transformation the catalog cannot reduce to a scale and a translation."""


class BadParameters(Exception):
    """A scale or translation whose parameters are not a list of finite numbers."""


@dataclass(frozen=True)
class Placement:
    """x_out = scale * x_in + translation, per axis (None: not stated by any step)."""

    scale: tuple[float, ...] | None = None
    translation: tuple[float, ...] | None = None

    def then(self, other: Placement) -> Placement:
        """This placement followed by ``other``."""
        scale, translation = self.scale, self.translation
        if other.scale is not None:
            if translation is not None and len(translation) == len(other.scale):
                translation = tuple(t * s for t, s in zip(translation, other.scale))
            scale = other.scale if scale is None or len(scale) != len(other.scale) else tuple(a * b for a, b in zip(scale, other.scale))
        if other.translation is not None:
            if translation is None or len(translation) != len(other.translation):
                translation = other.translation
            else:
                translation = tuple(a + b for a, b in zip(translation, other.translation))
        return Placement(scale, translation)


def _numbers(value: Any, what: str) -> tuple[float, ...]:
    if not isinstance(value, list) or len(value) > MAX_NDIM or not all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value
    ):
        raise BadParameters(f"{what} must be a list of numbers")
    return tuple(float(v) for v in value)


def _affine(matrix: Any) -> Placement:
    """A (n, n+1) affine matrix with a diagonal linear part, as a placement."""
    if not isinstance(matrix, list) or not matrix or len(matrix) > MAX_NDIM:
        raise Uninterpretable("an 'affine' whose matrix is not a list of rows")
    rows = [_numbers(r, "affine") for r in matrix]
    n = len(rows)
    if any(len(r) != n + 1 for r in rows):
        raise Uninterpretable("an 'affine' that changes the number of axes")
    if any(rows[i][j] != 0 for i in range(n) for j in range(n) if i != j):
        raise Uninterpretable("an 'affine' that rotates or shears")
    return Placement(tuple(rows[i][i] for i in range(n)), tuple(r[n] for r in rows))


def parse_transform(t: Any, depth: int = 0) -> Placement:
    """One transformation as a placement; raises Uninterpretable or BadParameters."""
    if not isinstance(t, dict):
        raise Uninterpretable("a transformation that is not an object")
    kind = t.get("type")
    if kind == "identity":
        return Placement()
    if kind in ("scale", "translation"):
        if kind not in t and "path" in t:
            raise Uninterpretable(f"a '{kind}' stored in an array at 'path'")
        values = _numbers(t.get(kind), kind)
        return Placement(scale=values) if kind == "scale" else Placement(translation=values)
    if kind == "sequence":
        if depth >= MAX_DEPTH:
            raise Uninterpretable(f"a 'sequence' nested deeper than {MAX_DEPTH}")
        return parse_sequence(t.get("transformations"), depth + 1)
    if kind == "affine":
        if "affine" not in t and "path" in t:
            raise Uninterpretable("an 'affine' stored in an array at 'path'")
        return _affine(t.get("affine"))
    if kind == "bijection":
        return parse_transform(t.get("forward"), depth + 1)
    if kind in KNOWN_TYPES:
        raise Uninterpretable(f"a '{kind}' transformation")
    raise Uninterpretable(f"a transformation of unknown type {str(kind)[:40]!r}")


def parse_sequence(transforms: Any, depth: int = 0) -> Placement:
    if not isinstance(transforms, list):
        raise Uninterpretable("a 'sequence' without a list of transformations")
    placement = Placement()
    for t in transforms[:MAX_STEPS]:
        placement = placement.then(parse_transform(t, depth))
    return placement


def parse_placement(transforms: Any, where: str) -> tuple[Placement | None, Findings]:
    """The placement of a ``coordinateTransformations`` list (applied in order).

    Bad scale/translation parameters are an error (as before 0.6); what the
    catalog cannot reduce is a warning, and the placement is then unknown.
    """
    if transforms is None:
        return None, Findings()
    if not isinstance(transforms, list):
        return None, Findings.error(f"{where}.coordinateTransformations: expected a list")
    try:
        return parse_sequence(transforms), Findings()
    except BadParameters as e:
        return None, Findings.error(f"{where}: {e}")
    except Uninterpretable as e:
        return None, Findings.warning(
            f"{where}: {e} is not interpreted by the catalog; its pixel sizes and translation are not shown"
        )


def get_output_system(transforms: Any) -> str | None:
    """The coordinate system a level's transformations map into (0.6: ``output.name`` of the last)."""
    if isinstance(transforms, list) and transforms and isinstance(transforms[-1], dict):
        out = transforms[-1].get("output")
        if isinstance(out, dict) and isinstance(out.get("name"), str):
            return out["name"]
        if isinstance(out, str):
            return out
    return None


def get_system_axes(systems: Sequence[Any], name: str | None) -> tuple[Any, str | None]:
    """(raw axes, system name) of the coordinate system called ``name``; the first system otherwise."""
    usable = [cs for cs in systems[:16] if isinstance(cs, dict) and isinstance(cs.get("axes"), list)]
    for cs in usable:
        if name is not None and cs.get("name") == name:
            return cs["axes"], name
    if not usable:
        return None, None
    first = usable[0]
    return first["axes"], first.get("name") if isinstance(first.get("name"), str) else None


def get_scene_images(scene: Mapping[str, Any], limit: int) -> tuple[str, ...]:
    """The image paths a 0.6 scene's transformations connect, in order of first mention."""
    found: dict[str, None] = {}
    transforms = scene.get("coordinateTransformations")
    for t in transforms[:1024] if isinstance(transforms, list) else ():
        for end in ("input", "output"):
            ref = t.get(end) if isinstance(t, dict) else None
            path = ref.get("path") if isinstance(ref, dict) else None
            if isinstance(path, str) and path.strip("/"):
                found.setdefault(path.strip("/"), None)
    return tuple(found)[:limit]


def describe_axes(axes: Sequence[Axis], values: Sequence[float] | None) -> dict[str, float]:
    """``{axis name: value}`` when ``values`` has one entry per axis."""
    if values is None or len(values) != len(axes):
        return {}
    return {a.name: v for a, v in zip(axes, values)}
