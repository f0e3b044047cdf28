// The index page: loads index.json, then search, facets with live counts,
// sorting, paging and URL state. The first page arrives pre-rendered and is
// kept as is while it is current; every other card is cloned from the page's
// card <template>.
import { Model } from "./model.js";
import { makeCard } from "./cards.js";
import { FacetsView, renderPager } from "./facets.js";
import { formatCount, wireCopyButtons, wireSlashKey } from "./dom.js";

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
// The facets' query-string names, known before index.json arrives.
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
let facetsView = null;
let state = readState();
let prerendered = results.dataset.prerendered !== undefined;
let pagerShown = "";
const afterPaint = (fn) => requestAnimationFrame(() => setTimeout(fn, 0));

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

/** The rows to show, in display order, before facet filtering; and the search's terms. */
function getRows(found) {
  if (found && (!state.sort || state.sort === "relevance")) return found.rows;
  if (columnSort(state.sort)) {
    const { present, missing } = model.order(state.sort);
    const ordered = new Int32Array(model.n);
    if (currentDir() === "asc") ordered.set(present);
    else for (let i = 0, m = present.length; i < m; i++) ordered[i] = present[m - 1 - i];
    ordered.set(missing, present.length);
    if (!found) return ordered;
    const keep = new Uint8Array(model.n);
    for (const r of found.rows) keep[r] = 1;
    return ordered.filter((r) => keep[r]);
  }
  return found ? found.rows : (model.identity ||= Int32Array.from({ length: model.n }, (_, i) => i));
}

// Cards drawn before the first frame: more than a large screen shows at once.
// The rest of the page follows one frame later, so a keystroke repaints what
// the visitor sees without waiting for the cards below the fold.
const FIRST_FRAME_CARDS = 18;
let drawn = 0; // which drawCards call the deferred cards belong to

function drawCards(rows, terms) {
  const draw = ++drawn;
  const cards = (from, to) => {
    const frag = document.createDocumentFragment();
    for (let i = from; i < to; i++) frag.append(makeCard(CARD, model.card(rows[i]), terms));
    return frag;
  };
  results.replaceChildren(cards(0, Math.min(rows.length, FIRST_FRAME_CARDS)));
  if (rows.length > FIRST_FRAME_CARDS) {
    afterPaint(() => { if (draw === drawn) results.append(cards(FIRST_FRAME_CARDS, rows.length)); });
  }
}

function render() {
  applyStateToControls();
  if (!model) return;
  model.select(state.filters);
  const found = !state.q ? null : model.index ? model.search(state.q) : model.scan(state.q);
  const matching = model.filter(getRows(found));
  facetsView.update(model);
  const pages = Math.max(1, Math.ceil(matching.length / PAGE_SIZE));
  if (state.page > pages) state.page = pages;
  const start = (state.page - 1) * PAGE_SIZE;
  const slice = matching.subarray(start, start + PAGE_SIZE);

  if (prerendered && isDefault(state)) {
    // The pre-rendered first page is current: keep its nodes (and loaded images).
  } else {
    prerendered = false;
    drawCards(slice, found ? found.terms.concat(found.all) : []);
  }
  const filtered = matching.length !== model.n;
  let text = matching.length
    ? `Showing ${formatCount(start + 1)}–${formatCount(start + slice.length)} of ${formatCount(matching.length)} ${matching.length === 1 ? "dataset" : "datasets"}`
    : "No datasets match";
  if (filtered) text += ` (of ${formatCount(model.n)})`;
  if (state.q && !model.index) text += " · names and URLs only, while the search index loads";
  if (statusLine.textContent !== text) statusLine.textContent = text;
  results.setAttribute("aria-busy", "false");
  pagerShown = renderPager(pager, state.page, pages, (page) => writeQuery({ ...state, page }), pagerShown);
}

// Rewriting the address costs the browser a few milliseconds: while typing, it
// waits until the new results are painted, then records the latest state.
let addressPending = false;

function navigate(change, { replace = false } = {}) {
  state = { ...state, ...change };
  if (!replace) {
    history.pushState(null, "", writeQuery(state));
  } else if (!addressPending) {
    addressPending = true;
    afterPaint(() => {
      addressPending = false;
      history.replaceState(null, "", writeQuery(state));
    });
  }
  render();
}

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
input.addEventListener("blur", () => { typing = false; });
$("#search-form").addEventListener("submit", (event) => { event.preventDefault(); typing = false; });
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
  state = readState();
  typing = false;
  render();
});

applyStateToControls();
results.setAttribute("aria-busy", isDefault(state) ? "false" : "true");

fetch("index.json", { credentials: "same-origin" })
  .then((r) => {
    if (!r.ok) throw new Error(`index.json: HTTP ${r.status}`);
    return r.json();
  })
  .then((ix) => {
    model = new Model(ix);
    facetsView = new FacetsView(facetsBox, model, toggleFacet);
    const ready = model.buildIndex();
    render();
    return ready.then(() => {
      document.documentElement.dataset.searchReady = "true";
      if (state.q) render();
    });
  })
  .catch((error) => {
    statusLine.textContent = "The search index could not be loaded; showing the first page only.";
    console.warn(error);
  });
