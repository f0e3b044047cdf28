"""validate() against the OME-NGFF spec's own examples and conformance tests."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest

from generator.history import decide_status
from generator.records import Axis, Dataset, Documents, Findings, Level
from generator.validate import validate


def load_jsonc(path: Path) -> dict:
    """The spec examples carry // comments."""
    text = re.sub(r"^\s*//.*$", "", path.read_text(), flags=re.M)
    return json.loads(text)


def record(image: dict, version: str | None, zarr_format: int, *, container: dict | None = None, kind: str | None = None, **kw) -> Dataset:
    docs = Documents(image=image, container=container, container_kind=kind)  # type: ignore[arg-type]
    return Dataset(url="https://example.org/x.zarr", ngff_version=version, zarr_format=zarr_format, documents=docs, **kw)


def judged(ds: Dataset) -> Dataset:
    """The record as the build driver finishes it: validate's findings added, the status decided."""
    checked = ds.with_findings(validate(ds))
    return dataclasses.replace(checked, status=decide_status(checked))


def ome_of(doc: dict, version: str) -> dict:
    return doc["attributes"]["ome"] if version != "0.4" else doc


def as_record(doc: dict, version: str) -> Dataset:
    """Wrap an example document the way harvest would: an image as the image, a container as the container."""
    ome = ome_of(doc, version)
    zf = 2 if version == "0.4" else 3
    if "multiscales" in ome:
        return record(ome, version, zf)
    kind = "plate" if "plate" in ome else "well" if "well" in ome else "bioformats2raw"
    return record({}, version, zf, container=ome, kind=kind)


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_spec_examples_validate(corpus: Path, version: str) -> None:
    examples = corpus / "ngff-spec" / version / "examples"
    docs = {p.relative_to(examples).as_posix(): load_jsonc(p) for p in sorted(examples.glob("*/*.json")) if not p.name.startswith(".")}
    label = docs.pop("label_strict/colors_properties.json")
    docs.pop("ome/series-2.json")  # an OME/ group listing series: not a dataset of its own
    assert len(docs) >= 7
    for name, doc in docs.items():
        ds = judged(as_record(doc, version))
        assert ds.status == "ok" and ds.errors == (), (name, ds.errors)
    # A label image: the example's image-label on the example multiscales.
    image = ome_of(docs["multiscales_strict/multiscales_example.json"], version)
    ds = judged(record({**image, "image-label": ome_of(label, version)["image-label"]}, version, 2 if version == "0.4" else 3))
    assert ds.status == "ok", ds.errors


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_broken_examples_are_invalid_with_json_paths(corpus: Path, version: str) -> None:
    doc = load_jsonc(corpus / "ngff-spec" / version / "examples" / "multiscales_strict" / "multiscales_example.json")
    ome = ome_of(doc, version)
    del ome["multiscales"][0]["axes"]
    ds = judged(record(ome, version, 2 if version == "0.4" else 3))
    assert ds.status == "invalid"
    assert "multiscales[0].axes: missing (required)" in ds.errors


def test_0_6_is_validated_by_the_0_6_schemas(corpus: Path) -> None:
    """Each 0.6rc0 conformance document, as harvest hands it over, gets the verdict its file says."""
    base = corpus / "ngff-spec" / "0.6rc0" / "tests" / "attributes" / "spec"
    files = sorted(base.glob("*/*/*.json"))
    assert files
    for path in files:
        doc = json.loads(path.read_text())
        ome = doc.get("ome")
        if not isinstance(ome, dict) or not ({"multiscales", "image-label", "plate", "well", "scene"} & set(ome)):
            assert "/invalid/" in path.as_posix()  # harvest rejects these before validation
            continue
        if "multiscales" in ome or "image-label" in ome or "scene" in ome:
            ds = judged(record(ome, ome.get("version"), 3))
        else:
            ds = judged(record({}, ome.get("version"), 3, container=ome, kind="plate" if "plate" in ome else "well"))
        assert not any(w.startswith("no validator") for w in ds.warnings)
        assert (ds.status == "ok") is ("/valid/" in path.as_posix()), (path.name, ds.errors)


def test_0_6_messages_name_the_rule(corpus: Path) -> None:
    base = corpus / "ngff-spec" / "0.6rc0" / "tests" / "attributes" / "spec" / "invalid"
    def errors_of(rel: str) -> tuple[str, ...]:
        ome = json.loads((base / rel).read_text())["ome"]
        return judged(record(ome, ome["version"], 3)).errors

    assert errors_of("image/duplicate_axes.json") == ("multiscales[0].coordinateSystems[0].axes: 'x' appears twice (axes must be unique)",)
    assert "multiscales[0].coordinateSystems[0].axes: must have 2 to 3 items with type 'space'" in errors_of("image/one_space_axes.json")[0]
    assert errors_of("image/invalid_channels_window.json") == (
        "omero.channels[0].window.end: '100' is a string, but must be a number (no conversion between types)",
    )
    assert errors_of("image/too_many_space_axes.json")[0].startswith(
        "unrecognised NGFF version '0.6rc02': not a version of the spec (the catalog knows 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.6rc0"
    )
    assert errors_of("label/empty_colors.json") == ("image-label.colors: is empty (must not be empty)",)


def test_versions() -> None:
    image = {"multiscales": [{"axes": [{"name": "y", "type": "space"}, {"name": "x", "type": "space"}], "datasets": [{"path": "0", "coordinateTransformations": [{"type": "scale", "scale": [1, 1]}]}]}]}
    # 0.3 is judged by the spec's 0.3 schema (the bundle covers 0.1 to 0.6).
    old = judged(record({"multiscales": [{"axes": ["y", "x"], "datasets": [{"path": "0"}]}]}, "0.3", 2))
    assert old.status == "ok" and not any("no validator" in w for w in old.warnings)
    # 0.3 axes are names; objects came with 0.4.
    assert "multiscales[0].axes[0]: {\"name\": \"y\", \"type\": \"space\"} is an object, but must be a string" in judged(record(image, "0.3", 2)).errors[0]
    assert judged(record(image, None, 2)).errors[0].startswith("no NGFF version")
    bad = judged(record(image, "abc123", 2))
    assert bad.status == "invalid" and bad.errors[0].startswith("unrecognised NGFF version 'abc123': not a version of the spec (the catalog knows 0.1, ")


def _image(version: str = "0.4") -> dict:
    return {
        "multiscales": [{
            "version": version,
            "axes": [{"name": "c", "type": "channel"}, {"name": "y", "type": "space"}, {"name": "x", "type": "space"}],
            "datasets": [{"path": p, "coordinateTransformations": [{"type": "scale", "scale": [1, s, s]}]} for p, s in (("0", 1), ("1", 2))],
        }],
        "omero": {"channels": [{"color": "FF0000", "window": {"start": 0, "end": 1, "min": 0, "max": 1}}]},
    }


def test_level_checks() -> None:
    axes = (Axis("c", "channel"), Axis("y", "space"), Axis("x", "space"))
    good = (Level("0", (2, 64, 64), "uint8", metadata={}), Level("1", (2, 32, 32), "uint8", metadata={}))
    assert judged(record(_image(), "0.4", 2, axes=axes, resolutions=good)).status == "ok"
    mixed = (Level("0", (2, 64, 64), "uint8", metadata={}), Level("1", (32, 32), "uint16", metadata={}))
    errs = judged(record(_image(), "0.4", 2, axes=axes, resolutions=mixed)).errors
    assert "level '1': 2 dimensions, but level '0' has 3" in errs
    assert "level '1': data type uint16, but level '0' has uint8" in errs
    dims = (Level("0", (2, 64, 64), "uint8", metadata={"dimension_names": ["c", "x", "y"]}),)
    errs = judged(record({"version": "0.5", **_image("0.5")}, "0.5", 3, axes=axes, resolutions=dims)).errors
    assert any("dimension_names ['c', 'x', 'y'] do not match the axes ['c', 'y', 'x']" in e for e in errs)
    few = (Level("0", (64, 64), "uint8", metadata={}),)
    assert "axes: 3 axes (c,y,x) but level '0' has 2 dimensions" in judged(record(_image(), "0.4", 2, axes=axes, resolutions=few)).errors


def test_warnings_and_status_rules() -> None:
    image = _image()
    del image["omero"]
    axes = (Axis("c"), Axis("y"), Axis("x"))
    levels = (Level("0", (2, 64, 64), "uint8", metadata={}), Level("1", (2, 32, 32), "uint8", inferred=True))
    ds = judged(record(image, "0.4", 2, axes=axes, resolutions=levels, cors=False))
    assert ds.status == "ok"
    assert any(w.startswith("no 'omero'") for w in ds.warnings)
    assert any("CORS" in w for w in ds.warnings)
    assert not any("inferred" in w for w in ds.warnings), "inferred levels are not a finding about the data"
    gone = Dataset(url="https://example.org/y.zarr", status="unreachable", reached=False, errors=("timed out",))
    assert judged(gone) == gone
    assert judged(judged(ds)) == judged(ds)  # idempotent: no duplicated messages


def test_memo_gives_the_same_messages_without_rerunning_the_spec_models(tmp_path) -> None:
    from generator.state import State

    image = _image()
    del image["multiscales"][0]["axes"]
    ds = record(image, "0.4", 2)
    fresh = validate(ds)
    with State(tmp_path) as state:
        first = validate(ds, memo=state.spec_checks)
        assert first == fresh
    with State(tmp_path) as state:
        stored = state._db.execute("SELECT COUNT(*) FROM spec_checks").fetchone()[0]
        assert stored >= 1
        # A poisoned entry proves the second run read the memo instead of the models.
        state._db.execute("UPDATE spec_checks SET messages = '[\"from memo\"]'")
        assert "from memo" in validate(ds, memo=state.spec_checks).errors


def test_validate_returns_findings_and_leaves_the_status_to_the_driver() -> None:
    image = _image()
    del image["multiscales"][0]["axes"]
    ds = record(image, "0.4", 2, errors=("from harvest",))
    found = validate(ds)
    assert isinstance(found, Findings) and found.errors and "from harvest" not in found.errors
    assert ds.status == "ok" and ds.errors == ("from harvest",), "validate changes nothing"
    done = judged(ds)
    assert done.status == "invalid" and done.errors == ("from harvest", *found.errors)
    # The container's document is judged by its own kind's model, not mistaken for the image's.
    plate = record({}, "0.4", 2, container={"plate": {"wells": "not a list"}}, kind="plate")
    assert validate(plate).errors and not validate(record({}, "0.4", 2)).errors
