"""Ontology IDs: normalisation, the bundled label table, and OLS look-ups."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import time
from pathlib import Path

import pytest
from aiohttp import web

from generator.deadline import Deadline
from generator.fetch.http import Fetcher
from generator.records import Term
from generator.state import State
from generator.terms import (
    get_term_iri,
    get_term_table,
    label_term,
    parse_ols_label,
    parse_term_id,
    resolve_terms,
)
from tests.conftest import start_static_server

TERM_COLUMNS = {"organismid": "organism", "fbbiid": "modality"}


def get_corpus_term_values(corpus: Path) -> dict[tuple[str, str], int]:
    """Every distinct (kind, raw value) in the organismId/fbbiId columns of the challenge CSVs."""
    found: dict[tuple[str, str], int] = {}
    for path in sorted((corpus / "challenge-samples").rglob("*.csv")):
        rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig", errors="replace"))))
        if not rows:
            continue
        header = [h.strip().lower() for h in rows[0]]
        for col, kind in TERM_COLUMNS.items():
            if col not in header:
                continue
            i = header.index(col)
            for row in rows[1:]:
                if len(row) > i and row[i].strip():
                    found[(kind, row[i])] = found.get((kind, row[i]), 0) + 1
    return found


@pytest.mark.corpus
def test_every_corpus_term_variant_normalises_and_has_a_bundled_label(corpus: Path) -> None:
    values = get_corpus_term_values(corpus)
    # The challenge CSVs use several spellings for both columns; make sure the scan saw them.
    assert len({k for k, _ in values}) == 2
    assert len(values) >= 20
    table = get_term_table()
    problems = []
    for kind, raw in sorted(values):
        curie = parse_term_id(raw, kind)
        if curie is None:
            problems.append(f"{kind} {raw!r}: not parsed")
            continue
        term = label_term(Term(raw), kind)
        if term is None or term.id != curie or not term.label or curie not in table:
            problems.append(f"{kind} {raw!r} -> {curie}: no bundled label")
    assert problems == []


@pytest.mark.parametrize(
    ("raw", "kind", "expected"),
    [
        ("NCBI:txid9606", None, "NCBITaxon:9606"),
        ("NCBITaxon:9606", None, "NCBITaxon:9606"),
        ("obo:NCBITaxon_10117", None, "NCBITaxon:10117"),
        ("  NCBITaxon_9606 ", None, "NCBITaxon:9606"),
        ("txid 10090", None, "NCBITaxon:10090"),
        ("ncbitaxon:7227", None, "NCBITaxon:7227"),
        ("http://purl.obolibrary.org/obo/NCBITaxon_9606", None, "NCBITaxon:9606"),
        ("<https://purl.obolibrary.org/obo/NCBITaxon_7955>", None, "NCBITaxon:7955"),
        ("https://www.ncbi.nlm.nih.gov/Taxonomy/Browser/wwwtax.cgi?id=6239", None, "NCBITaxon:6239"),
        ("https://identifiers.org/taxonomy:4932", None, "NCBITaxon:4932"),
        (
            "https://www.ebi.ac.uk/ols4/ontologies/ncbitaxon/classes/"
            "http%253A%252F%252Fpurl.obolibrary.org%252Fobo%252FNCBITaxon_9606",
            None,
            "NCBITaxon:9606",
        ),
        ("9606", "organism", "NCBITaxon:9606"),
        ("obo:FBbi_00000585", None, "FBbi:00000585"),
        ("obo:FBbi:00000246", None, "FBbi:00000246"),
        ("FBbi:00000246", None, "FBbi:00000246"),
        ("FBbi_246", None, "FBbi:00000246"),
        ("fbbi:00000369", None, "FBbi:00000369"),
        ("http://purl.obolibrary.org/obo/FBbi_00000251", None, "FBbi:00000251"),
        ("246", "modality", "FBbi:00000246"),
        ("NCIT_C182027", None, "NCIT:C182027"),
        ("NCIT:C182027", None, "NCIT:C182027"),
        ("obo:NCIT_C182027", None, "NCIT:C182027"),
        ("obo:OBI_0003098", None, "OBI:0003098"),
        ("OBI:3098", None, "OBI:0003098"),
        ("obo:MI_1024", None, "MI:1024"),
        ("MI:0040", None, "MI:0040"),
    ],
)
def test_parse_term_id_variants(raw: str, kind: str | None, expected: str) -> None:
    assert parse_term_id(raw, kind) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "raw", ["", "   ", "9606", "human", "GO:0008150", "FBbi:abc", "NCBITaxon:", "file:///etc/passwd", "javascript:alert(1)"]
)
def test_parse_term_id_rejects(raw: str) -> None:
    # A bare number without a kind is ambiguous; unknown prefixes are not guessed.
    assert parse_term_id(raw) is None


def test_bundled_table_is_canonical_and_sourced() -> None:
    raw = json.loads((Path(__file__).resolve().parents[1] / "generator" / "data" / "terms.json").read_text())
    ids = [t["id"] for t in raw["terms"]]
    assert len(ids) == len(set(ids))
    for t in raw["terms"]:
        assert parse_term_id(t["id"]) == t["id"], t
        assert t["label"].strip() == t["label"] and t["label"], t
        assert t["source"], t
    table = get_term_table()
    assert table["NCBITaxon:9606"] == "Homo sapiens"
    assert table["FBbi:00000246"] == "fluorescence microscopy"


def test_label_term() -> None:
    assert label_term(None, "organism") is None
    assert label_term(Term("NCBI:txid10090"), "organism") == Term("NCBITaxon:10090", "Mus musculus")
    # The table wins over a submitter's label; the submitter's label beats nothing.
    assert label_term(Term("obo:FBbi_00000369", "light sheet"), "modality") == Term("FBbi:00000369", "SPIM")
    assert label_term(Term("NCBITaxon:999999999", "Something"), "organism") == Term("NCBITaxon:999999999", "Something")
    # Offline and unknown: normalised ID, no label (the site shows the ID).
    assert label_term(Term("obo:NCBITaxon_999999999"), "organism") == Term("NCBITaxon:999999999", None)
    # A resolver (mapping or callable) fills unknowns.
    assert label_term(Term("NCBITaxon_999999999"), "organism", resolver={"NCBITaxon:999999999": "X y"}).label == "X y"
    assert label_term(Term("FBbi:99999999"), "modality", resolver=lambda c: c.upper()).label == "FBBI:99999999"
    # Unparseable IDs are kept as written (whitespace tidied).
    assert label_term(Term("  some  lab code "), "organism") == Term("some lab code", None)


def _ols_doc(curie: str, label: str, *, imported_label: str | None = None) -> dict:
    iri = get_term_iri(curie)
    prefix = curie.split(":")[0]
    terms = []
    if imported_label is not None:
        terms.append({"iri": iri, "label": imported_label, "obo_id": curie, "ontology_name": "efo",
                      "is_defining_ontology": False, "short_form": iri.rsplit("/", 1)[1]})
    terms.append({"iri": iri, "label": label, "obo_id": curie, "ontology_name": prefix.lower(),
                  "is_defining_ontology": True, "short_form": iri.rsplit("/", 1)[1], "description": []})
    return {"_embedded": {"terms": terms}, "page": {"size": 20, "totalElements": len(terms), "totalPages": 1, "number": 0}}


def test_parse_ols_label() -> None:
    doc = _ols_doc("NCBITaxon:6252", "Ascaris lumbricoides", imported_label="roundworm (imported)")
    assert parse_ols_label(doc, "NCBITaxon:6252") == "Ascaris lumbricoides"
    assert parse_ols_label(doc, "NCBITaxon:1") is None
    assert parse_ols_label({"page": {}}, "NCBITaxon:6252") is None
    assert parse_ols_label([1, 2], "NCBITaxon:6252") is None
    assert parse_ols_label(_ols_doc("FBbi:00000001", "x" * 500), "FBbi:00000001") is None


@pytest.fixture
def ols(tmp_path: Path):
    """A local OLS stand-in: /ols4/api/terms?iri=... answers from JSON files under www/ols."""
    root = tmp_path / "www"
    (root / "ols").mkdir(parents=True)

    async def hook(request: web.Request) -> web.StreamResponse | None:
        if request.path != "/ols4/api/terms":
            return None
        iri = request.query.get("iri", "")
        name = iri.rsplit("/", 1)[-1]
        if name == "FBbi_00009999":
            return web.Response(status=500, text="OLS is down")
        if name == "NCBITaxon_31337":  # OLS hanging on one term
            await asyncio.sleep(30)
        path = root / "ols" / f"{name}.json"
        if not name or not path.is_file():
            return web.json_response({"page": {"size": 20, "totalElements": 0, "totalPages": 0, "number": 0}})
        return web.Response(body=path.read_bytes(), content_type="application/json")

    for curie, label in [("NCBITaxon:6252", "Ascaris lumbricoides"), ("FBbi:00000617", "evanescent wave microscopy")]:
        (root / "ols" / f"{curie.replace(':', '_')}.json").write_text(
            json.dumps(_ols_doc(curie, label, imported_label="imported copy"))
        )
    server, info = start_static_server(root, hook=hook)
    try:
        yield info
    finally:
        server.stop()


async def test_resolve_terms_against_local_ols_and_cache(ols, tmp_path: Path) -> None:
    wanted = ["NCBITaxon:6252", "FBbi:00000617", "NCBITaxon:424242", "FBbi:00009999", "not a curie"]
    with State(tmp_path / "cache") as st:
        async with Fetcher(allow_private_addresses=True, retries=0, timeout=5) as fetcher:
            found = await resolve_terms(wanted, fetcher, st, base_url=f"{ols.url}/ols4")
        assert found == {"NCBITaxon:6252": "Ascaris lumbricoides", "FBbi:00000617": "evanescent wave microscopy"}
        queried = sorted(e[1] for e in ols.log.entries)
        assert queried == ["/ols4/api/terms"] * 4  # the malformed ID never reaches a URL
        assert st.get_term_label("NCBITaxon:6252") == "Ascaris lumbricoides"
        assert st.get_term_label("NCBITaxon:424242") is None

    # A later build asks OLS only about what it did not find before.
    ols.log.clear()
    with State(tmp_path / "cache") as st:
        async with Fetcher(allow_private_addresses=True, retries=0, timeout=5) as fetcher:
            again = await resolve_terms(wanted, fetcher, st, base_url=f"{ols.url}/ols4")
    assert again == found
    assert len(ols.log.entries) == 2

    # The resolved labels feed label_term for the build.
    assert label_term(Term("NCBITaxon_6252"), "organism", resolver=found) == Term("NCBITaxon:6252", "Ascaris lumbricoides")
    assert label_term(Term("NCBITaxon_424242"), "organism", resolver=found) == Term("NCBITaxon:424242", None)


async def test_resolve_terms_without_state(ols) -> None:
    async with Fetcher(allow_private_addresses=True, retries=0, timeout=5) as fetcher:
        found = await resolve_terms(["FBbi:00000617"], fetcher, None, base_url=f"{ols.url}/ols4/")
    assert found == {"FBbi:00000617": "evanescent wave microscopy"}


async def test_resolve_terms_stops_at_the_deadline(ols) -> None:
    """A hanging lookup ends at the build's deadline; the labels found by then are kept."""
    async with Fetcher(allow_private_addresses=True, retries=0, timeout=60) as fetcher:
        t0 = time.monotonic()
        found = await resolve_terms(
            ["FBbi:00000617", "NCBITaxon:31337"], fetcher, None, base_url=f"{ols.url}/ols4", deadline=Deadline.after(1.0)
        )
        elapsed = time.monotonic() - t0
    assert found == {"FBbi:00000617": "evanescent wave microscopy"}
    assert elapsed < 5  # the fetcher's own timeout (60 s) would have waited out the hang


async def test_resolve_terms_past_the_deadline_asks_nothing(ols) -> None:
    async with Fetcher(allow_private_addresses=True, retries=0, timeout=5) as fetcher:
        found = await resolve_terms(["FBbi:00000617"], fetcher, None, base_url=f"{ols.url}/ols4", deadline=Deadline.after(0.0))
    assert found == {}
    assert ols.log.entries == []
