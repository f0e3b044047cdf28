"""The site's size budget: what each part of a written site weighs, and what to give up to fit.

Pure decisions on measured figures: ``measure_site`` reads file sizes,
``fit_budget`` decides, in a fixed order, what the site gives up (exports
compressed, large renditions dropped, card thumbnails shrunk), and
``BudgetReport`` says what was given up, for the summary and ``report.html``.
Applying a decision is ``site/fit.py``'s job.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping

from generator.readonly import ReadOnlyDict

PARTS = ("pages", "card thumbnails", "large thumbnails", "exports", "search index", "assets")
# Card renditions tried when shrinking, largest first (longest side, WebP quality).
CARD_STEPS = ((192, 75), (160, 70), (128, 65), (96, 60))
# gzip on catalog.json's parts: a conservative ratio (measured 8-12x on real catalogs).
GZIP_RATIO = 0.2
_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40, "k": 10**3, "m": 10**6, "g": 10**9}
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*")
EXPORT_NAMES = re.compile(r"catalog(-\d+)?\.(json|csv)(\.gz)?")
JSON_EXPORT = re.compile(r"catalog(-\d+)?\.json")


class BudgetError(Exception):
    """The site cannot fit its budget even after giving up everything allowed."""


def parse_size(text: str) -> int:
    """``1GB``, ``800MiB``, ``1.5 GB`` or a number of bytes, as bytes (decimal units are powers of 1000)."""
    m = _SIZE.fullmatch(str(text))
    unit = m.group(2).lower() if m else ""
    if not m or unit not in _UNITS:
        raise ValueError(f"not a size: {text!r} (use bytes, or a unit: 1GB, 800MB, 800MiB)")
    value = int(float(m.group(1)) * _UNITS[unit])
    if value <= 0:
        raise ValueError(f"a size must be more than 0 bytes: {text!r}")
    return value


@dataclass(frozen=True)
class SiteSizes:
    """Bytes per part of a written site (file sizes, as the Pages artifact counts them)."""

    parts: Mapping[str, int]
    files: int
    compressible: int = 0  # bytes of catalog.json and its uncompressed parts: what compressing exports works on

    @property
    def total(self) -> int:
        return sum(self.parts.values())

    def to_dict(self) -> dict[str, object]:
        return {"parts": dict(self.parts), "files": self.files, "total": self.total, "compressible": self.compressible}


def get_part(rel: str, cards: frozenset[str]) -> str:
    """Which part a site-relative path belongs to (``cards``: the card thumbnail file names)."""
    head, _, name = rel.partition("/")
    if not name:
        return "exports" if EXPORT_NAMES.fullmatch(head) else "pages"
    if head == "thumbnails":
        return "card thumbnails" if name in cards else "large thumbnails"
    if head == "assets":
        return "assets"
    if head == "search":
        return "search index"
    return "pages"


def measure_site(root: Path, cards: Iterable[str], counted: Mapping[str, tuple[int, int]] | None = None) -> SiteSizes:
    """Sum the sizes of every file under ``root``, by part. ``counted`` gives top-level
    folders whose files and bytes the writer counted as it wrote them (each
    folder's files all of one part): they are not walked again."""
    names = frozenset(Path(c).name for c in cards)
    totals = dict.fromkeys(PARTS, 0)
    files = compressible = 0
    counted = counted or {}
    for folder, (n, size) in counted.items():
        totals[get_part(f"{folder}/index.html", names)] += size  # the part a file inside belongs to
        files += n
    root = Path(root)
    stack = [(str(root), "")]
    while stack:
        folder, rel = stack.pop()
        with os.scandir(folder) as it:
            for e in it:
                path = rel + e.name
                if e.is_dir(follow_symlinks=False):
                    if path not in counted:
                        stack.append((e.path, path + "/"))
                elif e.is_file(follow_symlinks=False):
                    size = e.stat(follow_symlinks=False).st_size
                    totals[get_part(path, names)] += size
                    files += 1
                    if JSON_EXPORT.fullmatch(path):
                        compressible += size
    return SiteSizes(ReadOnlyDict(totals), files, compressible)


@dataclass(frozen=True)
class BudgetPlan:
    """What the site gives up, in order; ``card_size`` None keeps the cards as rendered."""

    compress_exports: bool = False
    drop_large: bool = False
    card_size: tuple[int, int] | None = None  # (longest side, WebP quality)
    estimate: int = 0  # the total this plan is expected to reach

    @property
    def gives_up(self) -> bool:
        return self.compress_exports or self.drop_large or self.card_size is not None


@dataclass(frozen=True)
class BudgetReport:
    """The figures and what was given up, for the summary and report.html."""

    budget: int | None
    sizes: SiteSizes
    given_up: tuple[str, ...] = field(default=())

    @property
    def fits(self) -> bool:
        return self.budget is None or self.sizes.total <= self.budget

    def to_dict(self) -> dict[str, object]:
        return {"budget": self.budget, **self.sizes.to_dict(), "given_up": list(self.given_up)}


def get_plans(sizes: SiteSizes, *, card_px: int = 256) -> list[BudgetPlan]:
    """Every plan the site may take, from giving up least to most, each with its expected total:
    exports compressed, then large renditions dropped, then card thumbnails shrunk step by step."""
    from generator.site.exports import COMPRESSED_HEAD_BYTES

    # Compressed, catalog.json still holds its first megabyte as it is.
    compressible = max(0, sizes.compressible - COMPRESSED_HEAD_BYTES)
    total = sizes.total - (compressible - int(compressible * GZIP_RATIO))
    plans = [BudgetPlan(compress_exports=True, estimate=total)]
    total -= sizes.parts["large thumbnails"]
    plans.append(BudgetPlan(compress_exports=True, drop_large=True, estimate=total))
    cards = sizes.parts["card thumbnails"]
    for px, quality in CARD_STEPS:
        if px < card_px:
            # WebP bytes follow the pixel count; the lower quality is a margin on top.
            plans.append(BudgetPlan(True, True, (px, quality), total - cards + int(cards * (px / card_px) ** 2)))
    return plans


def fit_budget(sizes: SiteSizes, budget: int, *, card_px: int = 256, after: BudgetPlan | None = None) -> BudgetPlan:
    """The least the site gives up to fit ``budget``, in the fixed order:
    exports compressed, then large renditions dropped, then card thumbnails
    shrunk (each step only while still over). ``after``: a plan tried that did
    not fit; the next one that gives up more. Raises ``BudgetError`` with the
    figures when even the smallest cards do not fit."""
    if after is None and sizes.total <= budget:
        return BudgetPlan(estimate=sizes.total)
    plans = get_plans(sizes, card_px=card_px)
    if after is not None:
        plans = plans[plans.index(after) + 1 :] if after in plans else []
    for plan in plans:
        if plan.estimate <= budget:
            return plan
    best = min([sizes.total] + [p.estimate for p in get_plans(sizes, card_px=card_px)])
    raise BudgetError(describe_overflow(sizes, budget, best))


def describe_overflow(sizes: SiteSizes, budget: int, best: int) -> str:
    from generator.site.format import format_bytes

    parts = ", ".join(f"{k} {format_bytes(v)}" for k, v in sizes.parts.items())
    return (
        f"the site is {format_bytes(sizes.total)} ({parts}), over the budget of {format_bytes(budget)} "
        f"(--site-budget); with exports compressed, large thumbnails dropped and card thumbnails shrunk "
        f"to {CARD_STEPS[-1][0]} px it would still be {format_bytes(best)} or more. Give a larger --site-budget, "
        f"or publish to object storage (ngff-catalog publish DIR s3://bucket/prefix), which has no size limit"
    )


def describe_plan(plan: BudgetPlan, before: SiteSizes) -> tuple[str, ...]:
    """What a plan gives up, in words for the report."""
    from generator.site.format import format_bytes

    said = []
    if plan.compress_exports:
        said.append(f"exports compressed: catalog.json keeps its first datasets and lists gzip parts "
                    f"catalog-N.json.gz for the rest (were {format_bytes(before.compressible)})")
    if plan.drop_large:
        said.append(f"large thumbnails dropped ({format_bytes(before.parts['large thumbnails'])}); "
                    "dataset pages show the card thumbnail")
    if plan.card_size is not None:
        px, quality = plan.card_size
        said.append(f"card thumbnails shrunk to {px} px, WebP quality {quality} "
                    f"(were {format_bytes(before.parts['card thumbnails'])})")
    return tuple(said)
