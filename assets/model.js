// The catalog as data: facets, sorts, search and filtering over the columns of
// index.json (its contract is written down in generator/site/search_index.py).
// No DOM here: the page's views read the model and draw.
import MiniSearch from "./vendor/minisearch-7.2.0.js";

function makeFacet(ix, def) {
  const col = ix.c[def.col], n = ix.n, size = def.keys.length;
  // A negative code (value absent) counts under the last entry, "not stated".
  const codes = new Int32Array(n);
  for (let i = 0; i < n; i++) codes[i] = col[i] < 0 ? size - 1 : col[i];
  const total = new Int32Array(size);
  for (let i = 0; i < n; i++) total[codes[i]]++;
  return {
    key: def.key, label: def.label, keys: def.keys, labels: def.labels, groups: def.groups || null,
    order: def.order, codes, total,
    selected: new Uint8Array(size), counts: new Int32Array(size),
    keyIndex: new Map(def.keys.map((k, i) => [k, i])),
  };
}

const tokenize = (q) => MiniSearch.getDefault("tokenize")(q).map((w) => w.toLowerCase()).filter(Boolean);

export class Model {
  constructor(ix) {
    this.ix = ix;
    this.n = ix.n;
    this.c = ix.c;
    this.t = ix.t;
    this.facets = ix.facets.map((def) => makeFacet(ix, def));
    this.sorts = new Map(ix.sorts.map((s) => [s.key, s]));
    this.nolink = new Set(ix.nolink);
    this.orders = new Map();
    this.scores = new Float64Array(this.n);
    this.hits = new Int32Array(this.n);
    this.index = null;
  }

  /** The sort definition of `key` if it orders by a column (it has a default direction). */
  columnSort(key) {
    const s = this.sorts.get(key);
    return s && s.dir ? s : null;
  }

  sortKey(def) {
    const c = this.c, n = this.n;
    const out = new Float64Array(n).fill(-1);
    if (def.cols) {
      const cols = def.cols.map((name) => c[name]);
      for (let i = 0; i < n; i++) {
        for (const col of cols) if (col[i] >= 0) { out[i] = col[i]; break; }
      }
    } else if (def.axis) {
      const at = this.t.axes.map((names) => names.indexOf(def.axis));
      for (let i = 0; i < n; i++) {
        const k = c.ax[i] >= 0 ? at[c.ax[i]] : -1;
        if (k >= 0 && c.shape[i]) out[i] = c.shape[i][k];
      }
    }
    return out;
  }

  /** Rows in ascending order of a column sort: {present, missing}, cached per key. */
  order(key) {
    let cached = this.orders.get(key);
    if (cached) return cached;
    const def = this.columnSort(key);
    const rows = Array.from({ length: this.n }, (_, i) => i);
    let present, missing;
    if (def.text) {
      const text = this.c[def.text].map((s) => s.toLowerCase());
      rows.sort((a, b) => (text[a] < text[b] ? -1 : text[a] > text[b] ? 1 : a - b));
      present = rows; missing = [];
    } else {
      const k = this.sortKey(def);
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
    const terms = tokenize(q);
    if (!terms.length) return null;
    const { c } = this;
    this.scanText ||= Array.from({ length: this.n }, (_, i) => `${c.name[i]} ${this.url(i)}`.toLowerCase());
    const rows = [];
    for (let i = 0; i < this.n; i++) {
      const text = this.scanText[i];
      if (terms.every((term) => text.includes(term))) rows.push(i);
    }
    return { rows: Int32Array.from(rows), terms: [], all: terms };
  }

  /** Rows matching every query term (prefix + fuzzy, any field), best first, and the matched terms. */
  search(q) {
    const terms = tokenize(q);
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

  /** Select the facet values named by `filters` ({key: [values]}). */
  select(filters) {
    for (const f of this.facets) {
      f.selected.fill(0);
      for (const key of filters[f.key] || []) {
        const i = f.keyIndex.get(key);
        if (i !== undefined) f.selected[i] = 1;
      }
    }
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

  url(r) {
    const c = this.c;
    return (c.up[r] >= 0 ? this.t.prefix[c.up[r]] : "") + c.ub[r];
  }

  /** What row r's card shows, as plain values (cards.js draws it). */
  card(r) {
    const c = this.c, t = this.t;
    const names = c.ax[r] >= 0 ? t.axes[c.ax[r]] : [];
    return {
      id: c.id[r],
      url: this.url(r),
      name: c.name[r],
      axes: (c.shape[r] || []).map((size, i) => [names[i] ?? `d${i}`, String(size)]),
      source: c.src[r] >= 0 ? t.source[c.src[r]] : "",
      collection: c.col[r] >= 0 ? t.collection[c.col[r]][1] : null,
      badges: c.bd[r] >= 0 ? t.badges[c.bd[r]] : [],
      thumb: c.thumb[r] >= 0 ? { src: t.thumb[c.thumb[r]], width: c.tw[r], height: c.th[r] } : null,
      link: !this.nolink.has(r),
      origin: c.origin[r] || null,
    };
  }
}
