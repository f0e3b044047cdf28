// The one path by which values reach the page: element builders that set
// textContent and attributes, never markup. Harvested metadata is untrusted.

/** Build an element. `attrs` values are set with setAttribute (never event handlers);
 * children are nodes or strings (strings become text nodes). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) throw new Error("event handler attributes are not allowed");
    if (key === "class") node.className = value;
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  append(node, children);
  return node;
}

export function append(node, children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** The validator's link for a dataset URL, quoted as Python's quote(url, safe="") does (RFC 3986). */
export function validatorUrl(url) {
  const quoted = encodeURIComponent(url).replace(/[!'()*]/g, (ch) => `%${ch.charCodeAt(0).toString(16).toUpperCase()}`);
  return "https://ome.github.io/ome-ngff-validator/?source=" + quoted;
}

const numberFormat = new Intl.NumberFormat("en-US");
export const formatCount = (n) => numberFormat.format(n);

/** Text with the given lower-case terms wrapped in <mark>, built from text nodes. */
export function highlight(text, terms) {
  const frag = document.createDocumentFragment();
  const lower = text.toLowerCase();
  if (!terms.length || lower.length !== text.length) {
    frag.append(document.createTextNode(text));
    return frag;
  }
  const marks = new Uint8Array(text.length);
  for (const term of terms) {
    if (!term) continue;
    for (let i = lower.indexOf(term); i !== -1; i = lower.indexOf(term, i + term.length)) {
      marks.fill(1, i, i + term.length);
    }
  }
  let start = 0;
  for (let i = 1; i <= text.length; i++) {
    if (i === text.length || marks[i] !== marks[start]) {
      const piece = text.slice(start, i);
      frag.append(marks[start] ? el("mark", {}, piece) : document.createTextNode(piece));
      start = i;
    }
  }
  return frag;
}

async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    // Clipboard API refused (permissions, insecure context): select-and-copy instead.
    const area = el("textarea", { class: "offscreen", "aria-hidden": "true" });
    area.value = text;
    document.body.append(area);
    area.select();
    const ok = document.execCommand("copy");
    area.remove();
    return ok;
  }
}

/** One delegated handler for every copy button: data-copy holds the text,
 * data-copy-from names the element whose text to copy. */
export function wireCopyButtons(root = document) {
  root.addEventListener("click", async (event) => {
    const button = event.target.closest("button.copy");
    if (!button) return;
    const from = button.dataset.copyFrom;
    const text = from ? document.getElementById(from)?.textContent ?? "" : button.dataset.copy ?? "";
    const ok = await copyText(text);
    const label = button.dataset.label || button.textContent;
    button.dataset.label = label;
    button.dataset.copied = ok ? "true" : "false";
    button.textContent = ok ? "Copied" : "Copy failed";
    clearTimeout(button._timer);
    button._timer = setTimeout(() => { button.textContent = label; delete button.dataset.copied; }, 1800);
  });
}

/** "/" focuses the search box (unless typing in a field already). */
export function wireSlashKey(input) {
  document.addEventListener("keydown", (event) => {
    if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey) return;
    const target = event.target;
    if (target instanceof HTMLInputElement || target instanceof HTMLTextAreaElement || target instanceof HTMLSelectElement || target?.isContentEditable) return;
    event.preventDefault();
    input.focus();
    input.select();
  });
}
