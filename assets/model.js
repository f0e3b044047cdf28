// The catalog as data: facets with live counts, sorts and filtering over a
// view, the candidate rows the sharded index answered with (shards.js; its
// format is written down in generator/site/search_shards.py). No DOM here:
// the page's views read the model and draw.

const NO_KEY = 4095; // a sort key the row does not have

function makeFacet(def) {
  const size = def.keys.length;
  return {
    key: def.key, label: def.label, keys: def.keys, labels: def.labels, groups: def.groups || null,
    order: def.order, total: Int32Array.from(def.total),
    codes: new Int32Array(0), selected: new Uint8Array(size), counts: new Int32Array(size),
    keyIndex: new Map(def.keys.map((k, i) => [k, i])),
  };
}

export class Model {
  constructor(meta) {
    this.n = meta.n;
    this.facets = meta.facets.map(makeFacet);
    this.sorts = new Map(meta.sorts.map((s) => [s.key, s]));
    this.sortCols = new Map(meta.sort_cols.map((k, i) => [k, meta.facets.length + i]));
    this.view = null;
  }

  /** The sort definition of `key` if it orders by a column (it has a default direction). */
  columnSort(key) {
    const s = this.sorts.get(key);
    return s && s.dir ? s : null;
  }

  /** Shows `view` ({rows (ascending), ranked?, cut, exact?}); `codes(row)` gives a row's codes. */
  setView(view, codes) {
    const m = view.rows.length;
    this.view = view;
    this.m = m;
    this.rowCodes = view.rows.length ? Array.from(view.rows, codes) : [];
    this.facets.forEach((f, k) => {
      f.codes = new Int32Array(m);
      for (let i = 0; i < m; i++) f.codes[i] = this.rowCodes[i][k];
    });
    this.orders = new Map();
    const local = new Map(Array.from(view.rows, (r, i) => [r, i]));
    this.ranked = view.ranked ? Int32Array.from(view.ranked, (r) => local.get(r)) : null;
    this.identity = Int32Array.from({ length: m }, (_, i) => i);
  }

  /** View positions in ascending order of a column sort: {present, missing}, cached per key. */
  order(key) {
    let cached = this.orders.get(key);
    if (cached) return cached;
    const at = this.sortCols.get(key), rows = this.view.rows, codes = this.rowCodes;
    const present = [], missing = [];
    for (let i = 0; i < this.m; i++) (codes[i][at] === NO_KEY ? missing : present).push(i);
    present.sort((a, b) => codes[a][at] - codes[b][at] || rows[a] - rows[b]);
    cached = { present: Int32Array.from(present), missing: Int32Array.from(missing) };
    this.orders.set(key, cached);
    return cached;
  }

  /** View positions in display order, before facet filtering. */
  rows(sortKey, dir) {
    if (this.ranked && (!sortKey || sortKey === "relevance")) return this.ranked;
    if (!this.columnSort(sortKey)) return this.ranked || this.identity;
    const { present, missing } = this.order(sortKey);
    const ordered = new Int32Array(this.m);
    if (dir === "asc") ordered.set(present);
    else for (let i = 0, m = present.length; i < m; i++) ordered[i] = present[m - 1 - i];
    ordered.set(missing, present.length);
    return ordered;
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

  /** Filter view positions `rows` by the selected facets and count every facet's values. */
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
    this.exactCounts(active);
    return out.subarray(0, m);
  }

  /** Counts the view cannot know from its rows: a lone filter's own facet
   * counts the whole catalog; where the view was cut, its one list's exact
   * counts replace the counts of the part it holds. */
  exactCounts(active) {
    const { exact, ranked } = this.view;
    if (!ranked && active.length === 1) active[0].counts.set(active[0].total);
    if (!exact || (active.length && ranked)) return;
    this.facets.forEach((f, k) => {
      if (exact.whole) f.counts.set(f.total);
      else if (exact.counts && !(active.includes(f) && !ranked)) {
        f.counts.fill(0);
        const pairs = exact.counts[k];
        for (let i = 0; i < pairs.length; i += 2) f.counts[pairs[i]] = pairs[i + 1];
      }
    });
  }

  /** The whole catalog, in catalog order: every count is the total. */
  showWhole() {
    for (const f of this.facets) { f.selected.fill(0); f.counts.set(f.total); }
  }

  /** The number of matching rows if known exactly, else null (the view holds a part of them). */
  total(matching) {
    const { exact, cut, ranked } = this.view;
    const filtered = this.facets.some((f) => f.selected.some((x) => x));
    if (!cut) return matching;
    if (exact && exact.whole && !filtered) return this.n;
    if (exact && !(filtered && ranked) && !exact.whole) return exact.df;
    return null;
  }
}
