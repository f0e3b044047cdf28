"""The README's main command and the shipped wheel."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.conftest import REPO


def test_demo_builds_a_catalog_offline(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "generator", "demo", "--no-serve", "--dir", str(tmp_path / "demo")],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    site = tmp_path / "demo" / "site"
    catalog = json.loads((site / "catalog.json").read_text())
    by_kind: dict[str, list[dict]] = {}
    for d in catalog["datasets"]:
        by_kind.setdefault(d["kind"], []).append(d)
    assert {"image", "plate", "bioformats2raw"} <= set(by_kind)
    assert {d["ngff_version"] for d in catalog["datasets"] if d["ngff_version"]} >= {"0.4", "0.5"}
    assert any(d["shards"] for d in catalog["datasets"]), "the demo has a sharded dataset"
    images = [d for d in catalog["datasets"] if d["status"] == "ok"]
    assert images and all(d["thumbnail"] and (site / d["thumbnail"]).is_file() for d in images)
    assert any(d["status"] in ("invalid", "unreachable") for d in catalog["datasets"]), "the demo shows a broken row"
    for name in ("index.html", "report.html", "report.json", "catalog.csv", "sitemap.xml"):
        assert (site / name).is_file(), name


def test_wheel_ships_templates_and_assets(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), str(REPO)],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (wheel,) = tmp_path.glob("ngff_catalog-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    shipped_templates = {Path(n).name for n in names if n.startswith("generator/templates/")}
    shipped_assets = {Path(n).name for n in names if n.startswith("generator/assets/")}
    assert shipped_templates == {p.name for p in (REPO / "templates").rglob("*") if p.is_file()}
    assert shipped_assets == {p.name for p in (REPO / "assets").rglob("*") if p.is_file()}
    assert shipped_templates and shipped_assets
