// The index page: loads search/meta.json, then search, facets with live
// counts, sorting, paging and URL state over the sharded index, fetching only
// the shards a view needs. The first page arrives pre-rendered and is kept as
// is while it is current; every other card is cloned from the page's card
// <template>, and a card already shown is moved, not redrawn.
import { Model } from "./model.js";
import { ShardIndex, getWords } from "./shards.js";
import { makeCard } from "./cards.js";
import { FacetsView, renderPager } from "./facets.js";
import { formatCount, highlight, wireCopyButtons, wireSlashKey } from "./dom.js";

const $ = (sel) => document.querySelector(sel);
const input = $("#q");
const results = $("#results");
const statusLine = $("#result-status");
const pager = $("#pager");
const facetsBox = $("#facets");
const sortSelect = $("#sort");
const dirButton = $("#dir");
// Imported once: clones of a node of the template's own (inert) document would
// each be adopted into this one when inserted, which costs more than the clone.
const CARD = document.importNode($("#card-template").content.firstElementChild, true);
const viewButtons = [...document.querySelectorAll("[data-view]")];
const sourcePanels = [...document.querySelectorAll(".source-panel")];
const PAGE_SIZE = Number(results.dataset.pageSize || 60);
// The facets' query-string names, known before the search index arrives.
const FACET_KEYS = facetsBox.dataset.keys.split(" ");

wireCopyButtons();
wireSlashKey(input);
if (location.hash === "#q") input.focus();

// ---------------------------------------------------------------- state

function readState() {
  const p = new URLSearchParams(location.search);
  const state = {
    q: p.get("q") || "",
    sort: p.get("sort") || "",
    dir: p.get("dir") || "",
    view: p.get("view") === "list" ? "list" : "grid",
    page: Math.max(1, parseInt(p.get("page") || "1", 10) || 1),
    filters: {},
  };
  for (const key of FACET_KEYS) {
    const values = p.getAll(key);
    if (values.length) state.filters[key] = values;
  }
  return state;
}

function writeQuery(state) {
  const p = new URLSearchParams();
  if (state.q) p.set("q", state.q);
  for (const [key, values] of Object.entries(state.filters)) for (const v of values) p.append(key, v);
  if (state.sort) p.set("sort", state.sort);
  if (state.dir) p.set("dir", state.dir);
  if (state.view !== "grid") p.set("view", state.view);
  if (state.page > 1) p.set("page", String(state.page));
  const query = p.toString();
  return query ? `?${query}` : location.pathname.split("/").pop() || "./";
}

function isDefault(state) {
  return !state.q && !state.sort && !Object.keys(state.filters).length && state.page === 1;
}

// ---------------------------------------------------------------- app

let model = null;
let index = null;
let facetsView = null;
let state = readState();
let prerendered = results.dataset.prerendered !== undefined;
let pagerShown = "";
const afterPaint = (fn, ms = 0) => requestAnimationFrame(() => setTimeout(fn, ms));

const columnSort = (key) => (model ? model.columnSort(key) : null);

function currentDir() {
  const sort = columnSort(state.sort);
  return state.dir || (sort ? sort.dir : "desc");
}

function applyStateToControls() {
  if (input.value !== state.q) input.value = state.q;
  const known = [...sortSelect.options].some((o) => o.value === state.sort);
  sortSelect.value = known ? state.sort : "";
  const dir = currentDir();
  dirButton.textContent = dir === "asc" ? "↑" : "↓";
  dirButton.setAttribute("aria-label", `Sort direction: ${dir === "asc" ? "ascending" : "descending"}`);
  dirButton.disabled = !columnSort(state.sort);
  results.classList.toggle("list", state.view === "list");
  results.classList.toggle("grid", state.view !== "list");
  for (const b of viewButtons) b.setAttribute("aria-pressed", String(b.dataset.view === state.view));
  for (const panel of sourcePanels) {
    panel.classList.toggle("active", (state.filters.source || []).includes(panel.dataset.source));
  }
}

// Cards drawn before the first frame: as many as the screen showed of the last
// page drawn (a frame's style, layout and raster grow with the cards in it),
// and until one was, more than a large screen shows at once. The rest of the
// page follows once typing pauses: drawn at once, they would compete with the
// raster of the first screen (and of the next keystroke's) for the same two
// cores, and a newer keystroke makes them moot.
const FIRST_FRAME_CARDS = 18;
const REST_DELAY_MS = 100;
let screenCards = FIRST_FRAME_CARDS;

/** How many cards fill the screen from the first card down, read from the page as drawn. */
function measureScreenCards() {
  const first = results.firstElementChild;
  if (!first) return;
  const style = getComputedStyle(results);
  const cols = results.classList.contains("list") ? 1 : style.gridTemplateColumns.split(" ").length;
  const box = first.getBoundingClientRect();
  const step = Math.max(box.height + (parseFloat(style.rowGap) || 0), 1);
  screenCards = cols * Math.max(1, Math.ceil((innerHeight - box.top) / step));
}
let drawn = 0; // which drawCards call the deferred cards belong to
// Row -> the card node showing it and the terms it highlights: kept for the
// next draw, so a result still shown keeps its node and decoded thumbnail.
// (The pre-rendered cards are not reused: a script-drawn card is the same
// markup, which a test compares.)
let shownCards = new Map();

function cardNode(row, terms, termsKey, next) {
  let shown = shownCards.get(row);
  if (shown && shown.node.dataset.id !== index.card(row).id) shown = null;
  if (shown) {
    if (shown.terms !== termsKey) {
      shown.link.replaceChildren(highlight(index.card(row).name, terms));
      shown.terms = termsKey;
    }
  } else {
    const node = makeCard(CARD, index.card(row), terms);
    shown = { node, terms: termsKey, link: node.children[1].firstElementChild.firstElementChild };
  }
  next.set(row, shown);
  return shown.node;
}

function drawCards(rows, terms) {
  const draw = ++drawn;
  const termsKey = terms.join("\u0000");
  const next = new Map();
  const cards = (from, to) => {
    const frag = document.createDocumentFragment();
    for (let i = from; i < to; i++) frag.append(cardNode(rows[i], terms, termsKey, next));
    return frag;
  };
  const now = Math.min(rows.length, screenCards);
  results.replaceChildren(cards(0, now));
  shownCards = next;
  afterPaint(() => { if (draw === drawn) measureScreenCards(); });
  if (rows.length > now) {
    afterPaint(() => {
      if (draw !== drawn) return;
      index.loadCards(rows.subarray(now)).then(() => { if (draw === drawn) results.append(cards(now, rows.length)); }, failed);
    }, REST_DELAY_MS);
  }
}

// The view (candidate rows) the model holds, by what it answers.
let viewKey = null;

function getViewKey(s) {
  const words = getWords(s.q);
  if (words.length) return `q:${words.join(" ")}`;
  const sort = columnSort(s.sort) ? `${s.sort}-${currentDir()}` : "";
  return `b:${JSON.stringify(FACET_KEYS.map((k) => s.filters[k] || []))}:${sort}`;
}

async function showView(s) {
  const key = getViewKey(s);
  if (key === viewKey) return;
  const view = key.startsWith("q:") ? await index.search(s.q)
    : await index.browse(s.filters, columnSort(s.sort) ? s.sort : "", currentDir());
  if (getViewKey(state) !== key) return; // answered too late: a newer view is current
  model.setView(view, (r) => index.rowCodes.get(r));
  viewKey = key;
}

/** The page's rows (catalog row ids), the matching count, and whether it is exact. */
async function answer(s) {
  const whole = !getWords(s.q).length && !Object.keys(s.filters).length && !columnSort(s.sort);
  if (whole) {
    model.showWhole();
    const start = (s.page - 1) * PAGE_SIZE;
    const rows = Int32Array.from({ length: Math.max(0, Math.min(PAGE_SIZE, model.n - start)) }, (_, i) => start + i);
    return { rows, matching: model.n, total: model.n, terms: [] };
  }
  await showView(s);
  if (viewKey !== getViewKey(s)) return null; // a newer state took over
  model.select(s.filters);
  const matching = model.filter(model.rows(s.sort, currentDir()));
  const view = model.view;
  const start = (s.page - 1) * PAGE_SIZE;
  const rows = Int32Array.from(matching.subarray(start, start + PAGE_SIZE), (i) => view.rows[i]);
  return { rows, matching: matching.length, total: model.total(matching.length), terms: view.terms.concat(view.all) };
}

let renders = 0;

function render() {
  return update().catch(failed);
}

async function update() {
  applyStateToControls();
  if (!model) return;
  const seq = ++renders;
  const s = state;
  let a = await answer(s);
  if (!a) return;
  const pages = Math.max(1, Math.ceil(a.matching / PAGE_SIZE));
  if (s.page > pages) {
    s.page = pages;
    a = await answer(s);
    if (!a) return;
  }
  // The first screen's cards; drawCards loads the rest after the first paint.
  await index.loadCards(a.rows.subarray(0, screenCards));
  if (seq !== renders) return; // a later state is being answered
  facetsView.update(model);
  if (prerendered && isDefault(s)) {
    // The pre-rendered first page is current: keep its nodes (and loaded images).
  } else {
    prerendered = false;
    drawCards(a.rows, a.terms);
  }
  const start = (s.page - 1) * PAGE_SIZE;
  const count = a.total ?? a.matching;
  const more = a.total === null ? "+" : "";
  let text = a.matching
    ? `Showing ${formatCount(start + 1)}–${formatCount(start + a.rows.length)} of ${formatCount(count)}${more} ${count === 1 && !more ? "dataset" : "datasets"}`
    : "No datasets match";
  if (count !== model.n) text += ` (of ${formatCount(model.n)})`;
  if (statusLine.textContent !== text) statusLine.textContent = text;
  results.setAttribute("aria-busy", "false");
  results.dataset.query = s.q;
  pagerShown = renderPager(pager, s.page, pages, (page) => writeQuery({ ...s, page }), pagerShown);
}

function failed(error) {
  statusLine.textContent = "The search index could not be loaded; showing the first page only.";
  console.warn(error);
}

// Rewriting the address costs the browser a few milliseconds of its own main
// thread (a same-document navigation), which competes with the next keystroke's
// frame: while typing, the latest state is recorded once typing pauses.
let addressTimer = 0;

function cancelAddress() {
  clearTimeout(addressTimer);
  addressTimer = 0;
}

function navigate(change, { replace = false } = {}) {
  state = { ...state, ...change };
  cancelAddress();
  if (!replace) {
    history.pushState(null, "", writeQuery(state));
  } else {
    addressTimer = setTimeout(writeAddress, REST_DELAY_MS);
  }
  render();
}

function writeAddress() {
  cancelAddress();
  history.replaceState(null, "", writeQuery(state));
}

// A state still waiting to be recorded is recorded before the page is left
// (a card followed right after a keystroke) or the search box loses focus.
const flushAddress = () => { if (addressTimer) writeAddress(); };
document.addEventListener("click", flushAddress, true);

function toggleFacet(f, i, checked) {
  if (f === null) return navigate({ filters: {}, page: 1 });
  const filters = { ...state.filters };
  const values = new Set(filters[f.key] || []);
  if (checked) values.add(f.keys[i]); else values.delete(f.keys[i]);
  if (values.size) filters[f.key] = [...values]; else delete filters[f.key];
  navigate({ filters, page: 1 });
}

let typing = false;
input.addEventListener("input", () => {
  // One history entry per search, not per keystroke.
  navigate({ q: input.value.trim() ? input.value : "", page: 1 }, { replace: typing });
  typing = true;
});
input.addEventListener("blur", () => { typing = false; flushAddress(); });
$("#search-form").addEventListener("submit", (event) => { event.preventDefault(); typing = false; flushAddress(); });
sortSelect.addEventListener("change", () => navigate({ sort: sortSelect.value, dir: "", page: 1 }));
dirButton.addEventListener("click", () => navigate({ dir: currentDir() === "asc" ? "desc" : "asc", page: 1 }));
for (const b of viewButtons) {
  b.addEventListener("click", () => navigate({ view: b.dataset.view }));
}
pager.addEventListener("click", (event) => {
  const a = event.target.closest("a[data-page]");
  if (!a) return;
  event.preventDefault();
  navigate({ page: Number(a.dataset.page) });
  results.scrollIntoView({ block: "start" });
  statusLine.focus?.();
});
for (const panel of sourcePanels) {
  panel.addEventListener("click", (event) => {
    event.preventDefault();
    const name = panel.dataset.source;
    const current = state.filters.source || [];
    const filters = { ...state.filters };
    delete filters.collection;
    if (current.length === 1 && current[0] === name) delete filters.source; else filters.source = [name];
    navigate({ filters, page: 1 });
  });
}
window.addEventListener("popstate", () => {
  cancelAddress();
  state = readState();
  typing = false;
  render();
});

applyStateToControls();
results.setAttribute("aria-busy", isDefault(state) ? "false" : "true");

fetch("search/meta.json", { credentials: "same-origin" })
  .then((r) => {
    if (!r.ok) throw new Error(`search/meta.json: HTTP ${r.status}`);
    return r.json();
  })
  .then((meta) => {
    index = new ShardIndex(meta, "");
    model = new Model(meta);
    facetsView = new FacetsView(facetsBox, model, toggleFacet);
    return update().then(() => afterPaint(measureScreenCards)).then(() => Promise.all(meta.prefetch.map((path) => index.load(path)))).then(() => {
      document.documentElement.dataset.searchReady = "true";
    });
  })
  .catch(failed);
