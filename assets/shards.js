// The sharded search index: fetches only the files a query, a filter or a sort
// needs (their format is written down in generator/site/search_shards.py) and
// answers with a view: the candidate rows, their codes and, when a cut list
// knows them, exact totals. No DOM here.

const PREFIX_QUALITY = 0.5;
const FUZZY_QUALITY = 0.4;

/** Words as the index writer splits them: runs of letters and digits, lower-cased. */
export const getWords = (q) => q.toLowerCase().match(/[\p{L}\p{N}]+/gu) || [];

const hex = (s) => [...new TextEncoder().encode(s)].map((b) => b.toString(16).padStart(2, "0")).join("");

/** Edit distance of a and b if it is at most max, else max + 1. */
function distance(a, b, max) {
  if (Math.abs(a.length - b.length) > max) return max + 1;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    let best = i;
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
      best = Math.min(best, cur[j]);
    }
    if (best > max) return max + 1;
    prev = cur;
  }
  return prev[b.length];
}

export class ShardIndex {
  constructor(meta, base) {
    this.meta = meta;
    this.base = base;
    this.n = meta.n;
    this.files = new Map(); // path -> promise of the parsed document
    this.rowCodes = new Map(); // row -> Int32Array of its facet codes, then sort keys
    this.cards = new Map(); // row -> card array (search_shards.py)
    const digits = new Map([...meta.alphabet].map((c, i) => [c, i]));
    this.digits = digits;
    this.width = meta.widths.reduce((a, b) => a + b, 0);
  }

  load(path) {
    let p = this.files.get(path);
    if (!p) {
      p = fetch(this.base + path, { credentials: "same-origin" }).then((r) => {
        if (!r.ok) throw new Error(`${path}: HTTP ${r.status}`);
        return r.json();
      });
      p.then(() => { p.done = true; }, () => this.files.delete(path));
      this.files.set(path, p);
    }
    return p;
  }

  /** A list (``[df, rows, weights, codes, counts]``), decoded; row codes go to the cache. */
  decode(list) {
    if (list.decoded) return list.decoded;
    const [df, deltas, weights, codes, counts] = list;
    const m = deltas.length, rows = new Int32Array(m), width = this.width, widths = this.meta.widths;
    for (let i = 0, r = 0; i < m; i++) {
      r += deltas[i];
      rows[i] = r;
      if (this.rowCodes.has(r)) continue;
      const out = new Int32Array(widths.length);
      for (let k = 0, at = i * width; k < widths.length; k++) {
        let v = 0;
        for (let d = 0; d < widths[k]; d++) v = v * 64 + this.digits.get(codes[at++]);
        out[k] = v;
      }
      this.rowCodes.set(r, out);
    }
    list.decoded = { df, rows, weights: weights || null, counts: counts || null, cut: df > m };
    return list.decoded;
  }

  /** The term node whose lists answer `word` (walking down split nodes), or null. */
  async node(word) {
    let p = word[0];
    if (!this.meta.kids.includes(p)) return null;
    let node = await this.load(`search/t/${hex(p)}.json`);
    while (node.kids && p.length < word.length) {
      const c = word[p.length];
      if (!node.kids.includes(c)) return { node, p, partial: true };
      p += c;
      node = await this.load(`search/t/${hex(p)}.json`);
    }
    return { node, p, partial: false };
  }

  /** Row -> best score for `word` (exact, prefix or fuzzy), the words it matched, and whether a list was cut. */
  async matchWord(word) {
    const found = await this.node(word);
    const scores = new Map(), matched = [];
    let cut = false, single = null, lists = 0;
    if (!found) return { scores, matched, cut, single };
    const add = (list, quality) => {
      const l = this.decode(list);
      const idf = Math.log(1 + this.n / l.df);
      cut ||= l.cut;
      lists++;
      single = l;
      for (let i = 0; i < l.rows.length; i++) {
        const s = quality * idf * (l.weights ? l.weights[i] / 10 : 1);
        const r = l.rows[i];
        if (!(scores.get(r) >= s)) scores.set(r, s);
      }
    };
    const { node, partial } = found;
    const maxTypos = word.length > 3 ? Math.floor(word.length * 0.2) : 0;
    if (node.head && !partial) {
      // The head holds every row of any term under the prefix: the exact term's too.
      if (node.terms && node.terms[word]) add(node.terms[word], 1);
      add(node.head, PREFIX_QUALITY);
      lists = 1;
      matched.push(word);
    } else if (!node.head) {
      for (const [term, list] of Object.entries(node.terms)) {
        if (term === word) add(list, 1);
        else if (term.startsWith(word)) add(list, PREFIX_QUALITY * (word.length / term.length + 1) / 2);
        else if (maxTypos && distance(term, word, maxTypos) <= maxTypos) add(list, FUZZY_QUALITY);
        else continue;
        matched.push(term);
      }
    }
    return { scores, matched, cut, single: lists === 1 ? single : null };
  }

  /** Rows matching every word of `q`, best first, with the matched words. */
  async search(q) {
    const words = getWords(q);
    const per = await Promise.all(words.map((w) => this.matchWord(w)));
    let scores = null, cut = false;
    for (const m of per) {
      cut ||= m.cut;
      if (scores === null) { scores = m.scores; continue; }
      const next = new Map();
      for (const [r, s] of m.scores) if (scores.has(r)) next.set(r, scores.get(r) + s);
      scores = next;
    }
    const rows = Int32Array.from((scores || new Map()).keys()).sort();
    const ranked = Int32Array.from(rows).sort((a, b) => scores.get(b) - scores.get(a) || a - b);
    const single = per.length === 1 ? per[0].single : null;
    return { rows, ranked, cut, exact: single && single.cut ? single : null,
      terms: per.flatMap((m) => m.matched), all: words };
  }

  /** The rows of the selected facet values (OR within a facet, any facet), for a view without a query. */
  async browse(filters, sortKey, dir) {
    const paths = [];
    this.meta.facets.forEach((f, fi) => {
      for (const key of filters[f.key] || []) {
        const code = f.keys.indexOf(key);
        if (code >= 0 && f.total[code] > 0) paths.push(`search/f/${fi}-${code}.json`);
      }
    });
    const selected = Object.keys(filters).filter((k) => (filters[k] || []).length);
    if (!selected.length) {
      paths.push(sortKey ? `search/o/${sortKey}-${dir}.json` : "search/o/-.json");
    }
    const lists = (await Promise.all(paths.map((p) => this.load(p)))).map((l) => this.decode(l));
    const all = new Set();
    for (const l of lists) for (const r of l.rows) all.add(r);
    const rows = Int32Array.from(all).sort();
    const cut = lists.some((l) => l.cut);
    // Without filters every count is the catalog's; one cut value list knows its own.
    const exact = !selected.length ? { df: this.n, counts: null, whole: true }
      : lists.length === 1 && lists[0].cut ? lists[0] : null;
    return { rows, ranked: null, cut, exact, terms: [], all: [] };
  }

  /** Loads the cards of `rows`. */
  async loadCards(rows) {
    const size = this.meta.card_rows, chunks = new Set();
    for (const r of rows) if (!this.cards.has(r)) chunks.add(Math.floor(r / size));
    await Promise.all([...chunks].map(async (k) => {
      const chunk = await this.load(`search/r/${k}.json`);
      chunk.forEach((card, i) => this.cards.set(k * size + i, card));
    }));
  }

  /** What row r's card shows, as plain values (cards.js draws it). */
  card(r) {
    const [id, name, url, src, col, ax, shape, bd, thumb, tw, th, origin, link] = this.cards.get(r);
    const t = this.meta.t;
    const names = ax >= 0 ? t.axes[ax] : [];
    return {
      id, url, name,
      axes: (shape || []).map((size, i) => [names[i] ?? `d${i}`, String(size)]),
      source: src >= 0 ? t.source[src] : "",
      collection: col >= 0 ? t.collection[col][1] : null,
      badges: bd >= 0 ? t.badges[bd] : [],
      thumb: thumb ? { src: thumb, width: tw, height: th } : null,
      link: !!link,
      origin: origin || null,
    };
  }
}
