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

from generator.records import Catalog, Dataset
from generator.site.assets import SiteAssets
from generator.site.cards import get_card, get_card_prototype
from generator.site.contexts import (
    AboutPage,
    ByteTotal,
    IndexPage,
    SourcePanel,
    Summary,
)
from generator.site.exports import get_sources, get_totals
from generator.site.format import (
    PAGE_SIZE,
    display_name,
    format_bytes,
    get_csp,
    is_failure,
    json_for_script,
)
from generator.site.search_index import FACET_LABELS, SORTS


def get_byte_total(sizes: Sequence[int | None]) -> ByteTotal:
    known = [n for n in sizes if n is not None]
    return ByteTotal(format_bytes(sum(known)) if known else "", len(known), len(sizes))


def get_summary(datasets: Sequence[Dataset]) -> Summary:
    t = get_totals(datasets)
    return Summary(
        datasets=t["datasets"],
        images=t["images"],
        plates=t["plates"],
        written=get_byte_total([d.written_bytes for d in datasets]),
        uncompressed=get_byte_total([d.uncompressed_bytes for d in datasets]),
        sources=t["sources"],
        failing=sum(1 for d in datasets if is_failure(d)),
    )


def get_index_page(catalog: Catalog, assets: SiteAssets) -> IndexPage:
    datasets = catalog.datasets
    panels = []
    for s in get_sources(datasets):
        # No dataset of the source reports its size: say nothing rather than "0 B".
        size = format_bytes(s["bytes"]) if s["bytes"] else ""
        panels.append(SourcePanel(s["name"], s["datasets"], size, s["collections"], assets.logos.get(s["name"])))
    first = datasets[:PAGE_SIZE]
    cards = tuple(
        get_card(d, src=assets.inline.get(d.thumbnail.card) if d.thumbnail else None, eager=i < assets.eager)
        for i, d in enumerate(first)
    )
    jsonld = {
        "@context": "https://schema.org",
        "@type": "DataCatalog",
        "name": catalog.title,
        "description": f"A federated catalog of {len(datasets)} OME-Zarr datasets from {len({d.source for d in datasets})} sources.",
        "dateModified": catalog.generated_at,
        "numberOfItems": len(datasets),
        "dataset": [
            {"@type": "Dataset", "name": display_name(d), "url": f"datasets/{d.id}/", "identifier": d.url}
            for d in first
        ],
    }
    return IndexPage(
        title=catalog.title,
        root="",
        generated_at=catalog.generated_at,
        summary=get_summary(datasets),
        sources=tuple(panels),
        cards=cards,
        card_prototype=get_card_prototype(),
        sorts=tuple((s.key, s.label) for s in SORTS),
        facet_keys=tuple(FACET_LABELS),
        total=len(datasets),
        page_size=PAGE_SIZE,
        jsonld=json_for_script(jsonld),
        css=assets.css,
        csp=get_csp([assets.css_hash]),
    )


def get_about_page(catalog: Catalog) -> AboutPage:
    return AboutPage(catalog.title, "", catalog.generated_at, catalog.csv_files, get_summary(catalog.datasets))
