"""Thumbnail files placed into a new site: hard links to the cache where possible."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Iterable

from generator.records import Dataset
from generator.thumbnails.files import THUMB_DIR


def place_thumbnails(datasets: Iterable[Dataset], roots: tuple[Path | None, ...], out_dir: Path) -> None:
    """Make the new ``out_dir`` hold the thumbnail files the datasets name, each taken from
    the first of ``roots`` (the cache or scratch folder, then the previous site) holding it."""
    out_dir.mkdir(parents=True, exist_ok=True)
    wanted = set()
    for d in datasets:
        if d.thumbnail is None:
            continue
        for rel in (d.thumbnail.card, d.thumbnail.detail):
            if rel:
                wanted.add(Path(rel).name)
    folders = [root / THUMB_DIR for root in roots if root is not None]
    for name in wanted:
        dst = out_dir / name
        src = next((f / name for f in folders if (f / name).is_file()), None)
        # Names are content keys: a file already there is the same image.
        if src is not None and not dst.is_file():
            try:
                dst.hardlink_to(src)
            except OSError:
                shutil.copyfile(src, dst)
