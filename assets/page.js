// Detail, report and about pages: copy buttons; "/" jumps to the search page.
import { wireCopyButtons } from "./dom.js";

wireCopyButtons();
document.addEventListener("keydown", (event) => {
  if (event.key !== "/" || event.target instanceof HTMLInputElement || event.target instanceof HTMLTextAreaElement) return;
  const home = document.querySelector("a.brand");
  if (home) { event.preventDefault(); window.location.href = home.getAttribute("href") + "#q"; }
});
