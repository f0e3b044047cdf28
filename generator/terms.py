"""Ontology labels for organism (NCBI taxon) and imaging modality (FBbi ...).

Submitters write term IDs every which way: ``NCBI:txid9606``,
``NCBITaxon:9606``, ``obo:NCBITaxon_10117``, ``obo:FBbi_00000246``,
``obo:FBbi:00000246``, ``FBbi:00000243``, ``NCIT_C182027``, PURLs, plain
numbers. ``parse_term_id`` turns each into one CURIE (``NCBITaxon:9606``,
``FBbi:00000246``, ``NCIT:C182027``, ``OBI:0003098``, ``MI:1024``);
``label_term`` adds the label from the bundled table
(``generator/data/terms.json``, provenance in ``generator/data/README.md``).

``resolve_terms`` looks unknown IDs up in EBI OLS through the fetcher
(``--resolve-terms``) and caches the answers in the build state. Offline, an
unknown term keeps ``label=None`` and the site shows its ID.
"""

from __future__ import annotations

import asyncio
import json
import re
from functools import lru_cache
from importlib import resources
from typing import Callable, Iterable, Literal, Mapping, Protocol
from urllib.parse import quote, unquote

from generator.deadline import Deadline, get_task_end
from generator.fetch.base import FetchError
from generator.fetch.http import Fetcher
from generator.records import Term

TermKind = Literal["organism", "modality"]

OLS_BASE = "https://www.ebi.ac.uk/ols4"
OBO_PURL = "http://purl.obolibrary.org/obo/"
MAX_LABEL = 200  # OLS answers are untrusted: a label is a short name, never a document

# Canonical prefix -> zero padding of the local number (0: none; NCIT keeps its "C").
_PADDING = {"NCBITaxon": 0, "FBbi": 8, "OBI": 7, "MI": 4, "NCIT": 0}
_PREFIXES = {p.lower(): p for p in _PADDING}
_PREFIXES.update({"ncbi": "NCBITaxon", "taxon": "NCBITaxon", "taxonomy": "NCBITaxon", "ncbi_taxon": "NCBITaxon",
                  "ncbi taxon": "NCBITaxon", "nci": "NCIT", "psi-mi": "MI"})
_DEFAULT_PREFIX = {"organism": "NCBITaxon", "modality": "FBbi"}

# "NCBI:txid9606" / "txid9606" / "NCBI txid 9606"
_TXID = re.compile(r"^(?:ncbi\s*[:_ ]?\s*)?txid\s*[:_]?\s*(\d+)$", re.I)
# "PREFIX:LOCAL", "PREFIX_LOCAL", with an optional "obo:" in front
_CURIE = re.compile(r"^(?:obo\s*:\s*)?([A-Za-z][A-Za-z_ -]*?)\s*[:_]\s*([A-Za-z]?\d+)$")
# identifiers.org / NCBI browser URLs that carry a taxon number
_TAXON_URL = re.compile(
    r"(?:identifiers\.org/(?:taxonomy|ncbitaxon)[:/]|[?&]id=|/taxonomy/(?:id/)?)(\d+)\b", re.I
)


def _canonical(prefix: str, local: str) -> str | None:
    canon = _PREFIXES.get(prefix.strip().lower())
    if canon is None:
        return None
    if canon == "NCIT":
        m = re.fullmatch(r"[Cc]?(\d+)", local)
        return f"NCIT:C{m.group(1)}" if m else None
    if not local.isdigit():
        return None
    width = _PADDING[canon]
    number = int(local)
    return f"{canon}:{number:0{width}d}" if width else f"{canon}:{number}"


def parse_term_id(raw: str | None, kind: TermKind | None = None) -> str | None:
    """Normalise one ontology ID written any common way to a CURIE, or None.

    A bare number is only meaningful with ``kind`` (organism -> NCBITaxon,
    modality -> FBbi).
    """
    if raw is None:
        return None
    text = " ".join(str(raw).split()).strip().strip("<>\"'")
    if not text:
        return None
    if "://" in text:
        text = unquote(unquote(text))  # OLS page URLs double-encode the IRI
        # PURLs (http://purl.obolibrary.org/obo/FBbi_00000246) and OLS/registry
        # URLs end in the OBO-style short form; a few taxonomy URLs end in a number.
        m = re.search(r"/([A-Za-z]+_[A-Za-z]?\d+)/?(?:[?#].*)?$", text)
        if m:
            text = m.group(1)
        else:
            m = _TAXON_URL.search(text)
            return f"NCBITaxon:{int(m.group(1))}" if m else None
    m = _TXID.match(text)
    if m:
        return f"NCBITaxon:{int(m.group(1))}"
    if text.isdigit():
        return _canonical(_DEFAULT_PREFIX[kind], text) if kind else None
    m = _CURIE.match(text)
    if m:
        return _canonical(m.group(1), m.group(2))
    return None


@lru_cache(maxsize=1)
def get_term_table() -> Mapping[str, str]:
    """The bundled offline table: CURIE -> label."""
    raw = resources.files("generator").joinpath("data/terms.json").read_text(encoding="utf-8")
    return {t["id"]: t["label"] for t in json.loads(raw)["terms"]}


def label_term(
    term: Term | None,
    kind: TermKind,
    *,
    resolver: Callable[[str], str | None] | Mapping[str, str] | None = None,
) -> Term | None:
    """Normalise ``term.id`` and label it.

    The label comes from the bundled table, else from ``resolver`` (a mapping
    or a callable, e.g. the labels ``resolve_terms`` found), else the label the
    dataset already had, else None. An ID that cannot be parsed is kept as
    written (trimmed) so the site still shows what the submitter wrote.
    """
    if term is None:
        return None
    curie = parse_term_id(term.id, kind)
    if curie is None:
        shown = " ".join(term.id.split())
        return Term(id=shown, label=term.label) if shown else None
    label = get_term_table().get(curie)
    if label is None and resolver is not None:
        label = resolver.get(curie) if isinstance(resolver, Mapping) else resolver(curie)
    return Term(id=curie, label=label or term.label or None)


@lru_cache(maxsize=4096)
def get_term(raw_id: str, label: str | None, kind: TermKind) -> Term | None:
    """A labelled term from an ID as written; cached, as catalogs repeat a few terms."""
    return label_term(Term(id=raw_id, label=label), kind)


class TermCache(Protocol):
    def get_term_label(self, term_id: str) -> str | None: ...

    def put_term_label(self, term_id: str, label: str) -> None: ...


def get_term_iri(curie: str) -> str:
    """The OBO PURL OLS indexes a term under: NCBITaxon:9606 -> .../obo/NCBITaxon_9606."""
    prefix, local = curie.split(":", 1)
    return f"{OBO_PURL}{prefix}_{local}"


def parse_ols_label(doc: object, curie: str) -> str | None:
    """The label of ``curie`` in an OLS ``/api/terms`` answer, or None."""
    if not isinstance(doc, dict):
        return None
    terms = (doc.get("_embedded") or {}).get("terms") if isinstance(doc.get("_embedded"), dict) else None
    if not isinstance(terms, list):
        return None
    iri = get_term_iri(curie)
    candidates = [
        t for t in terms
        if isinstance(t, dict) and (t.get("obo_id") == curie or t.get("iri") == iri)
    ]
    # Imports repeat a term in other ontologies; the defining one is the reference.
    candidates.sort(key=lambda t: not t.get("is_defining_ontology", False))
    for t in candidates:
        label = t.get("label")
        if isinstance(label, str):
            label = " ".join(label.split())
            if 0 < len(label) <= MAX_LABEL:
                return label
    return None


async def resolve_terms(
    ids: Iterable[str],
    fetcher: Fetcher,
    state: TermCache | None,
    *,
    base_url: str = OLS_BASE,
    deadline: Deadline | None = None,
) -> dict[str, str]:
    """Look up labels for ``ids`` (CURIEs) in EBI OLS; cached in ``state``.

    Returns the labels found; an ID OLS does not know, or a failed lookup,
    is simply absent (the build then shows the ID). Only found labels are
    cached, so a term OLS learns later is picked up by a later build.
    Past ``deadline`` the lookups still under way are dropped: the labels
    found by then are kept, and the rest wait for the next build.
    """
    found: dict[str, str] = {}
    todo: list[str] = []
    for curie in dict.fromkeys(ids):
        if parse_term_id(curie) != curie:
            continue  # only well-formed CURIEs go into a URL
        cached = state.get_term_label(curie) if state is not None else None
        if cached:
            found[curie] = cached
        else:
            todo.append(curie)

    async def lookup(curie: str) -> tuple[str, str | None]:
        url = f"{base_url.rstrip('/')}/api/terms?iri={quote(get_term_iri(curie), safe='')}"
        try:
            doc, _ = await fetcher.get_json(url, conditional=False)
        except FetchError:
            return curie, None
        return curie, parse_ols_label(doc, curie)

    if not todo or (deadline is not None and deadline.passed):
        return found
    tasks = [asyncio.ensure_future(lookup(c)) for c in todo]
    end = get_task_end(None, deadline)
    timeout = None if end is None else max(0.0, end.loop_time - asyncio.get_running_loop().time())
    try:
        done, pending = await asyncio.wait(tasks, timeout=timeout)
    finally:
        # Past the deadline (or with the build stopping) the lookups left are dropped.
        for t in tasks:
            t.cancel()
    if pending:
        await asyncio.gather(*pending, return_exceptions=True)
    for curie, label in (t.result() for t in tasks if t in done):
        if label:
            found[curie] = label
            if state is not None:
                state.put_term_label(curie, label)
    return found
