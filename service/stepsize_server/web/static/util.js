// Small DOM and formatting helpers shared by the pages.

export const $ = (selector, root = document) => root.querySelector(selector);

const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
export const esc = (value) => String(value ?? "").replace(/[&<>"']/g, (c) => ESCAPES[c]);

export function debounce(fn, ms) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

/** "3 hours ago" for an ISO time, with the exact time in a tooltip. */
export function ago(iso) {
  const seconds = (Date.now() - Date.parse(iso)) / 1000;
  const units = [["year", 31536000], ["day", 86400], ["hour", 3600], ["minute", 60]];
  let text = "just now";
  for (const [unit, size] of units) {
    if (seconds >= size) {
      const n = Math.floor(seconds / size);
      text = `${n} ${unit}${n > 1 ? "s" : ""} ago`;
      break;
    }
  }
  return `<time datetime="${esc(iso)}" title="${esc(iso)}">${text}</time>`;
}

/** The page's query parameters, after the "?" of the hash (#/s/ns/name?log=1). */
export function hashParams() {
  const hash = location.hash || "#/";
  const at = hash.indexOf("?");
  return new URLSearchParams(at < 0 ? "" : hash.slice(at + 1));
}

/** Replace the hash's query (a deep link to the current view) without re-rendering. */
export function setHashParams(params) {
  const hash = location.hash || "#/";
  const base = hash.split("?")[0];
  const query = params.toString();
  history.replaceState(null, "", base + (query ? "?" + query : ""));
}

/** A message for an error from api(): 401s ask for a token. */
export function errorText(error) {
  if (error.status === 401) {
    return "This registry needs a token (public reads are off, or the token is wrong): " +
      "paste one into the token field above.";
  }
  if (error.status === 403) return `Not allowed with this token: ${error.message}`;
  if (error instanceof TypeError) return "The server cannot be reached.";
  return error.message;
}

/** Copy buttons: any button with data-copy="#id" copies that element's text. */
export function wireCopyButtons(root) {
  root.querySelectorAll("button[data-copy]").forEach((button) => {
    button.onclick = async () => {
      const text = $(button.dataset.copy, root).textContent;
      try {
        await navigator.clipboard.writeText(text);
        button.textContent = "copied";
      } catch {
        const range = document.createRange();
        range.selectNodeContents($(button.dataset.copy, root));
        getSelection().removeAllRanges();
        getSelection().addRange(range);
        button.textContent = "selected: Ctrl+C";
      }
      setTimeout(() => (button.textContent = "copy"), 1500);
    };
  });
}
