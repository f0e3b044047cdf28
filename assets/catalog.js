// The index page: loads index.json, then search (MiniSearch), facets with live
// counts, sorting, paging and URL state. Cards are built with dom.js only;
// the first page arrives pre-rendered and is kept as is while it is current.
import MiniSearch from "./vendor/minisearch-7.2.0.js";
import { el, safeHref, validatorUrl, formatCount, highlight, wireCopyButtons, wireSlashKey } from "./dom.js";

const $ = (sel) => document.querySelector(sel);
const input = $("#q");
const results = $("#results");
const statusLine = $("#result-status");
const pager = $("#pager");
const facetsBox = $("#facets");
const sortSelect = $("#sort");
const dirButton = $("#dir");
const PAGE_SIZE = Number(results.dataset.pageSize || 60);

wireCopyButtons();
wireSlashKey(input);
if (location.hash === "#q") input.focus();

// ---------------------------------------------------------------- model

const NONE = "not stated";

function makeFacets(ix) {
  const c = ix.c, t = ix.t, n = ix.n;
  const codes = (col, size) => {
    const out = new Int32Array(n);
    for (let i = 0; i < n; i++) out[i] = col[i] < 0 ? size : col[i];
    return out;
  };
  const table = (key, label, values, col, keys = values) => ({
    key, label, labels: [...values, NONE], keys: [...keys, NONE], codes: codes(col, values.length),
  });
  const ndims = [...new Set(c.shape.map((s) => (s ? s.length : 0)))].sort((a, b) => a - b);
  const ndimIndex = new Map(ndims.map((d, i) => [d, i]));
  const sourceNames = t.source.map((s) => s || "(no source)");
  const facets = [
    table("source", "Source", sourceNames, c.src, t.source),
    {
      key: "collection", label: "Collection",
      labels: [...t.collection.map(([s, name]) => name), NONE],
      groups: [...t.collection.map(([s]) => sourceNames[s]), ""],
      keys: [...t.collection.map(([s, name]) => `${t.source[s]}|${name}`), NONE],
      codes: codes(c.col, t.collection.length),
    },
    table("organism", "Organism", t.organism, c.org),
    table("modality", "Imaging modality", t.modality, c.mod),
    {
      key: "ndim", label: "Dimensions",
      labels: ndims.map((d) => (d ? `${d}D` : "unknown")), keys: ndims.map(String),
      codes: Int32Array.from(c.shape, (s) => ndimIndex.get(s ? s.length : 0)),
    },
    table("version", "NGFF version", t.version.map((v) => `v${v}`), c.ver, t.version),
    {
      key: "zarr", label: "Zarr format", labels: ["Zarr v2", "Zarr v3", "unknown"], keys: ["2", "3", "unknown"],
      codes: Int32Array.from(c.zf, (z) => (z === 2 ? 0 : z === 3 ? 1 : 2)),
    },
    {
      key: "sharded", label: "Sharding", labels: ["sharded", "not sharded"], keys: ["yes", "no"],
      codes: Int32Array.from(c.spx, (s) => (s > 0 ? 0 : 1)),
    },
    table("license", "License", t.license, c.lic),
    { key: "kind", label: "Kind", labels: ix.kinds, keys: ix.kinds, codes: Int32Array.from(c.kind) },
    { key: "status", label: "Status", labels: ix.statuses, keys: ix.statuses, codes: Int32Array.from(c.st) },
  ];
  for (const f of facets) {
    f.selected = new Uint8Array(f.labels.length);
    f.counts = new Int32Array(f.labels.length);
    f.total = new Int32Array(f.labels.length);
    for (let i = 0; i < n; i++) f.total[f.codes[i]]++;
    f.keyIndex = new Map(f.keys.map((k, i) => [k, i]));
  }
  return facets;
}

const SORTS = {
  name: { dir: "asc" }, bytes: { dir: "desc" }, chunk: { dir: "desc" }, shard: { dir: "desc" },
  x: { dir: "desc" }, y: { dir: "desc" }, z: { dir: "desc" }, c: { dir: "desc" }, t: { dir: "desc" },
};

class Model {
  constructor(ix) {
    this.ix = ix;
    this.n = ix.n;
    this.c = ix.c;
    this.t = ix.t;
    this.facets = makeFacets(ix);
    this.facetByKey = new Map(this.facets.map((f) => [f.key, f]));
    this.orders = new Map();
    this.scores = new Float64Array(this.n);
    this.hits = new Int32Array(this.n);
    this.axisNames = this.t.axes.map((a) => a.split(","));
    this.index = null;
  }

  sortKey(key) {
    const c = this.c, n = this.n;
    const out = new Float64Array(n);
    if (key === "bytes") for (let i = 0; i < n; i++) out[i] = c.wb[i] >= 0 ? c.wb[i] : c.ubytes[i];
    else if (key === "chunk") for (let i = 0; i < n; i++) out[i] = c.cpx[i] || -1;
    else if (key === "shard") for (let i = 0; i < n; i++) out[i] = c.spx[i] || -1;
    else {
      for (let i = 0; i < n; i++) {
        const names = c.ax[i] >= 0 ? this.axisNames[c.ax[i]] : null;
        const at = names ? names.indexOf(key) : -1;
        out[i] = at >= 0 && c.shape[i] ? c.shape[i][at] : -1;
      }
    }
    return out;
  }

  /** Rows in sort order: [present ascending, missing], cached per key. */
  order(key) {
    let cached = this.orders.get(key);
    if (cached) return cached;
    const rows = Array.from({ length: this.n }, (_, i) => i);
    let present, missing;
    if (key === "name") {
      const names = this.c.name.map((s) => s.toLowerCase());
      rows.sort((a, b) => (names[a] < names[b] ? -1 : names[a] > names[b] ? 1 : a - b));
      present = rows; missing = [];
    } else {
      const k = this.sortKey(key);
      present = rows.filter((i) => k[i] >= 0).sort((a, b) => k[a] - k[b] || a - b);
      missing = rows.filter((i) => k[i] < 0);
    }
    cached = { present: Int32Array.from(present), missing: Int32Array.from(missing) };
    this.orders.set(key, cached);
    return cached;
  }

  buildIndex() {
    // Per-row text (name, last URL segment) goes in one index; strings shared by
    // many rows (descriptions, sources, collections, terms, URL prefixes) go in a
    // second, small index and expand to their rows, so 100,000 rows index fast.
    const rowIndex = new MiniSearch({ fields: ["name", "base"], idField: "i", searchOptions: { boost: { name: 2 } } });
    const tableIndex = new MiniSearch({ fields: ["text"], idField: "i", storeFields: ["col", "k"] });
    const tables = [
      ["desc", "desc", 0.6], ["source", "src", 1], ["organism", "org", 1], ["modality", "mod", 1],
      ["prefix", "up", 0.8], ["license", "lic", 0.5],
    ];
    const tableDocs = [];
    for (const [tname, col, weight] of tables) {
      this.t[tname].forEach((text, k) => tableDocs.push({ i: tableDocs.length, text, col, k, weight }));
    }
    this.t.collection.forEach(([, name], k) => tableDocs.push({ i: tableDocs.length, text: name, col: "col", k, weight: 1 }));
    this.tableDocs = tableDocs;
    tableIndex.addAll(tableDocs);
    this.tableIndex = tableIndex;
    this.rowsByValue = new Map(); // "col" -> array of row lists, built on first use
    const docs = new Array(this.n);
    for (let i = 0; i < this.n; i++) docs[i] = { i, name: this.c.name[i], base: this.c.ub[i] };
    return rowIndex.addAllAsync(docs, { chunkSize: 5000 }).then(() => { this.index = rowIndex; });
  }

  rowsOf(col, k) {
    let lists = this.rowsByValue.get(col);
    if (!lists) {
      lists = [];
      const values = this.c[col];
      for (let i = 0; i < this.n; i++) {
        const v = values[i];
        if (v < 0) continue;
        (lists[v] ||= []).push(i);
      }
      this.rowsByValue.set(col, lists);
    }
    return lists[k] || [];
  }

  /** Until the ranked index is built (seconds, at 100,000 rows): rows whose name or
   * URL contains every query term, in catalog order. A shared ?q= link and the
   * first keystrokes get answers at once instead of a wait. */
  scan(q) {
    const terms = MiniSearch.getDefault("tokenize")(q).map((w) => w.toLowerCase()).filter(Boolean);
    if (!terms.length) return null;
    const { c, t } = this;
    this.scanText ||= Array.from({ length: this.n }, (_, i) =>
      `${c.name[i]} ${c.up[i] >= 0 ? t.prefix[c.up[i]] : ""}${c.ub[i]}`.toLowerCase());
    const rows = [];
    for (let i = 0; i < this.n; i++) {
      const text = this.scanText[i];
      if (terms.every((term) => text.includes(term))) rows.push(i);
    }
    return { rows: Int32Array.from(rows), terms: [], all: terms };
  }

  /** Rows matching every query term (prefix + fuzzy, any field), best first, and the matched terms. */
  search(q) {
    const terms = MiniSearch.getDefault("tokenize")(q).map((w) => w.toLowerCase()).filter(Boolean);
    if (!terms.length || !this.index) return null;
    const { scores, hits } = this;
    scores.fill(0);
    hits.fill(0);
    const matched = new Set();
    let candidates = null;
    const options = (term) => ({ prefix: true, fuzzy: term.length > 3 ? 0.2 : false, combineWith: "OR" });
    terms.forEach((term, ti) => {
      const found = [];
      const hit = (row, score) => {
        if (hits[row] === ti) { hits[row] = ti + 1; found.push(row); }
        if (hits[row] === ti + 1) scores[row] += score;
      };
      for (const r of this.index.search(term, options(term))) {
        hit(r.id, r.score);
        for (const m of r.terms) matched.add(m);
      }
      for (const r of this.tableIndex.search(term, options(term))) {
        const doc = this.tableDocs[r.id];
        for (const row of this.rowsOf(doc.col, doc.k)) hit(row, r.score * doc.weight);
      }
      candidates = found;
    });
    const rows = Int32Array.from(candidates).sort((a, b) => scores[b] - scores[a] || a - b);
    return { rows, terms: [...matched], all: terms };
  }

  /** Filter `rows` (already in display order) by the selected facets and count every facet's values. */
  filter(rows) {
    const active = this.facets.filter((f) => f.selected.some((x) => x));
    for (const f of this.facets) f.counts.fill(0);
    const out = new Int32Array(rows.length);
    let m = 0;
    const facets = this.facets, nf = facets.length;
    for (let j = 0; j < rows.length; j++) {
      const r = rows[j];
      let fails = 0, failed = null;
      for (const f of active) {
        if (!f.selected[f.codes[r]]) { fails++; failed = f; if (fails > 1) break; }
      }
      if (fails === 0) {
        out[m++] = r;
        for (let k = 0; k < nf; k++) facets[k].counts[facets[k].codes[r]]++;
      } else if (fails === 1) {
        failed.counts[failed.codes[r]]++;
      }
    }
    return out.subarray(0, m);
  }
}

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
  for (const key of ["source", "collection", "organism", "modality", "ndim", "version", "zarr", "sharded", "license", "kind", "status"]) {
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

// ---------------------------------------------------------------- rendering

function card(model, r, terms) {
  const c = model.c, t = model.t;
  const id = c.id[r];
  const name = c.name[r];
  const url = (c.up[r] >= 0 ? t.prefix[c.up[r]] : "") + c.ub[r];
  const thumb = c.thumb[r] >= 0 ? t.thumb[c.thumb[r]] : null;
  const source = c.src[r] >= 0 ? t.source[c.src[r]] : "";
  const collection = c.col[r] >= 0 ? t.collection[c.col[r]][1] : "";
  const names = c.ax[r] >= 0 ? model.axisNames[c.ax[r]] : [];
  const shape = c.shape[r] || [];
  const status = model.ix.statuses[c.st[r]];
  const kind = model.ix.kinds[c.kind[r]];
  const badges = [];
  if (status !== "ok") badges.push([status, status]);
  if (c.cors[r] === 0) badges.push(["nocors", "no CORS"]);
  if (kind !== "image" && kind !== "unknown") badges.push(["kind", kind]);
  if (c.ver[r] >= 0) badges.push(["version", `v${t.version[c.ver[r]]}`]);
  const validator = safeHref(url) ? validatorUrl(url) : null;
  const origin = safeHref(c.origin[r] || null);
  const thumbBox = thumb
    ? el("img", { src: thumb, elementtiming: "thumbnail", width: c.tw[r], height: c.th[r], alt: `Thumbnail of ${name}`, loading: "lazy", decoding: "async" })
    : placeholder(`No thumbnail for ${name}`);
  return el("article", { class: "card", "data-url": url, "data-id": id },
    el("div", { class: "card-thumb" }, thumbBox),
    el("div", { class: "card-body" },
      el("h3", { class: "card-title" }, el("a", { href: `datasets/${encodeURIComponent(id)}/` }, highlight(name, terms))),
      el("p", { class: "card-dims" }, shape.map((size, i) =>
        el("span", { class: "dim" }, el("span", { class: "dim-name" }, names[i] ?? `d${i}`), ` ${size}`))),
      el("p", { class: "card-source" }, el("span", { class: "src" }, source),
        collection ? [el("span", { class: "sep", "aria-hidden": "true" }, " › "), el("span", { class: "col" }, collection)] : null),
      el("p", { class: "badges" }, badges.map(([cls, text]) => el("span", { class: `badge badge-${cls}` }, text))),
      el("div", { class: "card-actions" },
        el("button", { type: "button", class: "copy", "data-copy": url, "aria-label": `Copy URL of ${name}` }, "Copy"),
        validator ? el("a", { class: "ext", href: validator, rel: "noopener noreferrer", "aria-label": `Validate ${name} in the OME-NGFF validator` }, "Validate") : null,
        origin ? el("a", { class: "ext", href: origin, rel: "noopener noreferrer", "aria-label": `Origin: original data page of ${name}` }, "Origin") : null,
      ),
    ),
  );
}

const SVG = "http://www.w3.org/2000/svg";
function svg(tag, attrs) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
}
function placeholder(label) {
  const icon = svg("svg", { width: "48", height: "48", viewBox: "0 0 24 24", "aria-hidden": "true", focusable: "false" });
  icon.append(
    svg("rect", { x: "3", y: "3", width: "18", height: "18", rx: "3", fill: "none", stroke: "currentColor", "stroke-width": "1.5" }),
    svg("circle", { cx: "9", cy: "9", r: "2", fill: "currentColor" }),
    svg("path", { d: "M4 18l5-5 4 4 3-3 4 4", fill: "none", stroke: "currentColor", "stroke-width": "1.5" }),
  );
  return el("span", { class: "thumb-placeholder", role: "img", "aria-label": label }, icon);
}

const FACET_LIMIT = 8;

function buildFacetsUI(model, onToggle) {
  // Collapsible so that on a phone the results stay on the first screen.
  const details = el("details", { class: "facets-details" });
  details.open = window.matchMedia("(min-width: 901px)").matches;
  const clear = el("button", { type: "button", class: "link-button", id: "clear-filters", hidden: true }, "Clear all");
  clear.addEventListener("click", () => onToggle(null));
  details.append(el("summary", { class: "facets-heading" }, "Filters"));
  facetsBox.replaceChildren(el("div", { class: "facets-head" }, details, clear));
  const box = details;
  for (const f of model.facets) {
    const order = [...f.labels.keys()].filter((i) => f.total[i] > 0).sort((a, b) => f.total[b] - f.total[a] || (f.labels[a] < f.labels[b] ? -1 : 1));
    if (f.key === "ndim") order.sort((a, b) => a - b);
    if (order.length === 0) continue;
    const list = el("ul", { class: "facet-list" });
    f.items = new Map();
    for (const i of order) {
      const box = el("input", { type: "checkbox", "data-facet": f.key, "data-value": f.keys[i] });
      box.addEventListener("change", () => onToggle(f, i, box.checked));
      const count = el("span", { class: "count" });
      const group = f.groups && f.groups[i] ? el("span", { class: "facet-group" }, f.groups[i]) : null;
      const li = el("li", {}, el("label", {}, box, el("span", { class: "facet-label" }, f.labels[i] || "(empty)", group), count));
      list.append(li);
      f.items.set(i, { li, box, count });
    }
    const fieldset = el("fieldset", { class: "facet", "data-facet": f.key }, el("legend", {}, f.label), list);
    if (order.length > FACET_LIMIT) {
      const more = el("button", { type: "button", class: "link-button more", "aria-expanded": "false" }, `Show all ${order.length}`);
      more.addEventListener("click", () => {
        const open = fieldset.classList.toggle("expanded");
        more.setAttribute("aria-expanded", String(open));
        more.textContent = open ? "Show fewer" : `Show all ${order.length}`;
      });
      fieldset.append(more);
    }
    box.append(fieldset);
  }
}

function updateFacetsUI(model) {
  let anySelected = false;
  for (const f of model.facets) {
    if (!f.items) continue;
    let shown = 0;
    for (const [i, item] of f.items) {
      const selected = !!f.selected[i];
      anySelected ||= selected;
      item.box.checked = selected;
      item.count.textContent = formatCount(f.counts[i]);
      const visible = selected || f.counts[i] > 0;
      item.li.hidden = !visible;
      if (visible) item.li.classList.toggle("overflow", ++shown > FACET_LIMIT && !selected);
    }
  }
  $("#clear-filters").hidden = !anySelected;
}

function renderPager(state, total) {
  const pages = Math.max(1, Math.ceil(total / PAGE_SIZE));
  pager.replaceChildren();
  if (pages <= 1) return;
  const link = (page, text, label) => {
    if (page < 1 || page > pages || page === state.page) {
      return el("span", { class: "pager-item disabled", "aria-disabled": "true" }, text);
    }
    return el("a", { class: "pager-item", href: writeQuery({ ...state, page }), "data-page": page, "aria-label": label }, text);
  };
  pager.append(
    link(1, "« First", "First page"),
    link(state.page - 1, "‹ Previous", "Previous page"),
    el("span", { class: "pager-status", "aria-current": "page" }, `Page ${formatCount(state.page)} of ${formatCount(pages)}`),
    link(state.page + 1, "Next ›", "Next page"),
    link(pages, "Last »", "Last page"),
  );
}

// ---------------------------------------------------------------- app

let model = null;
let state = readState();
let prerendered = results.dataset.prerendered !== undefined;

function applyStateToControls() {
  if (input.value !== state.q) input.value = state.q;
  sortSelect.value = state.sort && (SORTS[state.sort] || state.sort === "relevance") ? state.sort : "";
  const dir = currentDir();
  dirButton.textContent = dir === "asc" ? "↑" : "↓";
  dirButton.setAttribute("aria-label", `Sort direction: ${dir === "asc" ? "ascending" : "descending"}`);
  dirButton.disabled = !SORTS[state.sort];
  results.classList.toggle("list", state.view === "list");
  results.classList.toggle("grid", state.view !== "list");
  for (const b of document.querySelectorAll("[data-view]")) b.setAttribute("aria-pressed", String(b.dataset.view === state.view));
  for (const panel of document.querySelectorAll(".source-panel")) {
    panel.classList.toggle("active", (state.filters.source || []).includes(panel.dataset.source));
  }
}

function currentDir() {
  return state.dir || (SORTS[state.sort] ? SORTS[state.sort].dir : "desc");
}

function render() {
  applyStateToControls();
  if (!model) return;
  for (const f of model.facets) {
    f.selected.fill(0);
    for (const key of state.filters[f.key] || []) {
      const i = f.keyIndex.get(key);
      if (i !== undefined) f.selected[i] = 1;
    }
  }
  const found = !state.q ? null : model.index ? model.search(state.q) : model.scan(state.q);
  let rows;
  if (found && (!state.sort || state.sort === "relevance")) {
    rows = found.rows;
  } else if (SORTS[state.sort]) {
    const { present, missing } = model.order(state.sort);
    const ordered = new Int32Array(model.n);
    if (currentDir() === "asc") ordered.set(present);
    else for (let i = 0, m = present.length; i < m; i++) ordered[i] = present[m - 1 - i];
    ordered.set(missing, present.length);
    if (found) {
      const keep = new Uint8Array(model.n);
      for (const r of found.rows) keep[r] = 1;
      rows = ordered.filter((r) => keep[r]);
    } else rows = ordered;
  } else {
    rows = found ? found.rows : null;
  }
  if (!rows) {
    rows = model.identity ||= Int32Array.from({ length: model.n }, (_, i) => i);
  }
  const matching = model.filter(rows);
  updateFacetsUI(model);
  const pages = Math.max(1, Math.ceil(matching.length / PAGE_SIZE));
  if (state.page > pages) state.page = pages;
  const start = (state.page - 1) * PAGE_SIZE;
  const slice = matching.subarray(start, start + PAGE_SIZE);

  if (prerendered && isDefault(state)) {
    // The pre-rendered first page is current: keep its nodes (and loaded images).
  } else {
    prerendered = false;
    const terms = found ? found.terms.concat(found.all) : [];
    const frag = document.createDocumentFragment();
    for (const r of slice) frag.append(card(model, r, terms));
    results.replaceChildren(frag);
  }
  const filtered = matching.length !== model.n;
  let text = matching.length
    ? `Showing ${formatCount(start + 1)}–${formatCount(start + slice.length)} of ${formatCount(matching.length)} ${matching.length === 1 ? "dataset" : "datasets"}`
    : "No datasets match";
  if (filtered) text += ` (of ${formatCount(model.n)})`;
  if (state.q && !model.index) text += " · names and URLs only, while the search index loads";
  statusLine.textContent = text;
  results.setAttribute("aria-busy", "false");
  renderPager(state, matching.length);
}

function navigate(change, { replace = false } = {}) {
  state = { ...state, ...change };
  const url = writeQuery(state);
  if (replace) history.replaceState(null, "", url);
  else history.pushState(null, "", url);
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
for (const b of document.querySelectorAll("[data-view]")) {
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
for (const panel of document.querySelectorAll(".source-panel")) {
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
    buildFacetsUI(model, toggleFacet);
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
