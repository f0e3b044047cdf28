"""Facts from an RO-Crate (``ro-crate-metadata.json``): name, description, license, terms."""

from __future__ import annotations

from typing import Any

from generator.harvest.parse import _text
from generator.records import Term
from generator.sources.columns import is_placeholder
from generator.terms import TermKind, get_term


def parse_rocrate(doc: Any) -> dict[str, Any]:
    """Facts from an RO-Crate in the shape the NGFF challenge wrote (see samples.write_rocrate)."""
    graph = doc.get("@graph") if isinstance(doc, dict) else None
    if not isinstance(graph, list):
        return {}
    items = [x for x in graph[:10_000] if isinstance(x, dict)]
    by_id = {x.get("@id"): x for x in items if isinstance(x.get("@id"), str)}
    root = by_id.get("./") or next((x for x in items if x.get("@type") == "Dataset"), {})
    facts: dict[str, Any] = {}
    for key in ("name", "description"):
        text = _text(root.get(key), multiline=key == "description")
        if text and not is_placeholder(text):
            facts[key] = text
    lic = root.get("license")
    if isinstance(lic, dict):
        lic = lic.get("@id")
    if _text(lic):
        facts["license"] = _text(lic)

    def term(ref: Any) -> dict[str, str] | None:
        if isinstance(ref, list) and ref:
            ref = ref[0]
        rid = ref.get("@id") if isinstance(ref, dict) else ref
        if not _text(rid):
            return None
        label = _text((by_id.get(rid) or {}).get("name"))
        return {"id": _text(rid), "label": label}

    for x in items:
        types = x.get("@type") if isinstance(x.get("@type"), list) else [x.get("@type")]
        if "biosample" in types and "organism" not in facts:
            t = term(x.get("organism_classification"))
            if t:
                facts["organism"] = t
        if "image_acquisition" in types and "modality" not in facts:
            t = term(x.get("fbbi_id"))
            if t:
                facts["modality"] = t
    for x in items:  # taxa listed without a biosample pointing at them
        types = x.get("@type") if isinstance(x.get("@type"), list) else [x.get("@type")]
        if "taxonomic_classification" in types and "organism" not in facts and _text(x.get("@id")):
            facts["organism"] = {"id": _text(x["@id"]), "label": _text(x.get("name"))}
    return facts


def _term(d: Any, kind: TermKind) -> Term | None:
    if isinstance(d, dict) and d.get("id"):
        label = d.get("label")
        return get_term(str(d["id"]), label if isinstance(label, str) else None, kind)
    return None
