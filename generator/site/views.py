"""The site stage: turn a gathered ``Catalog`` into static files.

Templates receive plain, typed contexts built here (the model is datasette's
``template_contexts.py``): every value a template prints is already a display
string or a URL that passed ``safe_url``; jinja's autoescaping does the rest.
Harvested metadata is untrusted, so nothing in this module ever marks a
remote string as markup.

Output (all links relative, so the site works under any sub-path)::

    index.html            first page of cards pre-rendered, JS takes over
    index.json            compact column-wise search index for assets/catalog.js
    datasets/<id>/index.html
    report.html, report.json
    about.html
    catalog.json, catalog.csv
    sitemap.xml (a sitemap index past 50,000 pages)
    assets/               copied from the package
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any, Sequence

from generator.records import Catalog, Dataset
from generator.site.contexts import (
    AxisRow,
    ByteTotal,
    CardView,
    ChannelRow,
    DatasetPage,
    IndexPage,
    LevelRow,
    Link,
    PlateMap,
    Snippet,
    SourcePanel,
    Summary,
)
from generator.site.exports import get_sources, get_totals
from generator.site.format import (
    _HEX,
    PAGE_SIZE,
    VALIDATOR,
    VIZARR,
    _num,
    _shell_quote,
    axis_names,
    display_name,
    format_bytes,
    format_time,
    format_tuple,
    get_axis_sizes,
    get_csp,
    get_inline_css,
    get_neuroglancer_url,
    get_validator_url,
    is_failure,
    json_for_script,
    quote_component,
    safe_url,
    term_label,
)

INLINE_THUMBNAILS = 12  # first-screen thumbnails inlined as data: URIs (one round trip to first paint)
INLINE_MAX_BYTES = 24 * 1024


SORT_AXES = ("x", "y", "z", "c", "t")


# --------------------------------------------------------------------------- helpers


# --------------------------------------------------------------------------- contexts


def get_badges(d: Dataset) -> tuple[tuple[str, str], ...]:
    badges: list[tuple[str, str]] = []
    if d.status != "ok":
        badges.append((d.status, d.status))
    if d.cors is False:
        badges.append(("nocors", "no CORS"))
    if d.kind not in ("image", "unknown"):
        badges.append(("kind", d.kind))
    if d.ngff_version:
        badges.append(("version", f"v{d.ngff_version}"))
    return tuple(badges)


def _thumb_data_uri(out: Path, rel: str) -> str | None:
    path = out / rel
    try:
        if path.stat().st_size > INLINE_MAX_BYTES:
            return None
        data = path.read_bytes()
    except OSError:
        return None
    mime = {"webp": "image/webp", "png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg"}.get(
        path.suffix.lower().lstrip("."), "application/octet-stream"
    )
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def get_card(d: Dataset, *, root: str = "", out: Path | None = None, inline: bool = False, eager: bool = False) -> CardView:
    thumb = d.thumbnail
    src = None
    if thumb is not None:
        src = (_thumb_data_uri(out, thumb.card) if inline and out is not None else None) or root + thumb.card
    return CardView(
        id=d.id,
        url=d.url,
        name=display_name(d),
        axes=tuple(get_axis_sizes(d)),
        source=d.source,
        collection=d.collection,
        badges=get_badges(d),
        thumb_src=src,
        thumb_width=thumb.width if thumb else 256,
        thumb_height=thumb.height if thumb else 256,
        validator=get_validator_url(d.url) if safe_url(d.url) else None,
        origin=safe_url(d.origin),
        eager=eager,
    )


def _describe_value(v: object) -> str:
    """Plain text for an RO-Crate value: a term reads "label (id)", not JSON."""
    if isinstance(v, str):
        return v
    if isinstance(v, dict) and isinstance(v.get("id"), str):
        label = v.get("label")
        return f"{label} ({v['id']})" if isinstance(label, str) and label else v["id"]
    return json.dumps(v, ensure_ascii=False)[:500]


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


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def get_index_page(catalog: Catalog, out: Path, assets: Path) -> IndexPage:
    datasets = catalog.datasets
    panels = []
    for s in get_sources(datasets):
        slug = _slug(s["name"])
        logo = None
        for ext in ("svg", "png", "webp"):
            if slug and (assets / "logos" / f"{slug}.{ext}").is_file():
                logo = f"assets/logos/{slug}.{ext}"
                break
        # No dataset of the source reports its size: say nothing rather than "0 B".
        panels.append(SourcePanel(s["name"], s["datasets"], format_bytes(s["bytes"]) if s["bytes"] else "", s["collections"], logo))
    css, css_hash = get_inline_css(assets)
    first = datasets[:PAGE_SIZE]
    cards = tuple(
        get_card(d, out=out, inline=i < INLINE_THUMBNAILS, eager=i < INLINE_THUMBNAILS) for i, d in enumerate(first)
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
        total=len(datasets),
        page_size=PAGE_SIZE,
        jsonld=json_for_script(jsonld),
        css=css,
        csp=get_csp([css_hash]),
    )


def get_dataset_page(d: Dataset, catalog: Catalog, dataset_id: str | None = None) -> DatasetPage:
    root = "../../"
    name = display_name(d)
    shape = d.shape or ()
    names = axis_names(d)
    axes_by_name = {a.name: a for a in d.axes}
    axes = tuple(
        AxisRow(
            name=n,
            type=(axes_by_name[n].type or "–") if n in axes_by_name else "–",
            unit=(axes_by_name[n].unit or "–") if n in axes_by_name else "–",
            size=str(size),
            physical=_num(d.physical_sizes[n]) if n in d.physical_sizes else "–",
        )
        for n, size in zip(names, shape)
    )
    levels = tuple(
        LevelRow(
            path=lv.path,
            shape=format_tuple(lv.shape) + (" (inferred)" if lv.inferred and lv.path != "0" else ""),
            chunks=format_tuple(lv.chunks),
            shards=format_tuple(lv.shards),
            dtype=lv.dtype or "–",
            codecs=", ".join(lv.codecs) or "–",
            scale=format_tuple([_num(s) for s in lv.scale]) if lv.scale else "–",
        )
        for lv in d.resolutions
    )
    channels = tuple(
        ChannelRow(
            label=c.label or f"channel {i}",
            color=c.color if c.color and _HEX.match(c.color) else None,
            window=(f"{_num(c.window_start)} – {_num(c.window_end)}" if c.window_start is not None and c.window_end is not None else "–"),
            active=c.active,
        )
        for i, c in enumerate(d.channels)
    )
    plate = None
    if d.plate is not None:
        p = d.plate
        row_names = p.row_names or tuple(chr(65 + i) if i < 26 else str(i + 1) for i in range(p.rows))
        col_names = p.column_names or tuple(str(i + 1) for i in range(p.columns))
        present = {tuple(w.split("/")[:2]) for w in p.well_paths}
        plate = PlateMap(
            columns=tuple(col_names),
            rows=tuple((r, tuple((r, c) in present for c in col_names)) for r in row_names),
            wells=p.wells,
            fields=p.fields,
        )
    facts: list[tuple[str, str]] = [
        ("Kind", d.kind),
        ("Status", d.status),
        ("NGFF version", d.ngff_version or "–"),
        ("Zarr format", str(d.zarr_format) if d.zarr_format else "–"),
        ("Shape", format_tuple(shape) + (f"  ({' × '.join(names)})" if names else "")),
        ("Data type", d.level0.dtype if d.level0 and d.level0.dtype else "–"),
        ("Resolution levels", str(len(d.resolutions))),
        ("Size (written)", format_bytes(d.written_bytes) if d.written_bytes is not None else "not measured"),
        ("Size (uncompressed)", format_bytes(d.uncompressed_bytes) if d.uncompressed_bytes is not None else "not known"),
        ("Organism", term_label(d.organism) or "–"),
        ("Imaging modality", term_label(d.modality) or "–"),
        ("Source", d.source or "–"),
        ("Collection", d.collection or "–"),
        ("CORS", {True: "yes", False: "no"}.get(d.cors, "unknown")),
    ]
    if d.image_path:
        facts.append(("Image path", d.image_path))
    if d.series:
        facts.append(("Series", ", ".join(d.series[:20]) + (" …" if len(d.series) > 20 else "")))
    if d.labels:
        facts.append(("Labels", ", ".join(d.labels)))
    if d.first_seen:
        facts.append(("First seen", format_time(d.first_seen)))
    if d.last_ok:
        facts.append(("Last harvested", format_time(d.last_ok)))
    rocrate = tuple((str(k), _describe_value(v)) for k, v in (d.rocrate or {}).items())
    url_ok = safe_url(d.url)
    links: list[Link] = []
    if url_ok:
        quoted = quote_component(d.url)  # the validator and vizarr take the same ?source=
        links = [
            Link("OME-NGFF validator", VALIDATOR + quoted),
            Link("vizarr", VIZARR + quoted),
            Link("Neuroglancer", get_neuroglancer_url(d.url, name)),
        ]
    level_path = "/".join(p for p in (d.image_path, d.level0.path if d.level0 else "0") if p)
    snippets = (
        Snippet(
            "zarr-python",
            "zarr-python",
            f"import zarr\n\nroot = zarr.open_group({d.url!r}, mode=\"r\")\n"
            f"array = root[{level_path!r}]  # full resolution\nprint(array.shape, array.dtype)",
        ),
        Snippet(
            "ome-zarr-py",
            "ome-zarr-py",
            "from ome_zarr.io import parse_url\nfrom ome_zarr.reader import Reader\n\n"
            f"reader = Reader(parse_url({d.url!r}))\nimage = list(reader())[0]\n"
            "print(image.data[0].shape)  # dask array, full resolution",
        ),
        Snippet("napari", "napari", f"napari --plugin napari-ome-zarr {_shell_quote(d.url)}"),
    )
    thumb = d.thumbnail
    thumb_rel = (thumb.detail or thumb.card) if thumb else None
    tw, th = (thumb.width, thumb.height) if thumb else (512, 512)
    if thumb and thumb.detail and max(tw, th) > 0:
        # The detail rendition keeps the card's aspect ratio at a larger size.
        scale = 1024 / max(tw, th)
        tw, th = round(tw * scale), round(th * scale)
    license_href = safe_url(d.license)
    jsonld: dict[str, Any] = {
        "@context": "https://schema.org",
        "@type": "Dataset",
        "name": name,
        "description": d.description or f"OME-Zarr {d.kind} ({format_tuple(shape)})",
        "identifier": d.url,
        "url": url_ok or None,
        "creator": {"@type": "Organization", "name": d.source} if d.source else None,
        "license": d.license or None,
        "includedInDataCatalog": {"@type": "DataCatalog", "name": catalog.title, "url": root},
        "distribution": [{"@type": "DataDownload", "contentUrl": url_ok, "encodingFormat": "application/x-ome-zarr"}]
        if url_ok
        else None,
        "dateModified": d.last_ok,
        "contentSize": format_bytes(d.written_bytes) if d.written_bytes else None,
    }
    return DatasetPage(
        title=catalog.title,
        root=root,
        id=dataset_id or d.id,
        name=name,
        url=d.url,
        href=url_ok,
        description=d.description,
        facts=tuple(facts),
        badges=get_badges(d),
        thumb_src=root + thumb_rel if thumb_rel else None,
        thumb_width=tw,
        thumb_height=th,
        axes=axes,
        levels=levels,
        channels=channels,
        plate=plate,
        errors=d.errors,
        warnings=d.warnings,
        rocrate=rocrate,
        listings=tuple(
            (x.source or d.source, x.collection or d.collection, x.shown, safe_url(x.link) if x.link else None)
            for x in d.listings
        ),
        links=tuple(links),
        origin=safe_url(d.origin),
        license_href=license_href,
        license=d.license,
        snippets=snippets,
        jsonld=json_for_script({k: v for k, v in jsonld.items() if v is not None}),
        generated_at=catalog.generated_at,
    )


# --------------------------------------------------------------------------- exports


# --------------------------------------------------------------------------- writing


_FORKED: tuple[Catalog, Path] | None = None


