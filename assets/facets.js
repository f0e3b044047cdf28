// The filter panel and the pager. The panel keeps what it last showed and
// touches only the counts and rows that change: a keystroke repaints little.
import { el, formatCount } from "./dom.js";

const FACET_LIMIT = 8;

export class FacetsView {
  /** Builds the panel into `box` for the model's facets; `onToggle(facet, i, checked)`, or (null) to clear. */
  constructor(box, model, onToggle) {
    // Collapsible so that on a phone the results stay on the first screen.
    const details = el("details", { class: "facets-details" });
    details.open = window.matchMedia("(min-width: 901px)").matches;
    this.clear = el("button", { type: "button", class: "link-button", id: "clear-filters", hidden: true }, "Clear all");
    this.clear.addEventListener("click", () => onToggle(null));
    details.append(el("summary", { class: "facets-heading" }, "Filters"));
    box.replaceChildren(el("div", { class: "facets-head" }, details, this.clear));
    this.items = new Map(); // facet key -> items in display order
    for (const f of model.facets) {
      const order = [...f.labels.keys()].filter((i) => f.total[i] > 0);
      if (f.order !== "value") order.sort((a, b) => f.total[b] - f.total[a] || (f.labels[a] < f.labels[b] ? -1 : 1));
      if (order.length === 0) continue;
      details.append(this.fieldset(f, order, onToggle));
    }
  }

  fieldset(f, order, onToggle) {
    const list = el("ul", { class: "facet-list" });
    const items = [];
    for (const i of order) {
      const box = el("input", { type: "checkbox", "data-facet": f.key, "data-value": f.keys[i] });
      box.addEventListener("change", () => onToggle(f, i, box.checked));
      const count = el("span", { class: "count" });
      const group = f.groups && f.groups[i] ? el("span", { class: "facet-group" }, f.groups[i]) : null;
      const li = el("li", {}, el("label", {}, box, el("span", { class: "facet-label" }, f.labels[i] || "(empty)", group), count));
      list.append(li);
      // Shown state starts unknown, so the first update writes everything.
      items.push({ i, li, box, count, shownCount: -1, visible: null, overflow: null });
    }
    this.items.set(f.key, items);
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
    return fieldset;
  }

  /** Shows the model's current counts and selection, writing only what changed. */
  update(model) {
    let anySelected = false;
    for (const f of model.facets) {
      const items = this.items.get(f.key);
      if (!items) continue;
      let shown = 0;
      for (const item of items) {
        const selected = !!f.selected[item.i];
        const count = f.counts[item.i];
        anySelected ||= selected;
        if (item.box.checked !== selected) item.box.checked = selected;
        if (item.shownCount !== count) { item.count.textContent = formatCount(count); item.shownCount = count; }
        const visible = selected || count > 0;
        if (item.visible !== visible) { item.li.hidden = !visible; item.visible = visible; }
        if (!visible) continue;
        const overflow = ++shown > FACET_LIMIT && !selected;
        if (item.overflow !== overflow) { item.li.classList.toggle("overflow", overflow); item.overflow = overflow; }
      }
    }
    if (this.clear.hidden === anySelected) this.clear.hidden = !anySelected;
  }
}

/** The pager for `pages` pages; `href(page)` links to one. Returns a key of what it shows. */
export function renderPager(pager, page, pages, href, shown) {
  const key = pages <= 1 ? "" : `${page}/${pages}/${href(page)}`;
  if (key === shown) return key;
  pager.replaceChildren();
  if (pages <= 1) return key;
  const link = (to, text, label) => {
    if (to < 1 || to > pages || to === page) {
      return el("span", { class: "pager-item disabled", "aria-disabled": "true" }, text);
    }
    return el("a", { class: "pager-item", href: href(to), "data-page": to, "aria-label": label }, text);
  };
  pager.append(
    link(1, "« First", "First page"),
    link(page - 1, "‹ Previous", "Previous page"),
    el("span", { class: "pager-status", "aria-current": "page" }, `Page ${formatCount(page)} of ${formatCount(pages)}`),
    link(page + 1, "Next ›", "Next page"),
    link(pages, "Last »", "Last page"),
  );
  return key;
}
