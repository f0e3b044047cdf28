"""OME-NGFF 0.6 (RFC-5) reading: sequence pyramids, coordinate systems, scenes, served by the local server."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pytest
import zarr

from generator.fetch.http import Fetcher
from generator.harvest.dataset import harvest_one
from generator.records import KINDS, Catalog, Dataset, Entry, Listing
from generator.site.dataset_view import get_dataset_page
from generator.site.search_shards import write_search_shards

from .conftest import StaticServer, start_static_server

AXES = [
    {"name": "t", "type": "time", "unit": "millisecond"},
    {"name": "c", "type": "channel"},
    {"name": "y", "type": "space", "unit": "micrometer"},
    {"name": "x", "type": "space", "unit": "micrometer"},
]


def _level_transform(path: str, scale: list[float], translation: list[float] | None, system: str) -> dict[str, Any]:
    if translation is None:
        return {"type": "scale", "scale": scale, "input": {"path": path}, "output": {"name": system}}
    return {
        "type": "sequence",
        "input": {"path": path},
        "output": {"name": system},
        "transformations": [{"type": "scale", "scale": scale}, {"type": "translation", "translation": translation}],
    }


def write_v06_image(path: Path, *, levels: int = 3, size: int = 300, name: str = "seq", systems_first: str = "physical") -> Path:
    """A 0.6rc0 image whose levels 1.. are sequence (scale then translation) transformations.

    Two coordinate systems: the datasets map into "intrinsic", listed second,
    so axes taken from coordinateSystems[0] would be the wrong ones.
    """
    group = zarr.open_group(str(path), mode="w", zarr_format=3)
    data = (np.arange(2 * 2 * size * size, dtype=np.uint16).reshape(2, 2, size, size) % 4000).astype(np.uint16)
    datasets = []
    for i in range(levels):
        # Writers that round down: 300 -> 150 -> 75, and an odd size would lose a row.
        arr = group.create_array(f"s{i}", shape=data.shape, dtype=data.dtype, chunks=(1, 1, 64, 64), dimension_names=["t", "c", "y", "x"])
        arr[...] = data
        f = 2**i
        scale = [0.1, 1.0, 0.5 * f, 0.5 * f]
        translation = None if i == 0 else [0.0, 0.0, 0.25 * (f - 1), 0.25 * (f - 1)]
        datasets.append({"path": f"s{i}", "coordinateTransformations": [_level_transform(f"s{i}", scale, translation, "intrinsic")]})
        data = data[:, :, ::2, ::2]
    other = {"name": systems_first, "axes": [{"name": n, "type": "space", "unit": "nanometer"} for n in ("a", "b", "d", "e")]}
    intrinsic = {"name": "intrinsic", "axes": AXES}
    ome = {
        "version": "0.6rc0",
        "multiscales": [
            {
                "name": name,
                "coordinateSystems": [other, intrinsic],
                "datasets": datasets,
                "coordinateTransformations": [
                    {"type": "scale", "scale": [1, 1, 1000, 1000], "input": {"name": "intrinsic"}, "output": {"name": systems_first}}
                ],
            }
        ],
    }
    group.attrs.update({"ome": ome})
    return path


def write_scene(path: Path) -> Path:
    """A 0.6rc0 scene registering two images to each other."""
    root = zarr.open_group(str(path), mode="w", zarr_format=3)
    for child in ("moving", "fixed"):
        write_v06_image(path / child, levels=2, size=200, name=child)
    root = zarr.open_group(str(path), mode="r+", zarr_format=3)
    root.attrs.update(
        {
            "ome": {
                "version": "0.6rc0",
                "scene": {
                    "coordinateTransformations": [
                        {
                            "type": "affine",
                            "affine": [[1, 0, 0, 0, 0], [0, 1, 0, 0, 0], [0, 0, 0.9, 0.1, 5], [0, 0, -0.1, 0.9, 3]],
                            "input": {"path": "moving", "name": "intrinsic"},
                            "output": {"path": "fixed", "name": "intrinsic"},
                        }
                    ]
                },
            }
        }
    )
    return path


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StaticServer]:
    root = tmp_path_factory.mktemp("www06")
    write_v06_image(root / "sequence.zarr")
    write_scene(root / "scene.zarr")
    server, info = start_static_server(root)
    try:
        yield info
    finally:
        server.stop()


def harvested(url: str) -> Dataset:
    async def go() -> Dataset:
        async with Fetcher(allow_private_addresses=True) as f:
            return await harvest_one(Entry(url=url, source="t", collection="c.csv", listings=(Listing("c.csv", 2, "t", "c.csv"),)), f)

    return asyncio.run(go())


def test_sequence_pyramid_keeps_every_level_and_its_physical_sizes(served: StaticServer) -> None:
    ds = harvested(served.url_for("sequence.zarr"))
    assert not any("cannot infer" in e for e in ds.errors), ds.errors
    assert [lv.path for lv in ds.resolutions] == ["s0", "s1", "s2"]
    assert [lv.shape[-1] for lv in ds.resolutions] == [300, 150, 75]
    assert [lv.scale for lv in ds.resolutions] == [(0.1, 1.0, 0.5, 0.5), (0.1, 1.0, 1.0, 1.0), (0.1, 1.0, 2.0, 2.0)]
    # Axes from "intrinsic", the system the datasets map into (not coordinateSystems[0]).
    assert [a.name for a in ds.axes] == ["t", "c", "y", "x"]
    assert ds.axes[2].unit == "micrometer"
    # Physical sizes in that system: the pixel size, and the time step too.
    assert dict(ds.physical_sizes) == {"t": 0.1, "y": 0.5, "x": 0.5}


def test_sequence_translation_and_time_step_on_the_page(served: StaticServer) -> None:
    ds = harvested(served.url_for("sequence.zarr"))
    page = get_dataset_page(ds, Catalog(generated_at="2026-01-01T00:00:00Z", datasets=(ds,)))
    facts = dict(page.facts)
    assert facts["Time step"] == "0.1 millisecond"
    by_axis = {a.name: a for a in page.axes}
    assert by_axis["x"].physical == "0.5" and by_axis["t"].physical == "0.1"
    (ms,) = page.multiscales
    assert ms.system == "intrinsic" and ms.levels == "s0, s1, s2" and ms.axes == "t, c, y, x"


def harvest_edited(tmp_path: Path, name: str, levels: int, edit: Any) -> Dataset:
    """A 0.6 image whose multiscales ``edit`` rewrites (first multiscale in, the list out), harvested."""
    root = tmp_path / "www"
    path = write_v06_image(root / name, levels=levels, size=64)
    group = zarr.open_group(str(path), mode="r+")
    ome = dict(group.attrs["ome"])
    ome["multiscales"] = edit(dict(ome["multiscales"][0]))
    group.attrs.update({"ome": ome})
    server, info = start_static_server(root)
    try:
        return harvested(info.url_for(name))
    finally:
        server.stop()


def test_translation_of_level0_is_shown(tmp_path: Path) -> None:
    def shift(ms: dict) -> list:
        ms["datasets"] = [{"path": "s0", "coordinateTransformations": [_level_transform("s0", [0.1, 1, 0.5, 0.5], [5.0, 0, 12.5, -3.0], "intrinsic")]}]
        return [ms, {**ms, "name": "second"}]

    ds = harvest_edited(tmp_path, "shifted.zarr", 1, shift)
    page = get_dataset_page(ds, Catalog(generated_at="2026-01-01T00:00:00Z", datasets=(ds,)))
    assert {a.name: a.translation for a in page.axes} == {"t": "5", "c": "0", "y": "12.5", "x": "-3"}
    # Every multiscale of the image is listed, not only the first.
    assert [m.name for m in page.multiscales] == ["seq", "second"]


def test_uninterpretable_transformation_is_a_warning(tmp_path: Path) -> None:
    def rotate(ms: dict) -> list:
        datasets = list(ms["datasets"])
        datasets[1] = {
            "path": "s1",
            "coordinateTransformations": [
                {"type": "rotation", "rotation": [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, -1], [0, 0, 1, 0]],
                 "input": {"path": "s1"}, "output": {"name": "intrinsic"}}
            ],
        }
        ms["datasets"] = datasets
        return [ms]

    ds = harvest_edited(tmp_path, "rotated.zarr", 2, rotate)
    assert ds.reached and [lv.path for lv in ds.resolutions][:1] == ["s0"]
    assert any("'rotation' transformation is not interpreted" in w for w in ds.warnings), ds.warnings


def test_scene_is_its_own_kind_with_its_images_listed(served: StaticServer, tmp_path: Path) -> None:
    ds = harvested(served.url_for("scene.zarr"))
    assert ds.kind == "scene"
    assert "scene" in KINDS
    assert ds.series == ("moving", "fixed")
    assert ds.image_path == "moving"
    assert [lv.path for lv in ds.resolutions] == ["s0", "s1"]
    assert not any("multiscales" in e for e in ds.errors), ds.errors
    page = get_dataset_page(ds, Catalog(generated_at="2026-01-01T00:00:00Z", datasets=(ds,)))
    assert dict(page.facts)["Images"] == "moving, fixed"
    assert ("kind", "scene") in page.badges
    meta = write_search_shards([ds], tmp_path)
    kind_facet = next(f for f in meta["facets"] if f["key"] == "kind")
    assert kind_facet["total"][kind_facet["keys"].index("scene")] == 1
