"""Index and about page contexts: pure functions of the gathered ``Catalog``
(and the ``SiteAssets`` read beforehand); the dataset page's is in dataset_view.py.

Templates receive plain, typed contexts built here (the model is datasette's
``template_contexts.py``): every value a template prints is already a display
string or a URL that passed ``safe_url``; jinja's autoescaping does the rest.
Harvested metadata is untrusted, so nothing in this module ever marks a
remote string as markup.
"""

from __future__ import annotations

from typing import Sequence

from generator.records import Catalog
from generator.site.assets import SiteAssets
from generator.site.cards import get_card, get_card_prototype
from generator.site.contexts import (
    AboutPage,
    ByteTotal,
    IndexPage,
    SourcePanel,
    Summary,
)
from generator.site.tally import Tally, tally_datasets
from generator.site.format import (
    PAGE_SIZE,
    display_name,
    format_bytes,
    get_csp,
    json_for_script,
)
from generator.site.search_index import FACET_LABELS, SORTS


def get_byte_total(sizes: Sequence[int | None]) -> ByteTotal:
    known = [n for n in sizes if n is not None]
    return _byte_total(sum(known), len(known), len(sizes))


def get_summary(tally: Tally) -> Summary:
    return Summary(
        datasets=tally.datasets,
        images=tally.images,
        plates=tally.plates,
        written=_byte_total(tally.written, tally.written_known, tally.datasets),
        uncompressed=_byte_total(tally.uncompressed, tally.uncompressed_known, tally.datasets),
        sources=len(tally.sources),
        failing=len(tally.failing),
    )


def _byte_total(total: int, known: int, of: int) -> ByteTotal:
    return ByteTotal(format_bytes(total) if known else "", known, of)


def get_index_page(catalog: Catalog, assets: SiteAssets, tally: Tally | None = None) -> IndexPage:
    """``tally``: the records' counts, when they were counted as they passed."""
    tally = tally or tally_datasets(catalog.datasets)
    panels = []
    for s in tally.get_sources():
        # No dataset of the source reports its size: say nothing rather than "0 B".
        size = format_bytes(s["bytes"]) if s["bytes"] else ""
        panels.append(SourcePanel(s["name"], s["datasets"], size, s["collections"], assets.logos.get(s["name"])))
    first = tally.first[:PAGE_SIZE]
    cards = tuple(
        get_card(d, src=assets.inline.get(d.thumbnail.card) if d.thumbnail else None, eager=i < assets.eager)
        for i, d in enumerate(first)
    )
    jsonld = {
        "@context": "https://schema.org",
        "@type": "DataCatalog",
        "name": catalog.title,
        "description": f"A federated catalog of {tally.datasets} OME-Zarr datasets from {len(tally.sources)} sources.",
        "dateModified": catalog.generated_at,
        "numberOfItems": tally.datasets,
        "dataset": [
            {"@type": "Dataset", "name": display_name(d), "url": f"datasets/{d.id}/", "identifier": d.url}
            for d in first
        ],
    }
    return IndexPage(
        title=catalog.title,
        root="",
        generated_at=catalog.generated_at,
        summary=get_summary(tally),
        sources=tuple(panels),
        cards=cards,
        card_prototype=get_card_prototype(),
        sorts=tuple((s.key, s.label) for s in SORTS),
        facet_keys=tuple(FACET_LABELS),
        total=tally.datasets,
        page_size=PAGE_SIZE,
        jsonld=json_for_script(jsonld),
        css=assets.css,
        csp=get_csp([assets.css_hash]),
    )


def get_about_page(catalog: Catalog, tally: Tally | None = None) -> AboutPage:
    summary = get_summary(tally or tally_datasets(catalog.datasets))
    return AboutPage(catalog.title, "", catalog.generated_at, catalog.csv_files, summary)
