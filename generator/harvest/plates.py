"""HCS plates: the plate and well attributes parsed into a Plate, its grid bounded."""

from __future__ import annotations

import math
from typing import Any, Mapping

from generator.harvest.parse import MAX_SERIES, HarvestProblem, _type_name, is_safe_path
from generator.records import Plate

MAX_WELLS = 100_000


# Rows x columns of a plate's grid (named, or derived from the well paths).
# A 1536-well plate (32 x 48) is the largest real format; ten times that
# bounds the dataset page and the thumbnail montage, which draw every cell.
MAX_PLATE_GRID = 16_384



def get_well_sample(n_wells: int, size: int | None) -> tuple[int, ...]:
    """Indices of ``size`` wells spread evenly from the first to the last (all when ``size`` is None).

    Deterministic, so a rebuild reads the same wells; the first well is
    always in, as it is the one whose field the record describes.
    """
    if size is None or size >= n_wells:
        return tuple(range(n_wells))
    if size <= 1:
        return (0,) if n_wells else ()
    # Rounding half up keeps the picks distinct (round() ties to even and may repeat one).
    return tuple(sorted({math.floor(i * (n_wells - 1) / (size - 1) + 0.5) for i in range(size)}))


def _first_well_image(well_ome: Mapping[str, Any], where: str) -> tuple[str, list[str]]:
    well = well_ome.get("well")
    if not isinstance(well, dict):
        raise HarvestProblem(f"{where}: no 'well' metadata")
    images = well.get("images")
    if not isinstance(images, list) or not images:
        raise HarvestProblem(f"{where}: well.images: expected a non-empty list")
    paths = [im.get("path") for im in images[:MAX_SERIES] if isinstance(im, dict)]
    if not paths or not isinstance(paths[0], str) or not is_safe_path(paths[0]):
        raise HarvestProblem(f"{where}: well.images[0]: missing or unsafe 'path'")
    return paths[0], [p for p in paths if isinstance(p, str)]


def parse_plate(ome: Mapping[str, Any]) -> Plate:
    plate = ome.get("plate")
    if not isinstance(plate, dict):
        raise HarvestProblem(f"plate: expected an object, got {_type_name(plate)}")

    def names(key: str) -> tuple[str, ...]:
        v = plate.get(key)
        if not isinstance(v, list):
            return ()
        return tuple(str(x.get("name"))[:64] for x in v[:MAX_WELLS] if isinstance(x, dict) and x.get("name") is not None)

    for key in ("rows", "columns"):
        if isinstance(plate.get(key), list) and len(plate[key]) > MAX_PLATE_GRID:
            raise HarvestProblem(f"plate.{key}: {len(plate[key])} names is more than the {MAX_PLATE_GRID} cells of plate grid supported")
    rows, columns = names("rows"), names("columns")
    wells = plate.get("wells")
    if not isinstance(wells, list) or not wells:
        raise HarvestProblem("plate.wells: expected a non-empty list")
    if len(wells) > MAX_PLATE_GRID:  # no more wells than the grid has cells
        raise HarvestProblem(f"plate.wells: {len(wells)} wells is more than the {MAX_PLATE_GRID} supported")
    well_paths = tuple(w["path"] for w in wells if isinstance(w, dict) and isinstance(w.get("path"), str) and is_safe_path(w["path"]))
    if not well_paths:
        raise HarvestProblem("plate.wells[0]: missing or unsafe 'path'")
    _check_plate_grid(rows, columns, well_paths)
    fc = plate.get("field_count")
    fields = fc if isinstance(fc, int) and not isinstance(fc, bool) and 0 < fc <= MAX_SERIES else 0
    return Plate(rows=len(rows), columns=len(columns), wells=len(wells), fields=fields, row_names=rows, column_names=columns, well_paths=well_paths)


def _check_plate_grid(rows: tuple[str, ...], columns: tuple[str, ...], well_paths: tuple[str, ...]) -> None:
    """The grid the page and the montage draw, named or derived from "<row>/<column>" well paths, within MAX_PLATE_GRID."""
    pairs = [w.split("/")[:2] for w in well_paths if "/" in w]
    n_rows = len(rows) or len({p[0] for p in pairs})
    n_cols = len(columns) or len({p[1] for p in pairs})
    if n_rows * n_cols > MAX_PLATE_GRID:
        raise HarvestProblem(
            f"plate: {n_rows} rows x {n_cols} columns is a grid of {n_rows * n_cols} wells, more than the "
            f"{MAX_PLATE_GRID} supported (a 1536-well plate is 32 x 48)"
        )
