"""The spec's rules the schemas and the validator's array checks add, on datasets zarr-python writes.

Each dataset is written into a folder the real local server serves, harvested
and judged as a build does; ``ngff-catalog check`` must say the same in words
a provider can act on.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import zarr

from generator.cli import main
from generator.dev.samples import ChannelSpec, gradient, write_image
from generator.dev.spec_groups import write_spec_group
from generator.fetch.http import Fetcher
from generator.harvest.dataset import harvest
from generator.history import decide_status
from generator.records import Dataset, Entry
from generator.validate import validate

from .conftest import StaticServer


def _judged(ds: Dataset) -> Dataset:
    checked = ds.with_findings(validate(ds))
    return dataclasses.replace(checked, status=decide_status(checked))


async def _harvested(server: StaticServer, name: str) -> Dataset:
    async with Fetcher(allow_private_addresses=True) as f:
        (ds,) = await harvest([Entry(url=server.url_for(name), source="", collection="", listings=())], f, thumbnails=False)
    return _judged(ds)


def _write_flat_v2(path: Path) -> None:
    """A 0.4 image whose arrays use zarr-python's v2 default, the flat '.' chunk keys."""
    group = zarr.open_group(str(path), mode="w", zarr_format=2)
    for level, side in (("0", 32), ("1", 16)):
        arr = group.create_array(level, shape=(side, side), chunks=(8, 8), dtype="uint8", fill_value=0,
                                 chunk_key_encoding={"name": "v2", "separator": "."})
        arr[...] = 1
    group.attrs.update({"multiscales": [{"version": "0.4", "axes": [{"name": "y", "type": "space"}, {"name": "x", "type": "space"}],
                                          "datasets": [{"path": p, "coordinateTransformations": [{"type": "scale", "scale": [s, s]}]}
                                                       for p, s in (("0", 1.0), ("1", 2.0))]}]})


async def test_v2_arrays_with_flat_chunk_keys_are_invalid_for_0_4(static_server: StaticServer) -> None:
    _write_flat_v2(static_server.root / "flat.zarr")
    write_image(static_server.root / "nested.zarr", gradient((1, 32, 32), "uint8"), version="0.4", levels=2)
    flat = await _harvested(static_server, "flat.zarr")
    assert json.loads((static_server.root / "flat.zarr" / "0" / ".zarray").read_text())["dimension_separator"] == "."
    assert flat.status == "invalid"
    (message,) = [e for e in flat.errors if "dimension separator" in e]
    assert message.startswith("levels '0', '1': Zarr v2 arrays must use the nested '/' dimension separator (OME-NGFF 0.4")
    assert 'set "dimension_separator": "/"' in message and "nested folders" in message
    nested = await _harvested(static_server, "nested.zarr")
    assert nested.status == "ok", nested.errors


async def test_string_numbers_are_not_coerced_and_0_5_omero_is_checked(static_server: StaticServer) -> None:
    red = ChannelSpec("DAPI", "FF0000", 0, 100)
    for version in ("0.4", "0.5"):
        path = write_image(static_server.root / f"v{version}.zarr", gradient((1, 32, 32), "uint8"), version=version, channels=[red], levels=1)
        attrs_file = path / (".zattrs" if version == "0.4" else "zarr.json")
        doc = json.loads(attrs_file.read_text())
        ome = doc if version == "0.4" else doc["attributes"]["ome"]
        ome["omero"]["channels"][0]["window"]["end"] = "100"
        attrs_file.write_text(json.dumps(doc))
        ds = await _harvested(static_server, f"v{version}.zarr")
        assert ds.status == "invalid", (version, ds.errors)
        assert "omero.channels[0].window.end: '100' is a string, but must be a number (no conversion between types)" in ds.errors


async def test_label_value_consistency_is_advice_and_empty_colors_an_error(static_server: StaticServer) -> None:
    base = {"version": "0.5", "multiscales": [{"axes": [{"name": "y", "type": "space"}, {"name": "x", "type": "space"}],
                                               "datasets": [{"path": "0", "coordinateTransformations": [{"type": "scale", "scale": [1.0, 1.0]}]}]}]}
    colors = [{"label-value": 1, "rgba": [255, 0, 0, 255]}]
    write_spec_group(static_server.root / "mixed.zarr", {**base, "image-label": {"colors": colors, "properties": [{"label-value": 2}]}}, "0.5")
    write_spec_group(static_server.root / "empty.zarr", {**base, "image-label": {"colors": []}}, "0.5")
    mixed = await _harvested(static_server, "mixed.zarr")
    assert mixed.status == "ok", mixed.errors
    assert any("a check of ome-zarr-models, not a spec rule" in w for w in mixed.warnings)
    empty = await _harvested(static_server, "empty.zarr")
    assert empty.status == "invalid" and "image-label.colors: is empty (must not be empty)" in empty.errors


async def test_0_6_documents_are_judged_by_the_0_6_schemas(static_server: StaticServer) -> None:
    axes = [{"name": "y", "type": "space"}, {"name": "y", "type": "space"}]
    image = {"version": "0.6rc0", "multiscales": [{"coordinateSystems": [{"name": "physical", "axes": axes}], "datasets": [
        {"path": "0", "coordinateTransformations": [{"type": "scale", "scale": [1.0, 1.0], "input": {"path": "0"}, "output": {"name": "physical"}}]}]}]}
    write_spec_group(static_server.root / "dup.zarr", image, "0.6rc0")
    write_spec_group(static_server.root / "future.zarr", {**image, "version": "0.6rc02"}, "0.6rc0")
    dup = await _harvested(static_server, "dup.zarr")
    assert dup.status == "invalid"
    assert "multiscales[0].coordinateSystems[0].axes: 'y' appears twice (axes must be unique)" in dup.errors
    assert not any("no validator" in w for w in dup.warnings)
    future = await _harvested(static_server, "future.zarr")
    assert future.status == "invalid"
    assert future.errors[0].startswith("unrecognised NGFF version '0.6rc02': not a version of the spec (the catalog knows ")
    assert "0.6rc0" in future.errors[0] and "0.5" in future.errors[0]


def test_check_says_the_verdict_in_words(static_server: StaticServer, tmp_path: Path, capsys) -> None:
    _write_flat_v2(static_server.root / "flat.zarr")
    write_image(static_server.root / "good.zarr", gradient((1, 32, 32), "uint8"), version="0.4", levels=2,
                channels=[ChannelSpec("a", "FF0000", 0, 255)])
    summary = tmp_path / "summary.md"
    code = main(["check", "--allow-private-addresses", "--no-thumbnails", static_server.url_for("flat.zarr"),
                 static_server.url_for("good.zarr"), "--out", str(tmp_path / "out"), "--summary", str(summary)])
    out = capsys.readouterr().out
    assert code == 1, out
    assert "  verdict: FAIL: not valid OME-NGFF 0.4: 1 error, each naming the place in the metadata and the spec's rule; fix them, then check again" in out
    assert "  error: levels '0', '1': Zarr v2 arrays must use the nested '/' dimension separator" in out
    assert "  verdict: PASS: valid OME-NGFF 0.4; " in out and "optional recommendation" in out
    assert "  recommended: multiscales[0]: missing 'metadata', 'type', 'name'" in out
    assert "FAIL: not valid OME-NGFF 0.4" in summary.read_text()
