"""How a keystroke repaints the results (assets/catalog.js): the first frame
draws the cards the screen shows, the rest of the page follows once typing
pauses, and a newer keystroke drops what an older one left to draw. In
headless Chromium against the real local server, on 90 datasets with real
WebP thumbnails."""

from __future__ import annotations

import pytest

from generator.dev.server import BackgroundServer, make_app
from generator.records import Catalog
from generator.site.pages import write_site
from tests.site_fixtures import make_dataset

PREFIX = "/r/"
WORDS = ["zebrafish", "kidney", "organoid", "cortex"]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("repaint")
    datasets = tuple(
        make_dataset(i, source=["IDR", "JAX"][i % 2], collection=f"c{i % 3}", out=out,
                     name=f"{WORDS[i % len(WORDS)].title()} {WORDS[(i // 4) % len(WORDS)]} {i:03d}")
        for i in range(90)
    )
    catalog = Catalog(generated_at="2025-01-01T00:00:00Z", datasets=datasets)
    write_site(catalog, out)
    return out, catalog


@pytest.fixture(scope="module")
def base(site):
    server = BackgroundServer(make_app(site[0], prefix=PREFIX)).start()
    try:
        yield server.url + PREFIX
    finally:
        server.stop()


@pytest.fixture
def page(browser, base):
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = ctx.new_page()
    errors: list[str] = []
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.goto(base + "index.html")
    pg.wait_for_selector("html[data-search-ready=true]")
    pg.errors = errors
    yield pg
    ctx.close()


def wait_until(page, expression: str, timeout_ms: int = 10_000) -> None:
    """Polls ``expression`` with page.evaluate (the page's CSP forbids the eval wait_for_function uses)."""
    for _ in range(timeout_ms // 25):
        if page.evaluate(expression):
            return
        page.wait_for_timeout(25)
    raise AssertionError(f"still false after {timeout_ms} ms: {expression}")


def names_of(page) -> list[str]:
    return page.eval_on_selector_all("#results .card .card-title a", "links => links.map(a => a.textContent)")


def expected(catalog, word: str) -> set[str]:
    return {d.name for d in catalog.datasets if word in d.name.lower()}


# The cards of the answer to a query, as soon as it is shown: how many, and
# whether the last one reaches the bottom of the window.
FIRST_DRAW = """q => new Promise((resolve) => {
  const results = document.querySelector('#results');
  new MutationObserver((_, obs) => {
    if (results.dataset.query !== q) return;
    obs.disconnect();
    const cards = results.querySelectorAll('.card');
    resolve([cards.length, cards[cards.length - 1].getBoundingClientRect().bottom >= innerHeight]);
  }).observe(results, { attributes: true, attributeFilter: ['data-query'] });
  const input = document.querySelector('input[type=search]');
  input.value = q;
  input.dispatchEvent(new Event('input', { bubbles: true }));
})"""


@pytest.mark.browser
def test_the_first_frame_fills_the_screen_and_the_rest_follows(page, site):
    out, catalog = site
    # Drawn first: cards down past the bottom of the window, or every card.
    want = expected(catalog, "organoid")
    count, fills = page.evaluate(FIRST_DRAW, "organoid")
    assert 0 < count <= len(want) and (fills or count == len(want))
    # Then the whole page of the answer, each card once.
    wait_until(page, f"document.querySelectorAll('#results .card').length === {len(want)}")
    assert sorted(names_of(page)) == sorted(want)
    assert page.errors == []


@pytest.mark.browser
def test_a_newer_keystroke_drops_what_an_older_one_left_to_draw(page, site):
    out, catalog = site
    # Keystrokes one frame apart, faster than the rest of a page is drawn.
    page.evaluate("""async (words) => {
      const input = document.querySelector('input[type=search]');
      for (const q of words) {
        input.value = q;
        input.dispatchEvent(new Event('input', { bubbles: true }));
        await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
      }
    }""", ["k", "", "z", "ze", "", "c", "co", "cortex"])
    want = expected(catalog, "cortex")
    page.wait_for_selector("#results[data-query='cortex']", state="attached")
    page.wait_for_timeout(400)  # longer than the pause after which the rest is drawn
    got = names_of(page)
    assert len(got) == len(set(got)) and set(got) == want
    assert page.evaluate("document.querySelector('#result-status').textContent").startswith(f"Showing 1–{len(want)} of {len(want)}")
    assert "q=cortex" in page.url
    assert page.errors == []


@pytest.mark.browser
def test_the_index_page_favicon_is_a_png_it_serves(page, site):
    out, _ = site
    href = page.get_attribute("link[rel=icon]", "href")
    assert href == "assets/icon.png" and (out / href).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


TYPE_FAST = """async (words) => {
  const input = document.querySelector('input[type=search]');
  input.focus();
  const seen = [];
  for (const q of words) {
    input.value = q;
    input.dispatchEvent(new Event('input', { bubbles: true }));
    await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
    seen.push(location.search);
  }
  return seen;
}"""


@pytest.mark.browser
def test_while_typing_the_address_is_recorded_once_typing_pauses(page, site):
    out, catalog = site
    before = page.evaluate("history.length")
    # The first keystroke starts a search (one history entry); the next ones,
    # a frame apart, leave the address to be rewritten when typing pauses.
    seen = page.evaluate(TYPE_FAST, ["c", "co", "cor", "cort"])
    assert seen[0] == "?q=c" and "q=cort" not in "".join(seen[1:])
    wait_until(page, "location.search === '?q=cort'", timeout_ms=2000)
    assert page.evaluate("history.length") == before + 1
    page.go_back()
    wait_until(page, "location.search === ''")
    assert page.input_value("input[type=search]") == ""
    assert page.errors == []


@pytest.mark.browser
def test_a_card_followed_right_after_a_keystroke_keeps_the_query_for_back(page, site):
    out, catalog = site
    page.evaluate(TYPE_FAST, ["z", "ze"])
    # The last keystroke's card followed as soon as it is drawn, before the pause.
    pending = page.evaluate("""() => new Promise((resolve) => {
      const results = document.querySelector('#results');
      new MutationObserver((_, obs) => {
        if (results.dataset.query !== 'zebrafish') return;
        obs.disconnect();
        const waiting = location.search;
        results.querySelector('.card .card-title a').click();
        resolve(waiting);
      }).observe(results, { attributes: true, attributeFilter: ['data-query'] });
      const input = document.querySelector('input[type=search]');
      input.value = 'zebrafish';
      input.dispatchEvent(new Event('input', { bubbles: true }));
    })""")
    assert "zebrafish" not in pending
    page.wait_for_url("**/datasets/**")
    page.go_back()
    page.wait_for_selector("html[data-search-ready=true]")
    assert "q=zebrafish" in page.url
    assert page.input_value("input[type=search]") == "zebrafish"
