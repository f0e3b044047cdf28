"""Validate: judge a harvested record against the OME-NGFF spec of its version.

Pure (no I/O). Every attribute document is checked against the spec's own
JSON schemas for its version (``schemas``: the bundle ``ngff-zarr`` ships,
0.1 to 0.6, strict variants as advice), then, for 0.4 and 0.5, against the
typed models of ``ome-zarr-models`` for the spec's text rules a schema cannot
state (``models``); the array documents get the checks the OME-NGFF
validator adds (``arrays``). The findings come back as a ``Findings``
record; the driver adds them to the dataset and decides its status.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Mapping, Protocol

from generator.records import Dataset, Documents, Findings

from .arrays import check_levels
from .models import MODELS, describe_errors, model_findings
from .schemas import bundle_tag, iter_schema_errors, known_versions

__all__ = ["MAX_MESSAGES", "MODELS", "STRICT_ADVICE", "SpecMemo", "describe_errors", "validate"]

MAX_MESSAGES = 20
# How advice is told apart from errors in a memo entry (errors start with a JSON path).
WARNING_TAG = "warning: "
# Ends every piece of advice from the strict schemas (the spec's "should").
STRICT_ADVICE = " (recommended by the spec's strict schema)"


class SpecMemo(Protocol):
    """Remembers spec messages by document hash (the build state keeps one)."""

    def get(self, key: str) -> list[str] | None: ...

    def __setitem__(self, key: str, value: list[str]) -> None: ...


def validate(dataset: Dataset, *, memo: SpecMemo | None = None) -> Findings:
    """What the spec and the validator's checks find wrong with ``dataset``.

    Pure: the record is not changed, and no status is set (the build driver
    decides it from these findings and the harvest's). ``memo`` skips the
    spec checks for documents already checked: they are the slow part, and
    most documents are unchanged from one build to the next.
    """
    docs = dataset.documents
    if not dataset.reached or docs is None:
        return Findings()
    found, strict = _check_documents(dataset, docs, memo)
    # The strict schemas' advice comes last: the spec's "should", after its "must".
    return found + check_levels(dataset) + _advise(dataset, docs) + strict


def _schema_folder(dataset: Dataset) -> tuple[str | None, Findings]:
    """Which schema folder judges the record, with a finding when the version says none."""
    version = dataset.ngff_version
    known = known_versions()
    if version is None:
        default = "0.4" if dataset.zarr_format == 2 else "0.5"
        return default, Findings.error("no NGFF version: the metadata does not say which OME-NGFF version it follows")
    if version in known:
        return known[version], Findings()
    names = ", ".join(known)
    return None, Findings.error(
        f"unrecognised NGFF version {version!r}: not a version of the spec (the catalog knows {names}); "
        "set \"version\" to the version the metadata follows"
    )


def _check_documents(dataset: Dataset, docs: Documents, memo: SpecMemo | None) -> tuple[Findings, Findings]:
    """The spec's findings on every document, and the strict schemas' advice."""
    folder, found = _schema_folder(dataset)
    strict = Findings()
    if folder is None:
        return found, strict
    image: Mapping[str, Any] = docs.image
    container = docs.container
    where = f"{dataset.image_path}: " if dataset.image_path else ""
    roles = _image_roles(image)
    if roles:
        if folder != "0.4" and "version" not in image and container is not None and "version" in container:
            # An image inside a container inherits the container's version.
            image = {"version": container["version"], **image}
        judged, advice = _judge(folder, roles, image, memo, prefix=where)
        found, strict = found + judged, strict + advice
    if container is not None:
        role = _container_role(docs.container_kind, container)
        if role is not None:
            judged, advice = _judge(folder, (role,), container, memo)
            found, strict = found + judged, strict + advice
    return found, strict


def _image_roles(image: Mapping[str, Any]) -> tuple[str, ...]:
    if "multiscales" in image:
        return ("image", "label") if "image-label" in image else ("image",)
    if "image-label" in image:
        return ("label",)
    if "scene" in image:
        return ("scene",)
    return ()


def _container_role(kind: str | None, container: Mapping[str, Any]) -> str | None:
    if kind == "plate" or "plate" in container:
        return "plate"
    if kind == "well" or (kind is None and "well" in container):
        return "well"
    if kind == "bioformats2raw":
        return "bf2raw"
    if kind == "labels" and "labels" in container:
        return "labels"
    if kind == "scene" or "scene" in container:
        return "scene"
    return None


def _judge(folder: str, roles: tuple[str, ...], doc: Mapping[str, Any], memo: SpecMemo | None, *, prefix: str = "") -> tuple[Findings, Findings]:
    """One document's findings, and the strict schemas' advice on it apart."""
    if memo is None:
        lines = _messages(folder, roles, doc)
    else:
        blob = json.dumps([bundle_tag(), folder, roles, doc], sort_keys=True, default=str)
        key = hashlib.sha256(blob.encode("utf-8")).hexdigest()
        found = memo.get(key)
        if found is None:
            found = _messages(folder, roles, doc)
            memo[key] = found
        lines = list(found)
    errors = tuple(prefix + m for m in lines if not m.startswith(WARNING_TAG))
    warnings = [prefix + m.removeprefix(WARNING_TAG) for m in lines if m.startswith(WARNING_TAG)]
    return (
        Findings(errors=errors, warnings=tuple(w for w in warnings if not w.endswith(STRICT_ADVICE))),
        Findings(warnings=tuple(w for w in warnings if w.endswith(STRICT_ADVICE))),
    )


def _messages(folder: str, roles: tuple[str, ...], doc: Mapping[str, Any]) -> list[str]:
    """One document's errors, then its advice tagged ``WARNING_TAG``; each capped."""
    errors: list[str] = []
    advice: list[str] = []
    for role in roles:
        plain = list(iter_schema_errors(folder, role, doc))
        errors += plain
        # The strict schema's own rules (its plain part is checked above). What
        # it "requires" the spec only recommends, so the word is dropped.
        strict = iter_schema_errors(folder, role, doc, strict=True)
        advice += (m.replace(" (required)", "") + STRICT_ADVICE for m in strict if m not in plain)
    if not errors:
        # The schema passed: the typed models add the spec's text rules.
        for role in roles:
            errs, warns = model_findings(folder, role, doc)
            errors += errs
            advice = warns + advice
    return _capped(list(dict.fromkeys(errors)), "spec errors") + [WARNING_TAG + m for m in _capped(list(dict.fromkeys(advice)), "recommendations")]


def _capped(lines: list[str], what: str) -> list[str]:
    if len(lines) > MAX_MESSAGES:
        return lines[:MAX_MESSAGES] + [f"... and {len(lines) - MAX_MESSAGES} more {what}"]
    return lines


def _advise(dataset: Dataset, docs: Documents) -> Findings:
    warnings: list[str] = []
    image = docs.image
    if "multiscales" in image and "image-label" not in image and not isinstance(image.get("omero"), Mapping):
        warnings.append("no 'omero' rendering metadata: thumbnails use auto-contrast and default colours")
    if dataset.cors is False:
        warnings.append("no CORS header: browser viewers on other sites cannot read this dataset")
    # Inferred levels are a harvesting economy, not a finding about the data:
    # the per-level table marks them, and no warning is raised.
    return Findings(warnings=tuple(warnings))
