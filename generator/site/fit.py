"""Applying a size plan (``site/budget.py``) to a gathered catalog: large renditions
dropped, card thumbnails re-encoded smaller. Returns a new catalog; the
records it was given are not changed."""

from __future__ import annotations

import dataclasses
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from PIL import Image

from generator.records import Catalog, Dataset
from generator.site.budget import BudgetPlan
from generator.thumbnails.files import THUMB_DIR


def get_small_card_name(key: str, px: int, quality: int) -> str:
    """Content-addressed like every thumbnail: the key and the rendition's settings."""
    return f"{key}-{px}q{quality}.webp"


def shrink_card(src: Path, dst: Path, px: int, quality: int) -> tuple[int, int] | None:
    """Re-encode one card to at most ``px`` on its longest side; its new size, or None when unreadable."""
    try:
        # Cards are WebP (PNG where WebP is unavailable): no other decoder is tried on them.
        with Image.open(src, formats=("WEBP", "PNG")) as img:
            img.load()
            scale = min(1.0, px / max(img.size))
            size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
            small = img.resize(size, Image.Resampling.LANCZOS) if size != img.size else img
            if not dst.is_file():
                tmp = dst.with_name(f".{dst.name}.{os.getpid()}.tmp")
                small.save(tmp, "WEBP", quality=quality, method=4)
                os.replace(tmp, dst)
            return size
    except OSError:
        return None


def _find(name: str, folders: Sequence[Path]) -> Path | None:
    return next((f / name for f in folders if (f / name).is_file()), None)


def apply_plan(catalog: Catalog, plan: BudgetPlan, roots: Sequence[Path | None], out_dir: Path) -> Catalog:
    """The catalog as the plan has it. Shrunk cards are written into ``out_dir``
    (the new site's thumbnail folder), read from the first of ``roots`` holding
    the original card. Records that stream from disk (``spans()``) are planned
    a span at a time as the site is written again, never all held at once."""
    folders = [r / THUMB_DIR for r in roots if r is not None]

    def fit(datasets: Sequence[Dataset]) -> list[Dataset]:
        if plan.drop_large:
            datasets = [
                dataclasses.replace(d, thumbnail=dataclasses.replace(d.thumbnail, detail=None, detail_width=None, detail_height=None))
                if d.thumbnail is not None and d.thumbnail.detail else d
                for d in datasets
            ]
        if plan.card_size is not None:
            datasets = _shrink_cards(datasets, plan.card_size, folders, out_dir)
        return list(datasets)

    if hasattr(catalog.datasets, "spans"):
        return dataclasses.replace(catalog, datasets=FittedSpans(catalog.datasets, fit))
    return dataclasses.replace(catalog, datasets=tuple(fit(catalog.datasets)))


class FittedSpans:
    """Streamed records with a plan applied to each span as it passes."""

    def __init__(self, records: Any, fit: Callable[[Sequence[Dataset]], list[Dataset]]) -> None:
        self.records, self.fit = records, fit

    def __len__(self) -> int:
        return len(self.records)

    def spans(self) -> Iterator[list[Dataset]]:
        for span in self.records.spans():
            yield self.fit(span)

    def __iter__(self) -> Iterator[Dataset]:
        for span in self.spans():
            yield from span


def _shrink_cards(datasets: Sequence[Dataset], card_size: tuple[int, int], folders: Sequence[Path], out_dir: Path) -> list[Dataset]:
    px, quality = card_size
    out_dir.mkdir(parents=True, exist_ok=True)

    def one(d: Dataset) -> Dataset:
        t = d.thumbnail
        if t is None:
            return d
        src = _find(Path(t.card).name, folders)
        name = get_small_card_name(t.key, px, quality)
        size = shrink_card(src, out_dir / name, px, quality) if src is not None else None
        if size is None:
            return d
        return dataclasses.replace(d, thumbnail=dataclasses.replace(t, card=f"{THUMB_DIR}/{name}", width=size[0], height=size[1]))

    # Pillow releases the GIL while decoding and encoding: threads share the cores.
    with ThreadPoolExecutor(max_workers=max(1, min(8, os.cpu_count() or 1))) as pool:
        return list(pool.map(one, datasets, chunksize=64))
