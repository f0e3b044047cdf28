"""The OME-NGFF spec's own JSON schemas, as ``ngff-zarr`` bundles them.

The schemas are read from the installed ``ngff_zarr`` package's data files
(found without importing the package, which would pull in its array stack)
and compiled once per version, model and strictness: a build validates
thousands of documents against a handful of schemas. Validation runs with
draft 2020-12 semantics, which every bundled schema declares or defaults to,
so ``minContains``/``maxContains`` ("2 or 3 space axes") are enforced.
"""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
import json
from pathlib import Path
from typing import Any, Iterator, Mapping

from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from .wording import describe

SCHEMA_PACKAGE = "ngff-zarr"
ROOT_ID = "https://ngff.openmicroscopy.org"


@functools.cache
def _spec_root() -> Path:
    spec = importlib.util.find_spec("ngff_zarr")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the ngff-zarr package (the spec's JSON schemas) is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "spec"


@functools.cache
def bundle_tag() -> str:
    """Which schema bundle judged a document (part of the memo key)."""
    return f"{SCHEMA_PACKAGE}-{importlib.metadata.version(SCHEMA_PACKAGE)}"


@functools.cache
def known_versions() -> dict[str, str]:
    """Every version string the bundled schemas accept, mapped to its schema folder.

    From 0.5 a folder's ``_version.schema`` lists the strings it covers (the
    0.6 folder: "0.6" and "0.6rc0"); before that the folder's name is the version.
    """
    known: dict[str, str] = {}
    for folder in sorted(p for p in _spec_root().iterdir() if (p / "schemas").is_dir()):
        version_file = folder / "schemas" / "_version.schema"
        names = json.loads(version_file.read_text()).get("enum", []) if version_file.is_file() else [folder.name]
        for name in names:
            known[str(name)] = folder.name
    return known


def is_attributes_wrapped(folder: str) -> bool:
    """From 0.5 the schemas describe the ``attributes`` object, with the metadata under "ome"."""
    return (_spec_root() / folder / "schemas" / "_version.schema").is_file()


@functools.cache
def _registry(folder: str) -> Registry:
    # Schemas reach each other by absolute $id; offline, every sibling must be registered.
    resources = []
    for path in sorted((_spec_root() / folder / "schemas").glob("*.schema")):
        contents = _as_2020_12(json.loads(path.read_text()))
        resource = Resource.from_contents(contents, default_specification=DRAFT202012)
        resources.append((contents.get("$id", f"{ROOT_ID}/{folder}/schemas/{path.name}"), resource))
    return Registry().with_resources(resources)


@functools.cache
def get_validator(folder: str, model: str, strict: bool = False) -> Draft202012Validator | None:
    """The compiled validator of one schema, or None when the spec has no such schema."""
    path = _spec_root() / folder / "schemas" / f"{'strict_' if strict else ''}{model}.schema"
    if not path.is_file():
        return None
    schema = _as_2020_12(json.loads(path.read_text()))
    if strict:
        schema = _without_base(schema, f"{model}.schema")
    return SpecValidator(schema, registry=_registry(folder))


def _without_base(schema: dict[str, Any], base: str) -> dict[str, Any]:
    """A strict schema's own rules: it is ``allOf`` [its plain schema, the extras],
    and the plain schema has been checked already."""
    def is_base(part: Any) -> bool:
        return isinstance(part, Mapping) and set(part) == {"$ref"} and str(part["$ref"]).endswith("/" + base)

    out = dict(schema)
    if isinstance(out.get("allOf"), list):
        out["allOf"] = [part for part in out["allOf"] if not is_base(part)] or [True]
    if is_base({"$ref": out.get("$ref")}):
        del out["$ref"]
    return out


def _as_2020_12(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema without its ``$schema`` key: every bundled one declares 2020-12 or
    nothing, and a declared one would make jsonschema leave ``SpecValidator``
    for its stock class at each cross-file reference."""
    return {k: v for k, v in schema.items() if k != "$schema"}


def _unique_items(validator: Any, unique: bool, instance: Any, schema: Mapping[str, Any]) -> Iterator[ValidationError]:
    """``uniqueItems`` by canonical JSON, in linear time.

    jsonschema compares every pair of items in Python, which for the 384
    wells of a plate is most of the cost of validating it. Items are equal
    when their JSON is: 1 and 1.0 are one number, true and 1 are not.
    """
    if not unique or not validator.is_type(instance, "array"):
        return
    seen: set[str] = set()
    for item in instance:
        key = json.dumps(_canonical(item), sort_keys=True)
        if key in seen:
            yield ValidationError(f"{instance!r} has non-unique elements")
            return
        seen.add(key)


def _canonical(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    return value


SpecValidator = validators.extend(Draft202012Validator, {"uniqueItems": _unique_items})


def iter_schema_errors(folder: str, model: str, doc: Mapping[str, Any], *, strict: bool = False) -> Iterator[str]:
    """Plain-words messages for what the schema finds wrong with ``doc`` (the OME object)."""
    validator = get_validator(folder, model, strict)
    if validator is None:
        return
    wrapped = is_attributes_wrapped(folder)
    instance = {"ome": _plain(doc)} if wrapped else _plain(doc)
    errors: list[ValidationError] = sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.absolute_path)))
    for error in errors:
        yield describe(error, strip_ome=wrapped)


def _plain(value: Any) -> Any:
    """Read-only mappings as plain JSON values (jsonschema checks ``dict``/``list`` types)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
