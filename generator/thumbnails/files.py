"""Thumbnail files on disk: names by content key, formats, renditions written atomically."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Sequence

from PIL import Image, features

from generator.config import ThumbnailConfig
from generator.records import Thumbnail
from generator.thumbnails.render import get_output_size

THUMB_DIR = "thumbnails"


def get_image_format() -> str:
    return "webp" if features.check("webp") else "png"


def _thumb_paths(out_dir: Path, key: str, config: ThumbnailConfig, fmt: str) -> tuple[Path, Path]:
    folder = out_dir / THUMB_DIR
    return folder / f"{key}-{config.card_size}.{fmt}", folder / f"{key}-{config.detail_size}.{fmt}"


def _image_size(path: Path) -> tuple[int, int] | None:
    """Width and height from the file's header (no decoding); None when it is absent or damaged."""
    try:
        with Image.open(path) as im:
            return im.size
    except OSError:
        return None


def find_existing(out_dir: Path, key: str, config: ThumbnailConfig) -> Thumbnail | None:
    """The thumbnail already written for ``key`` (by an earlier build), if any."""
    for fmt in ("webp", "png"):
        card, detail = _thumb_paths(out_dir, key, config, fmt)
        if not card.is_file():
            continue
        card_size = _image_size(card)
        if card_size is None:
            continue  # a damaged file is rendered again
        detail_size = _image_size(detail) if detail.is_file() else None
        return Thumbnail(
            key=key,
            card=f"{THUMB_DIR}/{card.name}",
            detail=f"{THUMB_DIR}/{detail.name}" if detail_size is not None else None,
            width=card_size[0],
            height=card_size[1],
            detail_width=detail_size[0] if detail_size is not None else None,
            detail_height=detail_size[1] if detail_size is not None else None,
        )
    return None


# What a rendering said about its dataset (a window replaced by auto-contrast), kept
# beside the renditions so a thumbnail reused by a later build still says it.
MAX_NOTES_BYTES = 64 * 1024


def _notes_path(out_dir: Path, key: str) -> Path:
    return out_dir / THUMB_DIR / f"{key}.notes.json"


def write_notes(out_dir: Path, key: str, notes: Sequence[str]) -> None:
    """Keep ``notes`` for ``key`` (written before the renditions, whose card marks a finished key)."""
    if not notes:
        return
    path = _notes_path(out_dir, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(list(notes)), encoding="utf-8")
    os.replace(tmp, path)


def read_notes(out_dir: Path, key: str) -> tuple[str, ...]:
    """The notes kept for ``key``; none when there are none or the file is damaged."""
    path = _notes_path(out_dir, key)
    try:
        if path.stat().st_size > MAX_NOTES_BYTES:
            return ()
        notes = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ()
    return tuple(n for n in notes if isinstance(n, str)) if isinstance(notes, list) else ()


def _save(img: Image.Image, path: Path, fmt: str) -> None:
    # Written aside then renamed, so a crash never leaves a truncated file that a later build would reuse.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    if fmt == "webp":
        # Slower methods shrink big renditions by only ~5% for 3x the encoding time.
        img.save(tmp, "WEBP", quality=82, method=4 if max(img.size) <= 256 else 0)
    else:
        img.save(tmp, "PNG", optimize=False)
    os.replace(tmp, path)


def write_renditions(detail: Image.Image, out_dir: Path, key: str, config: ThumbnailConfig, *, nearest: bool = False) -> Thumbnail:
    """Write the card (≤ card size) and, when the image is larger than a card, the detail rendition."""
    fmt = get_image_format()
    card_path, detail_path = _thumb_paths(out_dir, key, config, fmt)
    card_path.parent.mkdir(parents=True, exist_ok=True)
    if max(detail.size) <= config.card_size:
        _save(detail, card_path, fmt)
        return Thumbnail(key=key, card=f"{THUMB_DIR}/{card_path.name}", detail=None, width=detail.width, height=detail.height)
    w, h = get_output_size(detail.height, detail.width, config.card_size)
    resample = Image.Resampling.NEAREST if nearest else Image.Resampling.LANCZOS
    card = detail.resize((w, h), resample)
    _save(detail, detail_path, fmt)
    # The card last: its file is what ``find_existing`` takes as the mark of a finished key.
    _save(card, card_path, fmt)
    return Thumbnail(
        key=key,
        card=f"{THUMB_DIR}/{card_path.name}",
        detail=f"{THUMB_DIR}/{detail_path.name}",
        width=card.width,
        height=card.height,
        detail_width=detail.width,
        detail_height=detail.height,
    )
