"""The build report: failures grouped by kind, as a page context and as report.json."""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

from generator.records import Catalog, Dataset, RowError
from generator.site.budget import BudgetReport
from generator.site.contexts import ReportGroup, ReportItem, ReportPage, ReportSize, ReportSource
from generator.site.format import display_name
from generator.site.tally import Tally, tally_datasets


def get_error_kind(d: Dataset) -> str:
    """Group label for the report: status plus the head of the first error."""
    if not d.errors:
        return d.status
    head = re.split(r"[:(]", d.errors[0], maxsplit=1)[0].strip()
    head = re.sub(r"https?://\S+", "URL", head)
    head = re.sub(r"\d+", "N", head)
    return f"{d.status}: {head[:80]}" if head else d.status


def get_report_page(catalog: Catalog, budget: BudgetReport | None = None, tally: Tally | None = None) -> ReportPage:
    """``tally``: the records' counts, when they were counted as they passed."""
    tally = tally or tally_datasets(catalog.datasets, catalog.gone)
    failing = tally.failing
    present = tally.present_gone
    by_source: dict[str, dict[str, list[ReportItem]]] = defaultdict(lambda: defaultdict(list))
    for d, gone in [(d, False) for d in failing] + [(d, True) for d in catalog.gone]:
        kind = ("gone: " if gone else "") + get_error_kind(d)
        by_source[d.source or "(no source)"][kind].append(
            ReportItem(
                id=d.id,
                name=display_name(d),
                url=d.url,
                status="gone" if gone else d.status,
                errors=d.errors,
                listings=tuple(x.shown for x in d.listings),
                has_page=d.id in present,
            )
        )
    sources = tuple(
        ReportSource(
            name=name,
            count=sum(len(v) for v in groups.values()),
            groups=tuple(ReportGroup(k, tuple(v)) for k, v in sorted(groups.items(), key=lambda kv: -len(kv[1]))),
        )
        for name, groups in sorted(by_source.items())
    )
    by_file: dict[str, list[RowError]] = defaultdict(list)
    for e in catalog.row_errors:
        by_file[e.name or e.file].append(e)
    return ReportPage(
        title=catalog.title,
        root="",
        generated_at=catalog.generated_at,
        sources=sources,
        row_errors=tuple((f, tuple(sorted(v, key=lambda e: e.line))) for f, v in sorted(by_file.items())),
        failing=len(failing) + len(catalog.gone),
        size=get_size_section(budget),
    )


def get_size_section(budget: BudgetReport | None) -> ReportSize | None:
    """The site's bytes per part against its budget, and what was given up to fit."""
    if budget is None:
        return None
    return ReportSize(
        budget=budget.budget,
        total=budget.sizes.total,
        files=budget.sizes.files,
        parts=tuple(budget.sizes.parts.items()),
        given_up=budget.given_up,
    )


def get_report_json(catalog: Catalog, budget: BudgetReport | None = None, tally: Tally | None = None) -> dict[str, Any]:
    tally = tally or tally_datasets(catalog.datasets, catalog.gone)

    def item(d: Dataset, status: str) -> dict[str, Any]:
        return {
            "id": d.id,
            "url": d.url,
            "source": d.source,
            "collection": d.collection,
            "status": status,
            "errors": list(d.errors),
            "warnings": list(d.warnings),
            "listings": [x.shown for x in d.listings],
        }

    return {
        "schema_version": 1,
        "generated_at": catalog.generated_at,
        "row_errors": [e.to_dict() for e in catalog.row_errors],
        "size": budget.to_dict() if budget is not None else None,
        "datasets": [item(d, d.status) for d in tally.failing]
        + [item(d, "gone") for d in catalog.gone],
    }
