"""The thumbnail key: a content hash of everything that decides a thumbnail's pixels."""

from __future__ import annotations

import dataclasses
import hashlib
import json

from generator.config import ThumbnailConfig
from generator.plan import ThumbnailSkipped, get_default_plane, get_image_plan
from generator.records import Dataset
from generator.thumbnails.labels import parse_label_colors
from generator.thumbnails.render import RENDER_VERSION

# Part of the key: bump when plane choice or file layout changes.
THUMBNAIL_VERSION = 1


def is_label_image(dataset: Dataset) -> bool:
    return dataset.kind == "labels" or bool(dataset.documents is not None and "image-label" in (dataset.documents.image or {}))


def get_thumbnail_key(dataset: Dataset, config: ThumbnailConfig) -> str | None:
    """Content hash of everything that decides the pixels; None when there is nothing to render.

    It covers the image location, the chosen level's array document (or its
    harvested summary when the document was not fetched), axes, channel
    settings, plate layout, sizes and the renderer's version, so an
    unchanged dataset keeps its file and any change gets a new one.
    """
    if not dataset.resolutions:
        return None
    try:
        index = get_image_plan(dataset.resolutions, dataset.axes, config.card_size).image
    except (ThumbnailSkipped, ValueError, IndexError):
        return None
    level = dataset.resolutions[index]
    ome = dataset.documents.image if dataset.documents is not None else None
    material = {
        "url": dataset.url,
        "image_path": dataset.image_path,
        "kind": dataset.kind,
        "labels": is_label_image(dataset),
        "level": level.path,
        "array": dict(level.metadata) if level.metadata is not None else level.to_dict(),
        "scale": list(level.scale) if level.scale else None,
        "axes": [a.to_dict() for a in dataset.axes],
        "channels": [c.to_dict() for c in dataset.channels],
        # The plane (omero.rdefs) and the label colours decide the pixels too.
        "rdefs": dataclasses.asdict(get_default_plane(ome)),
        "label_colors": sorted(parse_label_colors(ome).items()) if is_label_image(dataset) else None,
        "plate": dataset.plate.to_dict() if dataset.plate else None,
        "lowest": dataset.resolutions[-1].to_dict() if dataset.plate else None,
        "sizes": [config.card_size, config.detail_size],
        "versions": [RENDER_VERSION, THUMBNAIL_VERSION],
    }
    blob = json.dumps(material, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:20]
