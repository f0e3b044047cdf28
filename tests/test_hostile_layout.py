"""Issue 10, case 13 (layout): at 390 px wide no page scrolls sideways, however long a provider's text.

A plate page with code snippets, the report with failing datasets, and the
index, built from a catalog whose URLs and names are long runs without a
break opportunity, in headless Chromium at a phone's width. Wide tables may
scroll inside their own box (``.table-scroll``); the page itself must not.
"""

from __future__ import annotations

import dataclasses

import pytest

from generator.dev.server import BackgroundServer, make_app
from generator.site.pages import write_site
from tests.site_fixtures import make_catalog

LONG = "verylongdatasetnamewithoutanybreakpoints" * 4
PHONE = {"width": 390, "height": 844}

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("phone")
    catalog = make_catalog(out)
    datasets = tuple(
        dataclasses.replace(
            d,
            url=f"https://s3.example.org/bucket/{LONG}/{i}.ome.zarr",
            name=f"{d.name} {LONG}",
            errors=d.errors + ((f"zarr.json: not found at https://s3.example.org/{LONG}",) if d.status != "ok" else ()),
        )
        for i, d in enumerate(catalog.datasets)
    )
    catalog = dataclasses.replace(catalog, datasets=datasets)
    write_site(catalog, out)
    server = BackgroundServer(make_app(out, cors=False)).start()
    try:
        yield server.url, catalog
    finally:
        server.stop()


@pytest.fixture(scope="module")
def phone(browser):
    context = browser.new_context(viewport=PHONE)
    yield context.new_page()
    context.close()


def _pages(catalog) -> list[str]:
    plate = next(d for d in catalog.datasets if d.kind == "plate" and d.plate is not None and d.plate.rows)
    failing = next(d for d in catalog.datasets if d.status != "ok")
    return ["index.html", "report.html", "about.html", f"datasets/{plate.id}/", f"datasets/{failing.id}/"]


def test_no_page_scrolls_sideways_at_390_px(site, phone) -> None:
    base, catalog = site
    for path in _pages(catalog):
        phone.goto(f"{base}/{path}")
        phone.wait_for_load_state("networkidle")
        width = phone.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"{path} is {width} px wide at {PHONE['width']} px"
        # The snippets and long URLs are on the page (and wrap or scroll in their own box).
        if path.startswith("datasets/"):
            assert phone.locator("pre code").count() >= 2, path
            assert LONG in phone.locator(".dataset-url").inner_text().replace("\n", "")
