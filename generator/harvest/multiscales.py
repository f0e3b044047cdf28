"""The multiscales of an image (OME-NGFF 0.1-0.6), parsed leniently: axes, level paths, placements.

0.6 (RFC-5) names coordinate systems: the axes are those of the system the
datasets map into, and each level's transformations (``sequence`` and the
rest, ``transforms``) reduce to a scale and a translation where they can.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from generator.harvest.parse import MAX_LEVELS, HarvestProblem, _short, _text, _type_name, is_safe_path
from generator.harvest.transforms import get_output_system, get_system_axes, parse_placement
from generator.records import Axis, Findings
from generator.sources.columns import MAX_NDIM


@dataclass(frozen=True)
class Multiscale:
    axes: tuple[Axis, ...]
    paths: tuple[str, ...]
    scales: tuple[tuple[float, ...] | None, ...]
    global_scale: tuple[float, ...] | None
    name: str | None
    version: str | None
    findings: Findings
    # Per level: the translation of its placement (None when not stated).
    translations: tuple[tuple[float, ...] | None, ...] = ()
    global_translation: tuple[float, ...] | None = None
    # 0.6: the coordinate system the datasets map into (the axes are its axes).
    system: str | None = None


def parse_multiscales(ome: Mapping[str, Any]) -> Multiscale:
    """The first multiscale, leniently: problems become messages, not exceptions."""
    ms = ome.get("multiscales")
    if not isinstance(ms, list) or not ms:
        raise HarvestProblem("multiscales: expected a non-empty list, got " + _type_name(ms))
    return parse_multiscale(ms[0], 0)


def parse_all_multiscales(ome: Mapping[str, Any], limit: int = 16) -> tuple[Multiscale, ...]:
    """Every multiscale of an image (up to ``limit``), each parsed as ``parse_multiscale``."""
    ms = ome.get("multiscales")
    if not isinstance(ms, list):
        return ()
    out = []
    for i, m in enumerate(ms[:limit]):
        try:
            out.append(parse_multiscale(m, i))
        except HarvestProblem:
            continue
    return tuple(out)


def _parse_axes(m: Mapping[str, Any], where: str, system: str | None) -> tuple[tuple[Axis, ...], list[str], str | None]:
    errors: list[str] = []
    axes: list[Axis] = []
    raw_axes = m.get("axes")
    if raw_axes is None and isinstance(m.get("coordinateSystems"), list):
        # OME-NGFF 0.6 moved the axes into named coordinate systems: the one the datasets map into.
        raw_axes, system = get_system_axes(m["coordinateSystems"], system)
    else:
        system = None
    if raw_axes is None:
        errors.append(f"{where}.axes: missing (required)")
    elif not isinstance(raw_axes, list):
        errors.append(f"{where}.axes: expected a list, got {_type_name(raw_axes)}")
    elif len(raw_axes) > MAX_NDIM:
        errors.append(f"{where}.axes: {len(raw_axes)} axes is more than the {MAX_NDIM} supported")
    else:
        for i, a in enumerate(raw_axes):
            if isinstance(a, str):  # OME-NGFF 0.3 listed axis names only
                axes.append(Axis(name=a[:64]))
            elif isinstance(a, dict) and isinstance(a.get("name"), str):
                axes.append(Axis(name=a["name"][:64], type=_text(a.get("type")), unit=_text(a.get("unit"))))
            else:
                errors.append(f"{where}.axes[{i}].name: missing (required)")
    return tuple(axes), errors, system


def parse_multiscale(m: Any, index: int) -> Multiscale:
    """One multiscale: axes, level paths and placements; problems become messages."""
    where = f"multiscales[{index}]"
    if not isinstance(m, dict):
        raise HarvestProblem(f"{where}: expected an object, got {_type_name(m)}")
    found = Findings()
    paths: list[str] = []
    scales: list[tuple[float, ...] | None] = []
    translations: list[tuple[float, ...] | None] = []
    system: str | None = None
    datasets = m.get("datasets")
    if datasets is None:
        found += Findings.error(f"{where}.datasets: missing (required)")
    elif not isinstance(datasets, list) or not datasets:
        found += Findings.error(f"{where}.datasets: expected a non-empty list")
    else:
        if len(datasets) > MAX_LEVELS:
            found += Findings.error(f"{where}.datasets: {len(datasets)} levels; only the first {MAX_LEVELS} are read")
        for i, d in enumerate(datasets[:MAX_LEVELS]):
            path = d.get("path") if isinstance(d, dict) else None
            if not isinstance(path, str):
                found += Findings.error(f"{where}.datasets[{i}].path: missing (required)")
                continue
            if not is_safe_path(path):
                found += Findings.error(f"{where}.datasets[{i}].path: unsafe path {_short(path)}")
                continue
            paths.append(path)
            transforms = d.get("coordinateTransformations")
            placement, bad = parse_placement(transforms, f"{where}.datasets[{i}]")
            scales.append(placement.scale if placement else None)
            translations.append(placement.translation if placement else None)
            system = system or get_output_system(transforms)
            found += bad
    axes, axis_errors, system = _parse_axes(m, where, system)
    version = m.get("version") if isinstance(m.get("version"), str) else None
    # 0.6: the multiscale's own transformations lead into other coordinate systems, not
    # the one the axes (and pixel sizes) describe, so they are not applied (nor judged here).
    glob, bad = parse_placement(m.get("coordinateTransformations"), where) if system is None else (None, Findings())
    return Multiscale(
        axes=axes,
        paths=tuple(paths),
        scales=tuple(scales),
        global_scale=glob.scale if glob else None,
        name=_text(m.get("name")),
        version=version,
        findings=Findings(errors=tuple(axis_errors)) + found + bad,
        translations=tuple(translations),
        global_translation=glob.translation if glob else None,
        system=system,
    )
