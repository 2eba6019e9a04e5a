// The registry page: namespaces, search, tag filter, and every schedule with its tags,
// latest version and last change. Filters live in the hash (#/?namespace=vision&q=res).

import { api } from "./api.js";
import { ago, debounce, errorText, esc, hashParams, setHashParams } from "./util.js";

const PAGE = 500;

async function allSchedules(filters) {
  const items = [];
  let cursor = null;
  do {
    const query = new URLSearchParams({ limit: PAGE, ...filters });
    if (cursor) query.set("cursor", cursor);
    const page = await api(`/v1/schedules?${query}`);
    items.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor && items.length < 10 * PAGE);
  return items;
}

export async function renderRegistry(view) {
  const params = hashParams();
  view.innerHTML = `
    <section class="card">
      <h2>Schedules</h2>
      <div class="row controls">
        <input id="search" type="search" placeholder="search namespace/name" value="${esc(params.get("q") || "")}" size="30">
        <label>tag <input id="tag-filter" type="text" placeholder="e.g. prod" value="${esc(params.get("tag") || "")}" size="10"></label>
      </div>
      <p id="namespaces" style="margin-top:10px"></p>
      <div id="schedules"><p class="muted">loading…</p></div>
    </section>`;
  const refresh = async () => {
    const filters = {};
    for (const key of ["namespace", "q", "tag"]) if (params.get(key)) filters[key] = params.get(key);
    setHashParams(params);
    try {
      const [everything, shown] = await Promise.all([allSchedules({}), allSchedules(filters)]);
      renderNamespaces(view, everything, params.get("namespace"), (ns) => {
        if (ns) params.set("namespace", ns);
        else params.delete("namespace");
        refresh();
      });
      renderTable(view, shown);
    } catch (error) {
      view.querySelector("#schedules").innerHTML = `<p class="bad" id="load-error">${esc(errorText(error))}</p>`;
    }
  };
  const filter = (key) => debounce((event) => {
    const value = event.target.value.trim();
    if (value) params.set(key, value);
    else params.delete(key);
    refresh();
  }, 200);
  view.querySelector("#search").oninput = filter("q");
  view.querySelector("#tag-filter").oninput = filter("tag");
  await refresh();
}

function renderNamespaces(view, items, current, choose) {
  const counts = new Map();
  for (const s of items) counts.set(s.namespace, (counts.get(s.namespace) || 0) + 1);
  const chip = (ns, label) =>
    `<button class="chip ${ns === (current || "") ? "on" : ""}" data-ns="${esc(ns)}">${label}</button>`;
  view.querySelector("#namespaces").innerHTML = chip("", `all namespaces (${items.length})`) +
    [...counts].map(([ns, n]) => chip(ns, `${esc(ns)} (${n})`)).join("");
  view.querySelector("#namespaces").querySelectorAll("button").forEach((b) => (b.onclick = () => choose(b.dataset.ns)));
}

function renderTable(view, items) {
  if (!items.length) {
    view.querySelector("#schedules").innerHTML =
      '<p class="muted" id="empty">No schedules match. An empty registry? Run <code>stepsize-server load-demo</code>, or publish one from the <a href="#/playground">playground</a>.</p>';
    return;
  }
  const rows = items.map((s) => {
    const ref = `${s.namespace}/${s.name}`;
    const tags = Object.entries(s.tags)
      .map(([tag, v]) => `<a class="tag" href="#/s/${esc(ref)}@${v}">${esc(tag)} → ${v}</a>`)
      .join("");
    return `<tr data-ref="${esc(ref)}">
      <td><span class="muted">${esc(s.namespace)}/</span><a class="schedule-link" href="#/s/${esc(ref)}"><b>${esc(s.name)}</b></a></td>
      <td><a href="#/s/${esc(ref)}@${s.latest_version}">v${s.latest_version}</a></td>
      <td>${tags || '<span class="muted">–</span>'}</td>
      <td>${s.version_count}</td>
      <td>${ago(s.updated_at)}</td></tr>`;
  });
  view.querySelector("#schedules").innerHTML = `<table id="schedule-table">
    <thead><tr><th>schedule</th><th>latest</th><th>tags</th><th>versions</th><th>last change</th></tr></thead>
    <tbody>${rows.join("")}</tbody></table>`;
}
