// The web UI's router: #/ (registry), #/s/ns/name[@version] (a schedule), #/runs/{id} (a
// run), #/playground.
// The token field keeps its value in sessionStorage (see api.js).

import { getToken, setToken } from "./api.js";
import { renderPlayground } from "./playground.js";
import { renderRegistry } from "./registry.js";
import { renderRun } from "./run.js";
import { renderSchedule } from "./schedule.js";
import { $, esc } from "./util.js";

const SCHEDULE = /^#\/s\/([a-z0-9._-]+)\/([a-z0-9._-]+)(?:@(\d+))?$/;
const RUN = /^#\/runs\/([A-Za-z0-9_-]{1,64})$/;

function route() {
  // A fresh element per page: answers still in flight for the previous page land in the
  // detached old one.
  const view = document.createElement("main");
  view.id = "view";
  $("#view").replaceWith(view);
  const hash = (location.hash || "#/").split("?")[0];
  const match = SCHEDULE.exec(hash);
  const run = RUN.exec(hash);
  // The nav names the registry and the playground; a schedule or a run page is neither.
  const section = hash === "#/playground" ? "playground" : match || run ? "" : "registry";
  document.querySelectorAll("header nav a[data-nav]").forEach((a) =>
    a.classList.toggle("on", a.dataset.nav === section));
  if (match) {
    document.title = `${match[1]}/${match[2]}${match[3] ? "@" + match[3] : ""} · stepsize`;
    return renderSchedule(view, `${match[1]}/${match[2]}`, match[3] ? Number(match[3]) : null);
  }
  if (run) {
    document.title = `run ${run[1]} · stepsize`;
    return renderRun(view, run[1]);
  }
  if (hash === "#/playground") {
    document.title = "playground · stepsize";
    return renderPlayground(view);
  }
  if (hash === "#/" || hash === "#" || hash === "") {
    document.title = "stepsize";
    return renderRegistry(view);
  }
  view.innerHTML = `<p class="bad">No page at ${esc(hash)}. <a href="#/">The registry</a>.</p>`;
  return null;
}

function showTokenState() {
  $("#token").value = getToken();
  $("#token-state").textContent = getToken() ? "token set" : "no token";
}

$("#token-form").onsubmit = (event) => {
  event.preventDefault();
  setToken($("#token").value.trim());
  showTokenState();
  route();
};
$("#token-clear").onclick = () => {
  setToken("");
  showTokenState();
  route();
};
window.addEventListener("hashchange", route);
showTokenState();
route();
