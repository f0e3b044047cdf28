"""The dataset page's context: a pure function of one record and the catalog."""

from __future__ import annotations

import json
from typing import Any

from generator.fetch.urls import join_url
from generator.records import Catalog, Dataset, Plate
from generator.site.cards import get_badges
from generator.site.multiscales_view import get_multiscale_rows, get_time_step, get_translation
from generator.site.contexts import (
    AxisRow,
    ChannelRow,
    DatasetPage,
    LevelRow,
    Link,
    PlateMap,
    Snippet,
)
from generator.site.format import (
    _HEX,
    VALIDATOR,
    VIZARR,
    _num,
    _shell_quote,
    axis_names,
    display_name,
    format_bytes,
    format_time,
    format_tuple,
    get_neuroglancer_url,
    json_for_script,
    quote_component,
    safe_url,
    term_label,
)

ROOT = "../../"  # from datasets/<id>/ back to the site's root


def _describe_value(v: object) -> str:
    """Plain text for an RO-Crate value: a term reads "label (id)", not JSON."""
    if isinstance(v, str):
        return v
    if isinstance(v, dict) and isinstance(v.get("id"), str):
        label = v.get("label")
        return f"{label} ({v['id']})" if isinstance(label, str) and label else v["id"]
    return json.dumps(v, ensure_ascii=False)[:500]


def get_thumb(d: Dataset) -> tuple[str | None, int, int]:
    """The page's rendition (the detail one when there is one) and its size.
    A record from before detail sizes were kept has the card's: only the
    aspect ratio matters to the layout, and the renditions share it."""
    thumb = d.thumbnail
    if thumb is None:
        return None, 512, 512
    if thumb.detail and thumb.detail_width and thumb.detail_height:
        return thumb.detail, thumb.detail_width, thumb.detail_height
    return thumb.detail or thumb.card, thumb.width, thumb.height


def get_axis_rows(d: Dataset) -> tuple[AxisRow, ...]:
    by_name = {a.name: a for a in d.axes}
    translation = get_translation(d)
    return tuple(
        AxisRow(
            name=n,
            type=(by_name[n].type or "–") if n in by_name else "–",
            unit=(by_name[n].unit or "–") if n in by_name else "–",
            size=str(size),
            physical=_num(d.physical_sizes[n]) if n in d.physical_sizes else "–",
            translation=_num(translation[n]) if n in translation else "–",
        )
        for n, size in zip(axis_names(d), d.shape or ())
    )


def get_level_rows(d: Dataset) -> tuple[LevelRow, ...]:
    return tuple(
        LevelRow(
            path=lv.path,
            # A listed shape is the CSV's statement, not a guess from the scales.
            shape=format_tuple(lv.shape) + (" (inferred)" if lv.inferred and not lv.listed else ""),
            chunks=format_tuple(lv.chunks),
            shards=format_tuple(lv.shards),
            dtype=lv.dtype or "–",
            codecs=", ".join(lv.codecs) or "–",
            scale=format_tuple([_num(s) for s in lv.scale]) if lv.scale else "–",
        )
        for lv in d.resolutions
    )


def get_channel_rows(d: Dataset) -> tuple[ChannelRow, ...]:
    return tuple(
        ChannelRow(
            label=c.label or f"channel {i}",
            color=c.color if c.color and _HEX.match(c.color) else None,
            window=(f"{_num(c.window_start)} – {_num(c.window_end)}" if c.window_start is not None and c.window_end is not None else "–"),
            active=c.active,
        )
        for i, c in enumerate(d.channels)
    )


def get_plate_map(p: Plate) -> PlateMap:
    row_names = p.row_names or tuple(chr(65 + i) if i < 26 else str(i + 1) for i in range(p.rows))
    col_names = p.column_names or tuple(str(i + 1) for i in range(p.columns))
    present = {tuple(w.split("/")[:2]) for w in p.well_paths}
    return PlateMap(
        columns=tuple(col_names),
        rows=tuple((r, tuple((r, c) in present for c in col_names)) for r in row_names),
        wells=p.wells,
        fields=p.fields,
        read=get_plate_read(p),
    )


def get_plate_read(p: Plate) -> str:
    """What harvest read of the plate, in words: the sizes stand on it."""
    if not p.wells_read:
        return ""
    said = f"Checked {p.wells_read:,} of {p.wells:,} wells, one field image each"
    if p.field_total:
        said += f"; {p.field_total:,} field images in all" + (" (estimated from the wells checked)" if p.estimated else "")
    return said + "."


def get_facts(d: Dataset) -> tuple[tuple[str, str], ...]:
    names = axis_names(d)
    facts: list[tuple[str, str]] = [
        ("Kind", d.kind),
        ("Status", d.status),
        ("NGFF version", d.ngff_version or "–"),
        ("Zarr format", str(d.zarr_format) if d.zarr_format else "–"),
        ("Shape", format_tuple(d.shape or ()) + (f"  ({' × '.join(names)})" if names else "")),
        ("Data type", d.level0.dtype if d.level0 and d.level0.dtype else "–"),
        ("Resolution levels", str(len(d.resolutions))),
        ("Time step", get_time_step(d) or "–"),
        ("Size (written)", format_bytes(d.written_bytes) if d.written_bytes is not None else "not measured"),
        ("Size (uncompressed)", _uncompressed(d)),
        ("Organism", term_label(d.organism) or "–"),
        ("Imaging modality", term_label(d.modality) or "–"),
        ("Source", d.source or "–"),
        ("Collection", d.collection or "–"),
        ("CORS", {True: "yes", False: "no"}.get(d.cors, "unknown")),
    ]
    if d.image_path:
        facts.append(("Image path", d.image_path))
    if d.series:
        read = f" ({d.series_read} read; sizes sum over those)" if d.series_read else ""
        label = "Images" if d.kind == "scene" else "Series"
        facts.append((label, ", ".join(d.series[:20]) + (" …" if len(d.series) > 20 else "") + read))
    if d.labels:
        facts.append(("Labels", ", ".join(d.labels)))
    if d.first_seen:
        facts.append(("First seen", format_time(d.first_seen)))
    if d.last_ok:
        facts.append(("Last harvested", format_time(d.last_ok)))
    return tuple(facts)


def _uncompressed(d: Dataset) -> str:
    if d.uncompressed_bytes is None:
        return "not known"
    p = d.plate
    if p is not None and p.estimated:
        return f"{format_bytes(d.uncompressed_bytes)} (estimated from {p.wells_read:,} of {p.wells:,} wells)"
    return format_bytes(d.uncompressed_bytes)


def get_links(d: Dataset, name: str, href: str | None = None) -> tuple[Link, ...]:
    """``href``: ``safe_url(d.public_url)``, when the caller has it already."""
    # Browsers open https only: an s3:// or gs:// dataset is linked by its HTTPS form.
    public = href if href is not None else safe_url(d.public_url)
    if not public:
        return ()
    quoted = quote_component(public)  # the validator, vizarr and Neuroglancer take the same URL
    return (
        Link("OME-NGFF validator", VALIDATOR + quoted),
        Link("vizarr", VIZARR + quoted),
        Link("Neuroglancer", get_neuroglancer_url(public, name, quoted)),
    )


def _ome_zarr_url(d: Dataset) -> str:
    """Where ome-zarr-py's reader opens an image: a bioformats2raw container, a scene or a labels
    group is no image itself, so its reader is pointed at the image harvest read (the first series)."""
    if d.image_path and d.kind in ("bioformats2raw", "scene", "labels"):
        return join_url(d.url, d.image_path)
    return d.url


def get_snippets(d: Dataset) -> tuple[Snippet, ...]:
    """Python and napari read object URLs themselves: they get the URL as listed, anonymous."""
    level_path = "/".join(p for p in (d.image_path, d.level0.path if d.level0 else "0") if p)
    options, env = _object_options(d)
    return (
        Snippet(
            "zarr-python",
            "zarr-python",
            f"import zarr\n\nroot = zarr.open_group({d.url!r}, mode=\"r\"{options})\n"
            f"array = root[{level_path!r}]  # full resolution\nprint(array.shape, array.dtype)",
        ),
        Snippet(
            "ome-zarr-py",
            "ome-zarr-py",
            (f"import os\n\nos.environ[{env[0]!r}] = {env[1]!r}\n" if env else "")
            + "from ome_zarr.io import parse_url\nfrom ome_zarr.reader import Reader\n\n"
            f"reader = Reader(parse_url({_ome_zarr_url(d)!r}))\nimage = list(reader())[0]\n"
            "print(image.data[0].shape)  # dask array, full resolution",
        ),
        Snippet(
            "napari",
            "napari",
            (f"{env[0]}={_shell_quote(env[1])} " if env else "") + f"napari --plugin napari-ome-zarr {_shell_quote(d.url)}",
        ),
    )


def _object_options(d: Dataset) -> tuple[str, tuple[str, str] | None]:
    """zarr-python's ``storage_options`` argument and the endpoint variable for the other tools."""
    if d.url.startswith("gs://"):
        return ', storage_options={"token": "anon"}', None
    if not d.url.startswith("s3://"):
        return "", None
    if d.endpoint is None:
        return ', storage_options={"anon": True}', None
    client = "{" + f'"endpoint_url": {d.endpoint!r}' + "}"
    return f', storage_options={{"anon": True, "client_kwargs": {client}}}', ("AWS_ENDPOINT_URL_S3", d.endpoint)


def get_dataset_jsonld(d: Dataset, name: str, catalog_title: str, href: str | None = None) -> str:
    """``href``: ``safe_url(d.public_url)``, when the caller has it already."""
    url_ok = href if href is not None else safe_url(d.public_url)
    jsonld: dict[str, Any] = {
        "@context": "https://schema.org",
        "@type": "Dataset",
        "name": name,
        "description": d.description or f"OME-Zarr {d.kind} ({format_tuple(d.shape or ())})",
        "identifier": d.url,
        "url": url_ok or None,
        "creator": {"@type": "Organization", "name": d.source} if d.source else None,
        "license": d.license or None,
        "includedInDataCatalog": {"@type": "DataCatalog", "name": catalog_title, "url": ROOT},
        "distribution": [{"@type": "DataDownload", "contentUrl": url_ok, "encodingFormat": "application/x-ome-zarr"}]
        if url_ok
        else None,
        "dateModified": d.last_ok,
        "contentSize": format_bytes(d.written_bytes) if d.written_bytes else None,
    }
    return json_for_script({k: v for k, v in jsonld.items() if v is not None})


def get_dataset_page(d: Dataset, catalog: Catalog) -> DatasetPage:
    name = display_name(d)
    thumb_rel, tw, th = get_thumb(d)
    href = safe_url(d.public_url)  # the page's link, its viewers' and its JSON-LD's
    return DatasetPage(
        title=catalog.title,
        root=ROOT,
        id=d.id,
        name=name,
        url=d.url,
        href=href,
        description=d.description,
        facts=get_facts(d),
        badges=get_badges(d),
        thumb_src=ROOT + thumb_rel if thumb_rel else None,
        thumb_width=tw,
        thumb_height=th,
        axes=get_axis_rows(d),
        levels=get_level_rows(d),
        channels=get_channel_rows(d),
        plate=get_plate_map(d.plate) if d.plate is not None else None,
        errors=d.errors,
        warnings=d.warnings,
        rocrate=tuple((str(k), _describe_value(v)) for k, v in (d.rocrate or {}).items()),
        listings=tuple(
            (x.source or d.source, x.collection or d.collection, x.shown, safe_url(x.link) if x.link else None)
            for x in d.listings
        ),
        links=get_links(d, name, href) if href else (),
        origin=safe_url(d.origin),
        license_href=safe_url(d.license),
        license=d.license,
        snippets=get_snippets(d),
        jsonld=get_dataset_jsonld(d, name, catalog.title, href or ""),
        generated_at=catalog.generated_at,
        multiscales=get_multiscale_rows(d),
    )
