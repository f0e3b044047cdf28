"""Every zarr-python and ome-zarr-py snippet on the demo catalog's dataset pages runs against the demo data.

The demo is built against the local server, each snippet is taken from its
page as a visitor would copy it (the text of its code block), and run in a
fresh interpreter while the server keeps serving the data.
"""

from __future__ import annotations

import html
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from generator.cli import run_build
from generator.config import BuildConfig
from generator.dev.demo import write_demo_csvs, write_demo_data

from .conftest import start_static_server

pytest.importorskip("ome_zarr")

CODE = re.compile(r'<code id="code-(zarr-python|ome-zarr-py)">(.*?)</code>', re.S)


def get_page_snippets(page: Path) -> dict[str, str]:
    """{snippet id: the code a visitor copies} of one dataset page."""
    return {k: html.unescape(code) for k, code in CODE.findall(page.read_text(encoding="utf-8"))}


def test_every_python_snippet_of_the_demo_runs(tmp_path: Path) -> None:
    collections = write_demo_data(tmp_path / "data")
    server, info = start_static_server(tmp_path / "data")
    try:
        csv = write_demo_csvs(tmp_path / "csv", info.url, collections)
        site = tmp_path / "site"
        run_build(BuildConfig(source=str(csv), out=site, cache=None, thumbnails=False, allow_private_addresses=True))
        catalog = json.loads((site / "catalog.json").read_text())
        readable = [d for d in catalog["datasets"] if d["status"] == "ok"]
        assert {d["kind"] for d in readable} >= {"image", "plate", "bioformats2raw"}
        failures, ran = [], 0
        for d in readable:
            snippets = get_page_snippets(site / "datasets" / d["id"] / "index.html")
            assert set(snippets) == {"zarr-python", "ome-zarr-py"}, d["url"]
            for kind, code in snippets.items():
                run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=tmp_path)
                ran += 1
                if run.returncode != 0:
                    failures.append(f"{d['kind']} {d['url']} [{kind}]:\n{code}\n{run.stderr[-1500:]}")
                else:
                    # Each snippet prints the full-resolution shape: the harvested one.
                    assert str(tuple(d["shape"])) in run.stdout or d["kind"] == "plate", (d["url"], kind, run.stdout)
        assert ran == 2 * len(readable)
        assert not failures, "\n\n".join(failures)
    finally:
        server.stop()
