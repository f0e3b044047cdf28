"""The site's size budget: figures per part, the order of giving up, the exit 1 when it cannot fit."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import pytest

from generator.build import BuildResult
from generator.cli import main
from generator.config import BuildConfig
from generator.readonly import ReadOnlyDict
from generator.records import Catalog
from generator.site.budget import (
    PARTS,
    BudgetError,
    SiteSizes,
    fit_budget,
    measure_site,
    parse_size,
)
from generator.site.exports import get_catalog_json, write_catalog_json
from generator.site.pages import SiteWriter
from generator.write import write_build
from tests.site_fixtures import make_catalog


def sizes(**parts: int) -> SiteSizes:
    full = dict.fromkeys(PARTS, 0)
    full.update({k.replace("_", " "): v for k, v in parts.items() if k != "compressible"})
    return SiteSizes(ReadOnlyDict(full), files=100, compressible=parts.get("compressible", 0))


def test_parse_size_reads_decimal_and_binary_units_and_bytes():
    assert parse_size("1GB") == 10**9
    assert parse_size("800MiB") == 800 * 2**20
    assert parse_size("1.5 GB") == 1_500_000_000
    assert parse_size("123456") == 123456
    for bad in ("", "GB", "1 parsec", "0", "-5MB"):
        with pytest.raises(ValueError):
            parse_size(bad)


MB = 10**6


def test_a_site_within_its_budget_gives_up_nothing():
    plan = fit_budget(sizes(pages=500 * MB, card_thumbnails=300 * MB, large_thumbnails=100 * MB, exports=50 * MB), 1000 * MB)
    assert not plan.gives_up and plan.estimate == 950 * MB


def test_exports_are_compressed_first():
    s = sizes(pages=500 * MB, card_thumbnails=300 * MB, large_thumbnails=200 * MB, exports=100 * MB, compressible=100 * MB)
    plan = fit_budget(s, 1050 * MB)
    assert plan.compress_exports and not plan.drop_large and plan.card_size is None


def test_large_renditions_are_dropped_before_cards_are_touched():
    s = sizes(pages=500 * MB, card_thumbnails=300 * MB, large_thumbnails=400 * MB, exports=100 * MB, compressible=100 * MB)
    plan = fit_budget(s, 900 * MB)
    assert plan.compress_exports and plan.drop_large and plan.card_size is None


def test_cards_are_shrunk_last_and_only_as_far_as_needed():
    s = sizes(pages=500 * MB, card_thumbnails=1000 * MB, large_thumbnails=400 * MB, exports=100 * MB, compressible=100 * MB)
    # After exports and large renditions: about 500 + 1000 + 21 MB; the cards must lose about 400 MB.
    plan = fit_budget(s, 1120 * MB)
    assert plan.drop_large and plan.card_size is not None
    moderate = plan.card_size[0]
    tighter = fit_budget(s, 800 * MB)
    assert tighter.card_size[0] < moderate < 256
    # A plan that did not fit in practice: the next one gives up more.
    assert fit_budget(s, 1120 * MB, after=plan).card_size[0] < moderate


def test_a_site_that_cannot_fit_raises_with_the_figures_and_the_way_out():
    s = sizes(pages=990_000_000, card_thumbnails=400_000_000, exports=100_000_000, compressible=90_000_000)
    with pytest.raises(BudgetError) as e:
        fit_budget(s, 10**9)
    message = str(e.value)
    assert "over the budget of 953.7 MiB" in message and "pages 944.1 MiB" in message
    assert "--site-budget" in message and "ngff-catalog publish" in message


def test_catalog_json_is_split_into_parts_that_add_up_to_the_whole(tmp_path):
    catalog = make_catalog(tmp_path)
    whole = get_catalog_json(catalog)
    assert write_catalog_json(catalog, tmp_path / "one.json") == []
    assert json.loads((tmp_path / "one.json").read_text()) == whole

    parts = write_catalog_json(catalog, tmp_path / "catalog.json", part_bytes=1, batch=3)
    assert parts == [f"catalog-{n}.json" for n in range(2, len(parts) + 2)] and parts
    head = json.loads((tmp_path / "catalog.json").read_text())
    assert head["parts"] == parts and head["schema_version"] == 1 and head["totals"] == whole["totals"]
    datasets = head["datasets"]
    for n, name in enumerate(parts, start=2):
        doc = json.loads((tmp_path / name).read_text())
        assert doc["part"] == n
        datasets += doc["datasets"]
    assert datasets == whole["datasets"]

    (tmp_path / "c").mkdir()
    gz = write_catalog_json(catalog, tmp_path / "c" / "catalog.json", part_bytes=1, compress=True, batch=3)
    assert gz and all(name.endswith(".json.gz") for name in gz)
    rest = [d for name in gz for d in json.loads(gzip.decompress((tmp_path / "c" / name).read_bytes()))["datasets"]]
    assert json.loads((tmp_path / "c" / "catalog.json").read_text())["datasets"] + rest == whole["datasets"]


def gathered(tmp_path: Path) -> tuple[BuildResult, Catalog]:
    """A gathered build whose real WebP thumbnails sit in a thumbnail root, as the cache holds them."""
    root = tmp_path / "cache"
    catalog = make_catalog(root)
    result = BuildResult(catalog, tmp_path / "site", requests=0, not_modified=0, absent_remembered=0,
                         thumbnails_rendered=0, seconds=0.0, thumbnail_root=root)
    return result, catalog


def report_parts(out: Path) -> dict[str, int]:
    return json.loads((out / "report.json").read_text())["size"]["parts"]


def test_every_build_reports_its_bytes_per_part(tmp_path):
    result, catalog = gathered(tmp_path)
    written = write_build(result, BuildConfig(source="x.csv", out=tmp_path / "site"))
    out = tmp_path / "site"
    measured = measure_site(out, [d.thumbnail.card for d in catalog.datasets if d.thumbnail])
    reported = report_parts(out)
    assert list(reported) == list(PARTS)
    assert reported["card thumbnails"] == measured.parts["card thumbnails"] > 0
    assert reported["large thumbnails"] == measured.parts["large thumbnails"] > 0
    assert reported["assets"] == measured.parts["assets"] and reported["exports"] == measured.parts["exports"]
    assert written.size is not None and written.size.given_up == ()
    html = (out / "report.html").read_text()
    assert "Site size" in html and f'data-bytes="{reported["card thumbnails"]}"' in html
    assert "Given up" not in html


@pytest.mark.parametrize("parallel_min", [10**6, 1], ids=["one process", "page workers"])
def test_the_pages_counted_as_written_weigh_what_a_walk_finds(tmp_path, parallel_min):
    catalog = make_catalog(tmp_path / "cache")
    out = tmp_path / "site"
    written = SiteWriter(catalog, out, parallel_min=parallel_min, workers=2).write()
    cards = [d.thumbnail.card for d in catalog.datasets if d.thumbnail]
    pages = sorted((out / "datasets").rglob("*"))
    files = [p for p in pages if p.is_file()]
    assert written.folders == {"datasets": (len(catalog.datasets), sum(p.stat().st_size for p in files))}
    assert len(files) == len(catalog.datasets)
    assert measure_site(out, cards, written.folders) == measure_site(out, cards)


def test_a_tight_budget_drops_large_renditions_and_keeps_the_cards(tmp_path):
    result, catalog = gathered(tmp_path)
    write_build(result, BuildConfig(source="x.csv", out=tmp_path / "free"))
    free = report_parts(tmp_path / "free")
    total = sum(free.values())
    budget = total - free["large thumbnails"] // 2
    written = write_build(result, BuildConfig(source="x.csv", out=tmp_path / "site", site_budget=budget))
    out = tmp_path / "site"
    parts = report_parts(out)
    assert parts["large thumbnails"] == 0 and parts["card thumbnails"] == free["card thumbnails"]
    assert sum(parts.values()) <= budget
    assert not any(p.name.endswith("-1024.webp") for p in (out / "thumbnails").iterdir())
    d = next(d for d in catalog.datasets if d.thumbnail)
    page = (out / "datasets" / d.id / "index.html").read_text()
    assert f'src="../../{d.thumbnail.card}"' in page and d.thumbnail.detail not in page
    said = " ".join(written.size.given_up)
    assert "large thumbnails dropped" in said and "card thumbnails shrunk" not in said
    html = (out / "report.html").read_text()
    assert "Given up to fit the budget" in html and "large thumbnails dropped" in html


def test_a_tighter_budget_shrinks_the_cards_last(tmp_path):
    result, catalog = gathered(tmp_path)
    write_build(result, BuildConfig(source="x.csv", out=tmp_path / "free"))
    free = report_parts(tmp_path / "free")
    budget = sum(free.values()) - free["large thumbnails"] - free["card thumbnails"] // 3
    write_build(result, BuildConfig(source="x.csv", out=tmp_path / "site", site_budget=budget))
    out = tmp_path / "site"
    parts = report_parts(out)
    assert parts["large thumbnails"] == 0 and 0 < parts["card thumbnails"] < free["card thumbnails"]
    assert sum(parts.values()) <= budget
    cards = [p.name for p in (out / "thumbnails").iterdir()]
    assert cards and all(re.fullmatch(r"\w+-\d+q\d+\.webp", n) for n in cards), cards
    index = json.loads((out / "catalog.json").read_text())
    assert all(d["thumbnail"] is None or d["thumbnail"] in {f"thumbnails/{n}" for n in cards} for d in index["datasets"])


def test_a_build_that_cannot_fit_exits_1_with_the_figures_and_leaves_the_old_site(tmp_path, capsys):
    csv = tmp_path / "submissions.csv"
    csv.write_text("url,name\n" + "".join(f"https://example.org/d{i}.ome.zarr,Dataset {i}\n" for i in range(5)))
    out = tmp_path / "site"
    assert main(["build", str(csv), "--out", str(out), "--offline", "--no-cache", "-q"]) == 0
    before = (out / "index.html").read_bytes()
    assert main(["build", str(csv), "--out", str(out), "--offline", "--no-cache", "-q", "--site-budget", "20KB"]) == 1
    err = capsys.readouterr().err
    assert "over the budget of 19.5 KiB (--site-budget)" in err and "pages " in err and "exports " in err
    assert "larger --site-budget" in err and "ngff-catalog publish" in err
    assert (out / "index.html").read_bytes() == before


def test_site_budget_option_refuses_a_size_it_cannot_read(capsys):
    with pytest.raises(SystemExit):
        main(["build", "x.csv", "--out", "o", "--site-budget", "lots"])
    assert "not a size" in capsys.readouterr().err
