"""The result card: what it shows, decided once for the page and the JS.

``templates/_macros.html`` renders a ``CardView``; index.html renders the
first page of cards with it and, from ``get_card_prototype``, the
``<template>`` that assets/catalog.js clones for every other card. The badges
travel to the JS precomputed in the search index's card rows.
"""

from __future__ import annotations

from generator.records import Dataset
from generator.site.contexts import CardThumb, CardView
from generator.site.format import (
    display_name,
    get_axis_sizes,
    get_validator_url,
    safe_url,
)


def get_badges(d: Dataset) -> tuple[tuple[str, str], ...]:
    """(css class suffix, text) of each badge a card and a dataset page show."""
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


def get_card(d: Dataset, *, src: str | None = None, eager: bool = False) -> CardView:
    """The card of ``d``; ``src`` replaces the thumbnail's path (an inlined data: URI)."""
    thumb = d.thumbnail
    name = display_name(d)
    return CardView(
        id=d.id,
        url=d.url,
        name=name,
        axes=tuple((axis, str(size)) for axis, size in get_axis_sizes(d)),
        source=d.source,
        collection=d.collection or None,
        badges=get_badges(d),
        thumb=CardThumb(src or thumb.card, thumb.width, thumb.height, eager) if thumb else None,
        placeholder=None if thumb else f"No thumbnail for {name}",
        validator=get_validator_url(d.public_url) if safe_url(d.public_url) else None,
        origin=safe_url(d.origin),
    )


def get_card_prototype() -> CardView:
    """A card with every optional part present and every value empty: the
    markup the JS clones, fills (textContent and attributes only) and prunes."""
    return CardView(
        id="",
        url="",
        name="",
        axes=(("", ""),),
        source="",
        collection="",
        badges=(("", ""),),
        thumb=CardThumb("", 0, 0, False),
        placeholder="",
        validator="",
        origin="",
    )
