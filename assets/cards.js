// A result card, cloned from the <template> index.html carries (rendered by the
// same macro as the pre-rendered cards) and filled with textContent and
// attributes only: harvested metadata never becomes markup.
import { highlight, validatorUrl } from "./dom.js";

/** Clones `template`'s card for `card` (Model.card's plain values); `terms` are highlighted in the name. */
export function makeCard(template, card, terms) {
  const node = template.cloneNode(true);
  const name = card.name;
  node.dataset.url = card.url;
  node.dataset.id = card.id;
  const [thumbBox, body] = node.children;
  const [img, placeholder] = thumbBox.children;
  if (card.thumb) {
    img.setAttribute("src", card.thumb.src);
    img.setAttribute("width", card.thumb.width);
    img.setAttribute("height", card.thumb.height);
    img.setAttribute("alt", `Thumbnail of ${name}`);
    placeholder.remove();
  } else {
    img.remove();
    placeholder.setAttribute("aria-label", `No thumbnail for ${name}`);
  }
  const [title, dims, where, badges, actions] = body.children;
  title.firstElementChild.setAttribute("href", `datasets/${encodeURIComponent(card.id)}/`);
  title.firstElementChild.replaceChildren(highlight(name, terms));
  fill(dims, card.axes, (dim, [axis, size]) => {
    dim.firstChild.textContent = axis;
    dim.lastChild.data = ` ${size}`;
  });
  const [source, sep, collection] = where.children;
  source.textContent = card.source;
  if (card.collection === null) { sep.remove(); collection.remove(); } else collection.textContent = card.collection;
  fill(badges, card.badges, (badge, [cls, text]) => {
    badge.className = `badge badge-${cls}`;
    badge.textContent = text;
  });
  const [copy, validate, origin] = actions.children;
  copy.dataset.copy = card.url;
  copy.setAttribute("aria-label", `Copy URL of ${name}`);
  if (card.link) {
    validate.setAttribute("href", validatorUrl(card.url));
    validate.setAttribute("aria-label", `Validate ${name} in the OME-NGFF validator`);
  } else validate.remove();
  if (card.origin) {
    origin.setAttribute("href", card.origin);
    origin.setAttribute("aria-label", `Origin: original data page of ${name}`);
  } else origin.remove();
  return node;
}

/** Replaces `box`'s one prototype child by a filled clone per item. */
function fill(box, items, set) {
  const proto = box.firstElementChild;
  for (const item of items) {
    const node = proto.cloneNode(true);
    set(node, item);
    box.append(node);
  }
  proto.remove();
}
