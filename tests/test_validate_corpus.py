"""Acceptance: the spec's own examples and conformance tests, built as real Zarr groups.

Every example and test document under ``../shared/corpus/ngff-spec/*`` is
written by zarr-python as a group with the arrays it names
(``generator.dev.spec_groups``), served by the local server, harvested
and validated as a build does it, and judged against the verdict its file
name or metadata gives: every valid one ``ok``, every invalid one flagged
with a message naming the rule. A confusion table per version is printed.
Documents under ``strict/`` break only the spec's recommendations (its
strict schemas): those are flagged by a warning, not an error.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest

from generator.dev.spec_groups import write_spec_group
from generator.fetch.http import Fetcher
from generator.harvest.dataset import harvest
from generator.history import decide_status
from generator.records import Dataset, Entry, Listing
from generator.validate import STRICT_ADVICE, validate

from .conftest import CORPUS, StaticServer, start_static_server

pytestmark = pytest.mark.corpus

VERSIONS = ("0.4", "0.5", "0.6rc0")
# The kinds of attribute document a dataset is made of (the rest are fragments:
# a lone transformation, an OME/ series list).
DOCUMENT_KEYS = {"multiscales", "plate", "well", "image-label", "bioformats2raw.layout", "scene"}

# Valid documents the catalog flags, and why (xfail, strict: a change in
# either the documents or the schemas shows up here).
# Some of the spec's own 0.6rc0 documents (its examples and its zarr/ tests)
# still write a transformation's input and output as strings, the form before
# rc0; the spec's 0.6rc0 schema (the copy in the corpus and ngff-zarr's alike)
# requires objects ({"name": ...} or {"path": ...}), and the validator follows
# the schema. The schema is right; the documents are out of date.
STRING_REFS = "the spec's document uses string input/output, which its own 0.6rc0 schema rejects (objects required)"


def known_gap(case: "Case") -> str | None:
    if not case.valid or not isinstance(case.ome, dict):
        return None
    if case.version.startswith("0.6") and _has_string_refs(case.ome.get("multiscales")):
        return STRING_REFS
    return None


def _has_string_refs(value: Any) -> bool:
    if isinstance(value, dict):
        if any(isinstance(value.get(end), str) for end in ("input", "output")) and "type" in value:
            return True
        return any(_has_string_refs(v) for v in value.values())
    return isinstance(value, list) and any(_has_string_refs(v) for v in value)


@dataclass(frozen=True)
class Case:
    version: str
    name: str  # relative to the version folder
    ome: Any
    valid: bool
    strict: bool  # judged by the strict schemas (recommendations) only
    raw: Path | None = None  # a zarr.json that is not JSON: served as it is

    @property
    def slug(self) -> str:
        return re.sub(r"[^A-Za-z0-9_.-]+", "_", self.name) + ".zarr"


def _load(path: Path) -> Any:
    # The spec's examples carry // comments.
    return json.loads(re.sub(r"^\s*//.*$", "", path.read_text(), flags=re.M))


def _ome_of(doc: Any, version: str) -> Any:
    if not isinstance(doc, dict):
        return None
    if "attributes" in doc:
        return doc["attributes"].get("ome") if version != "0.4" else doc["attributes"]
    if version != "0.4" and "ome" in doc:
        return doc["ome"]
    return doc


def _expected(parts: tuple[str, ...], doc: Any) -> bool:
    meta = _ome_of(doc, "0.6rc0") is not None and isinstance(doc, dict) and (doc.get("attributes") or doc).get("_conformance")
    if isinstance(meta, dict) and "valid" in meta:
        return bool(meta["valid"])
    return "valid" in parts


def get_cases(corpus: Path) -> list[Case]:
    cases: list[Case] = []
    for version in VERSIONS:
        root = corpus / "ngff-spec" / version
        for path in sorted((root / "examples").rglob("*.json")):
            if path.name.startswith("."):
                continue
            ome = _ome_of(_load(path), version)
            is_document = isinstance(ome, dict) and DOCUMENT_KEYS & set(ome)
            # From 0.5 a document carries its version; without one it is a fragment of another.
            if is_document and (version == "0.4" or "version" in ome):
                cases.append(Case(version, path.relative_to(root).as_posix(), ome, True, False))
        tests = [*sorted((root / "tests" / "attributes").rglob("*.json")), *sorted((root / "tests" / "zarr").rglob("zarr.json"))]
        for path in tests:
            parts = path.relative_to(root / "tests").parts
            name = path.relative_to(root).as_posix()
            try:
                doc = _load(path)
            except ValueError:
                cases.append(Case(version, name, None, "valid" in parts, parts[1] == "strict", raw=path))
                continue
            cases.append(Case(version, name, _ome_of(doc, version), _expected(parts, doc), parts[1] == "strict"))
    return cases


CASES = get_cases(CORPUS) if CORPUS.is_dir() else []


def _entry(url: str) -> Entry:
    return Entry(url=url, source="spec", collection="spec.csv", listings=(Listing("spec.csv", 2, "spec", "spec.csv"),))


def _judged(ds: Dataset) -> Dataset:
    checked = ds.with_findings(validate(ds))
    return dataclasses.replace(checked, status=decide_status(checked))


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Dataset]]:
    """Every case written, served and harvested once: its judged record by case name."""
    if not CASES:
        pytest.skip("../shared/corpus is not present")
    root = tmp_path_factory.mktemp("spec")
    for case in CASES:
        where = root / case.version / case.slug
        if case.raw is not None:
            where.mkdir(parents=True)
            shutil.copyfile(case.raw, where / "zarr.json")
        elif isinstance(case.ome, dict):
            write_spec_group(where, case.ome, case.version)
        else:  # no OME object at all: an empty group, as a provider might serve
            write_spec_group(where, {}, case.version)
    server, info = start_static_server(root)
    try:
        yield _harvest_all(info)
    finally:
        server.stop()


def _harvest_all(info: StaticServer) -> dict[str, Dataset]:
    import asyncio

    async def run() -> list[Dataset]:
        async with Fetcher(allow_private_addresses=True) as f:
            return await harvest([_entry(info.url_for(f"{c.version}/{c.slug}")) for c in CASES], f, thumbnails=False)

    return {f"{c.version}/{c.name}": _judged(d) for c, d in zip(CASES, asyncio.run(run()))}


def is_flagged(case: Case, ds: Dataset) -> bool:
    if ds.status != "ok":
        return True
    return case.strict and any(STRICT_ADVICE in w for w in ds.warnings)


def _param(case: Case) -> Any:
    gap = known_gap(case)
    marks = [pytest.mark.xfail(reason=gap, strict=True)] if gap else []
    return pytest.param(case, id=f"{case.version}/{case.name}", marks=marks)


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_spec_document_verdict(case: Case, built: dict[str, Dataset]) -> None:
    ds = built[f"{case.version}/{case.name}"]
    if case.valid:
        assert not is_flagged(case, ds), (ds.status, ds.errors, ds.warnings)
        return
    assert is_flagged(case, ds), "an invalid document was called ok"
    messages = ds.errors if ds.status != "ok" else tuple(w for w in ds.warnings if STRICT_ADVICE in w)
    # A message says where ("multiscales[0].axes: ...") or what ("no NGFF version: ...").
    assert messages and all(": " in m for m in messages), messages


def test_confusion_table(built: dict[str, Dataset]) -> None:
    table: dict[str, Counter[str]] = {v: Counter() for v in VERSIONS}
    wrong = []
    for case in CASES:
        flagged = is_flagged(case, built[f"{case.version}/{case.name}"])
        table[case.version][f"{'valid' if case.valid else 'invalid'}->{'flagged' if flagged else 'ok'}"] += 1
        if flagged is case.valid and not known_gap(case):
            wrong.append(case.name)
    cells = ("valid->ok", "valid->flagged", "invalid->ok", "invalid->flagged")
    print("\nversion  " + "  ".join(cells))
    for version, counts in table.items():
        print(f"{version:8} " + "  ".join(f"{counts[c]:>{len(c)}}" for c in cells))
    gaps = Counter(g for g in map(known_gap, CASES) if g)
    print("known gaps (valid->flagged, xfail): " + "; ".join(f"{n} x {g}" for g, n in gaps.items()))
    assert sum(sum(c.values()) for c in table.values()) == len(CASES)
    assert not wrong, wrong
    for version in ("0.4", "0.5"):
        assert table[version]["valid->flagged"] == table[version]["invalid->ok"] == 0


def test_validator_samples_are_all_flagged(corpus: Path) -> None:
    import asyncio

    names = sorted(p.name for p in (corpus / "validator-test-samples" / "invalid").iterdir())
    server, info = start_static_server(corpus / "validator-test-samples" / "invalid")

    async def run() -> list[Dataset]:
        async with Fetcher(allow_private_addresses=True) as f:
            return await harvest([_entry(info.url_for(n)) for n in names], f, thumbnails=False)

    try:
        out = [_judged(d) for d in asyncio.run(run())]
    finally:
        server.stop()
    for name, ds in zip(names, out):
        assert ds.status == "invalid" and ds.errors, (name, ds.errors)
