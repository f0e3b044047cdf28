"""What a record says of the whole dataset: its sizes over every image read, and whether a name is a file name."""

from __future__ import annotations

import math
from typing import Sequence

from generator.harvest.image import ImageFacts
from generator.harvest.parse import GroupDoc, _written_of
from generator.records import Plate
from generator.sources.columns import Listed, url_name


def is_file_name(name: str, url: str, image_path: str) -> bool:
    """Whether a multiscales name is only the last segment of the dataset's path (a writer's
    file name, "kidney_nuclei_00.ome.zarr"), with or without its Zarr suffix."""
    given = name.strip().strip("/")
    segments = {url_name(url), image_path.rsplit("/", 1)[-1]}
    stems = {s.removesuffix(".zarr").removesuffix(".ome") for s in segments}
    return given in segments | stems | {s + ".zarr" for s in stems} | {s + ".ome.zarr" for s in stems}


def _image_bytes(image: ImageFacts) -> int | None:
    if image.itemsize is None or not image.levels:
        return None
    return sum(math.prod(lv.shape) for lv in image.levels) * image.itemsize


def get_uncompressed(images: Sequence[ImageFacts], plate: Plate | None) -> int | None:
    """Uncompressed bytes of every image read (series); a plate's one field times its fields."""
    sizes = [_image_bytes(im) for im in images]
    if sizes[0] is None:
        return None
    if plate is not None:
        return sizes[0] * (plate.field_total or plate.wells * max(plate.fields, 1))
    return sum(n for n in sizes if n is not None)


def get_written(images: Sequence[ImageFacts], root: GroupDoc, kind: str, listed: Listed) -> int | None:
    """Bytes written, as measured by the challenge's converter; else as the CSV lists them."""
    if kind == "plate":
        # One field's stats say nothing measured about the whole plate.
        return listed.written_bytes
    group_written = _written_of(root.attrs.get("_ome2024_ngff_challenge_stats"))
    if group_written is not None:
        return group_written
    if listed.written_bytes is not None:
        return listed.written_bytes
    stats = [im.stats_written for im in images]
    # A sum over some series only would understate what was written.
    return sum(stats) if all(s is not None for s in stats) else None  # type: ignore[arg-type]
