// A schedule's runs (GET /v1/runs?schedule=ns/name, newest first) as listed on its schedule
// page, and the formatting of a run that the list and the run page share.

import { api } from "./api.js";
import { ago, errorText, esc } from "./util.js";

const LIMIT = 100;

export const runPath = (id) => `/v1/runs/${encodeURIComponent(id)}`;

/** 12,345 (a dash for none). */
export const count = (n) => (n === null || n === undefined ? "–" : Number(n).toLocaleString("en-US"));

/** The run's status as a badge: running and live, running but not seen lately (stale),
 * finished, failed. */
export function statusBadge(run) {
  const running = run.status === "running";
  const kind = running ? (run.live ? "live" : "stale") : run.status;
  const text = running ? (run.live ? "running · live" : "running · not seen lately") : run.status;
  return `<span class="status ${esc(kind)}" data-status="${esc(run.status)}" data-live="${run.live}">${esc(text)}</span>`;
}

/** "4,999 / 10,000 (50%)": the last update seen of total_steps (updates 0 to progress are
 * done); the progress alone without total_steps; "no update yet" before the first. */
export function progressText(run) {
  if (run.progress === null || run.progress === undefined) {
    return `no update yet${run.total_steps ? ` / ${count(run.total_steps)}` : ""}`;
  }
  if (!run.total_steps) return count(run.progress);
  const percent = Math.floor((1000 * (run.progress + 1)) / run.total_steps) / 10;
  return `${count(run.progress)} / ${count(run.total_steps)} (${percent}%)`;
}

/** "v2", or "v2 → v4" for a run that moved to an amendment, each a link to its version. */
export function versionLinks(ref, run) {
  const link = (v) => `<a href="#/s/${esc(ref)}@${v}">v${v}</a>`;
  return run.current_version === run.version
    ? link(run.version)
    : `${link(run.version)} → ${link(run.current_version)}`;
}

/** Fill `el` with the runs of `ref` (a table, or a sentence when there are none). */
export async function renderRunsList(el, ref) {
  let page;
  try {
    page = await api(`/v1/runs?${new URLSearchParams({ schedule: ref, limit: LIMIT })}`);
  } catch (error) {
    el.innerHTML = `<p class="bad" id="runs-error">${esc(errorText(error))}</p>`;
    return;
  }
  if (!page.items.length) {
    el.innerHTML = `<p class="muted" id="no-runs">No runs of this schedule yet. A job that builds it with
      the stepsize client registers one (unless <code>STEPSIZE_REGISTER_RUNS=0</code>).</p>`;
    return;
  }
  const rows = page.items.map((run) => `<tr data-run="${esc(run.id)}">
      <td><a class="run-link" href="#/runs/${esc(run.id)}"><code>${esc(run.id)}</code></a></td>
      <td class="version">${versionLinks(ref, run)}</td>
      <td>${statusBadge(run)}</td>
      <td class="progress">${esc(progressText(run))}</td>
      <td class="${run.mismatches > 0 ? "mismatches bad" : "mismatches"}">${count(run.mismatches)}</td>
      <td>${esc(run.host)}</td>
      <td>${ago(run.started_at)}</td></tr>`);
  el.innerHTML = `<table id="run-table">
    <thead><tr><th>run</th><th>version</th><th>status</th><th>progress</th><th>mismatches</th><th>host</th><th>started</th></tr></thead>
    <tbody>${rows.join("")}</tbody></table>
    ${page.next_cursor ? `<p class="muted">the newest ${LIMIT} runs are listed</p>` : ""}`;
}
