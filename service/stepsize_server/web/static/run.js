// A run page (#/runs/{id}, ?log=1 for a log scale): what the job registered and reported
// (GET /v1/runs/{id}), its current version's curve from the lr API with the lr it really
// applied over it, a marker at each amendment it adopted, and its mismatches and events.

import { api, schedulePath } from "./api.js";
import { defaultStop, formatLr } from "./chart.js";
import { RunChart } from "./runchart.js";
import { count, progressText, runPath, statusBadge, versionLinks } from "./runs.js";
import { ago, errorText, esc, hashParams, setHashParams } from "./util.js";

/** The run's binding as query parameters: total_steps (binds a template; the API ignores it
 * otherwise) and steps_per_epoch, as the run has them. */
function bindingQuery(run, extra = {}) {
  const query = new URLSearchParams(extra);
  if (run.total_steps !== null) query.set("total_steps", run.total_steps);
  if (run.steps_per_epoch !== null) query.set("steps_per_epoch", run.steps_per_epoch);
  return query;
}

/** The lr query parameters that pick the run's curve: its current version, bound as it is. */
const curveQuery = (run, extra = {}) => bindingQuery(run, { version: run.current_version, ...extra });

const MAX_LINKS = 100;

/** The `amends` links from `current` (the run's current version) back to the version the
 * run registered with, oldest first: [{version, amends, from_step}]. One request per link. */
async function amendsLinks(run, current) {
  const links = [];
  let version = current;
  while (version.version !== run.version && version.amends && links.length < MAX_LINKS) {
    const { version: amended, from_step: fromStep } = version.amends;
    links.unshift({ version: version.version, amends: amended, from_step: fromStep });
    if (amended === run.version) break;
    version = await api(`${schedulePath(run.schedule)}/versions/${amended}`);
  }
  return links;
}

/** The amendments the run adopted, oldest first: `links` (see amendsLinks) and any
 * amendment_adopted event beyond them (read as the client reports them: detail.version,
 * detail.previous, detail.from_step, else the event's step). Each with its event, if any. */
export function adoptedAmendments(run, links) {
  const adopted = run.events.filter((e) => e.kind === "amendment_adopted");
  const eventOf = (version) => adopted.find((e) => e.detail?.version === version) || null;
  const chain = links.map((link) => ({ ...link, event: eventOf(link.version) }));
  for (const event of adopted) {
    // The detail is the job's JSON: only whole numbers make a row (the events list shows all).
    const version = event.detail?.version;
    const fromStep = event.detail?.from_step ?? event.step;
    if (!Number.isInteger(version) || !Number.isInteger(fromStep)) continue;
    if (chain.some((a) => a.version === version)) continue;
    const previous = Number.isInteger(event.detail?.previous) ? event.detail.previous : null;
    chain.push({ version, amends: previous, from_step: fromStep, event });
  }
  return chain;
}

/** first_mismatch and every mismatch event (one row when they are the same), by step. */
export function mismatchRows(run) {
  const rows = [];
  const first = run.first_mismatch;
  if (first) rows.push({ ...first, first: true, at: null });
  for (const event of run.events.filter((e) => e.kind === "mismatch")) {
    const d = event.detail || {};
    const step = event.step ?? (Number.isInteger(d.step) ? d.step : null);
    if (first && step === first.step && (d.group ?? null) === (first.group ?? null)) {
      rows[0].at = event.at;
      continue;
    }
    rows.push({ step, expected: d.expected, observed: d.observed, group: d.group, cause: d.cause, at: event.at });
  }
  return rows.sort((a, b) => a.step - b.step);
}

export async function renderRun(view, id) {
  view.innerHTML = '<p class="muted">loading…</p>';
  const params = hashParams();
  const log = params.get("log") === "1";
  let run, current, lineage, links;
  try {
    run = await api(runPath(id));
    const path = schedulePath(run.schedule);
    [current, lineage] = await Promise.all([
      api(`${path}/versions/${run.current_version}?${bindingQuery(run)}`),
      api(`${path}/versions/${run.current_version}/amendments?limit=1`),
    ]);
    links = await amendsLinks(run, current);
  } catch (error) {
    view.innerHTML = `<p class="bad" id="load-error">${esc(errorText(error))}</p>`;
    return;
  }
  const ref = run.schedule;
  const amendments = adoptedAmendments(run, links);
  const mismatches = mismatchRows(run);
  if (view.isConnected) document.title = `run ${run.id} · ${ref} · stepsize`;
  view.innerHTML = `
    <section class="card">
      <h2 id="title">run <code>${esc(run.id)}</code> ${statusBadge(run)}</h2>
      <p><a id="schedule-link" href="#/s/${esc(ref)}">← ${esc(ref)}</a>
        <span class="muted"> · started ${ago(run.started_at)} on ${esc(run.host)}</span></p>
      <div class="row controls">
        <label><input type="checkbox" id="log" ${log ? "checked" : ""}> log scale</label>
        <button id="refresh">refresh</button>
      </div>
      <div id="chart" style="margin-top:8px"></div>
      <div id="readout" class="readout muted"></div>
      <p class="muted">the line: v${run.current_version}'s learning rate (the registry's); dots: the lr the
        job applied at ${count(run.points.length)} sampled updates (${count(run.observed)} checked in all), red: mismatches;
        dashed: amendments adopted · drag to zoom, double-click to reset</p>
    </section>
    <div class="cols">
      <section class="card"><h3>Run</h3>${factsTable(run, current)}</section>
      <div>
        <section class="card"><h3>Mismatches</h3>${mismatchTable(run, mismatches)}</section>
        <section class="card"><h3>Amendments adopted</h3>${amendmentTable(ref, amendments)}${newerAmendment(ref, run, lineage.latest)}</section>
      </div>
    </div>
    <section class="card"><h3>Events <span class="muted">(${count(run.events.length)})</span></h3>${eventTable(run)}</section>`;
  view.querySelector("#log").onchange = (e) => {
    if (e.target.checked) params.set("log", "1");
    else params.delete("log");
    setHashParams(params);
    renderRun(view, id);
  };
  view.querySelector("#refresh").onclick = () => renderRun(view, id);
  await drawRunChart(view, run, current, amendments, mismatches, log);
}

async function drawRunChart(view, run, current, amendments, mismatches, log) {
  const path = `${schedulePath(run.schedule)}/lr`;
  const observed = run.points.map(([step, lr]) => ({ step, lr }));
  // A mismatch event's detail is the job's JSON: only a step with a number is drawn.
  const drawn = mismatches.filter((m) => Number.isInteger(m.step) && Number.isFinite(m.observed));
  const reported = [...new Set([...observed.map((p) => p.step), ...drawn.map((m) => m.step)])];
  const last = reported.reduce((a, b) => Math.max(a, b), run.progress ?? -1);
  const stop = run.total_steps !== null
    ? Math.max(run.total_steps, last + 1) + 1
    : last >= 0 ? Math.max(10, last + 2) : defaultStop(current.horizon);
  try {
    // The API's value at every reported step, so the hover compares it exactly.
    const expected = new Map();
    if (reported.length) {
      const answer = await api(`${path}?${curveQuery(run)}`, { method: "POST", body: { steps: reported } });
      answer.steps.forEach((step, i) => expected.set(step, answer.lr[i]));
    }
    const chart = new RunChart(view.querySelector("#chart"), view.querySelector("#readout"), {
      label: `v${run.current_version}`,
      log,
      stop,
      observed,
      mismatches: drawn,
      expected,
      markers: amendments.map((a) => ({ step: a.from_step, label: `v${a.version} from step ${a.from_step}` })),
      load: async (start, end, stride) => {
        const answer = await api(`${path}?${curveQuery(run, { start, stop: end, stride })}`);
        return { steps: answer.lr.map((_, i) => start + i * stride), series: [answer.lr] };
      },
    });
    await chart.draw();
    chart.showReadout(null);
  } catch (error) {
    view.querySelector("#chart").innerHTML = `<p class="bad" id="chart-error">${esc(errorText(error))}</p>`;
  }
}

function factsTable(run, current) {
  const ref = run.schedule;
  const facts = [
    ["schedule", `<a href="#/s/${esc(ref)}">${esc(ref)}</a>`],
    ["version", `${versionLinks(ref, run)}${run.current_version === run.version ? "" : ' <span class="muted">(amended)</span>'}`],
    ["digest", `<code>${esc(run.digest)}</code>${run.template_digest ? `<br><span class="muted">template</span> <code>${esc(run.template_digest)}</code>` : ""}`],
    ["current digest", `<code>${esc(current.bound?.digest ?? current.digest)}</code>`],
    ["framework", esc(run.framework)],
    ["host", `${esc(run.host)}${run.pid !== null ? ` <span class="muted">pid ${run.pid}</span>` : ""}`],
    ["world size", count(run.world_size)],
    ["follows amendments", run.follow ? "yes" : "no"],
    ["status", statusBadge(run)],
    ["live", run.live ? "yes" : "no"],
    ["progress", esc(progressText(run))],
    ["total steps", count(run.total_steps)],
    ["steps per epoch", count(run.steps_per_epoch)],
    ["heartbeats", count(run.heartbeats)],
    ["last seen", ago(run.last_seen_at)],
    ["started", ago(run.started_at)],
    ["registered", `${ago(run.registered_at)} by ${esc(run.actor)}`],
    ["observed", `${count(run.observed)} updates checked`],
    ["mismatches", `<span class="${run.mismatches > 0 ? "bad" : ""}">${count(run.mismatches)}</span>`],
    ["report failures", count(run.report_failures)],
    ["client", esc(run.client_version ?? "–")],
  ];
  const key = (name) => name.replace(/ /g, "-");
  return `<table class="facts" id="facts"><tbody>${facts.map(([name, value]) =>
    `<tr data-fact="${key(name)}"><th>${name}</th><td>${value}</td></tr>`).join("")}</tbody></table>`;
}

function mismatchTable(run, rows) {
  if (!rows.length) {
    const checked = run.observed ? `${count(run.observed)} updates checked, every one on the curve` : "no update checked yet";
    return `<p class="muted" id="no-mismatches">none: ${checked}</p>`;
  }
  return `<table id="mismatch-table"><thead><tr><th>step</th><th>expected</th><th>observed</th><th>group</th><th>cause</th></tr></thead>
    <tbody>${rows.map((m) => `<tr data-step="${esc(m.step)}" ${m.first ? 'class="first"' : ""}>
      <td>${esc(m.step ?? "–")}${m.first ? ' <span class="tag">first</span>' : ""}</td>
      <td>${esc(formatLr(m.expected))}</td><td class="bad">${esc(formatLr(m.observed))}</td>
      <td>${esc(m.group ?? "–")}</td><td>${esc(m.cause ?? "–")}</td></tr>`).join("")}</tbody></table>
    ${run.mismatches > rows.length ? `<p class="muted">${count(run.mismatches)} mismatched updates in all; the first and the reported ones are listed</p>` : ""}`;
}

/** When the job switched: its amendment_adopted event's time and detail.after_update (the
 * update after which it switched; the event's step is the from_step). */
function adoptedWhen(event) {
  if (!event) return '<span class="muted">(no event reported)</span>';
  const after = event.detail?.after_update;
  return `${ago(event.at)}${Number.isInteger(after) ? ` after update ${after}` : ""}`;
}

function amendmentTable(ref, amendments) {
  if (!amendments.length) return '<p class="muted" id="no-amendments">none: the run is on the version it registered with</p>';
  const link = (v) => (v === null || v === undefined ? "–" : `<a href="#/s/${esc(ref)}@${v}">v${v}</a>`);
  return `<table id="amendment-table"><thead><tr><th>version</th><th>amends</th><th>from step</th><th>adopted</th></tr></thead>
    <tbody>${amendments.map((a) => `<tr data-version="${a.version}">
      <td>${link(a.version)}</td><td>${link(a.amends)}</td><td class="from-step">${a.from_step}</td>
      <td>${adoptedWhen(a.event)}</td></tr>`).join("")}</tbody></table>`;
}

/** The newest amendment of the run's current version, which it has not adopted (yet). */
function newerAmendment(ref, run, latest) {
  if (!latest) return "";
  let why = "not adopted: the run does not follow amendments";
  if (run.follow) why = run.status === "running" ? "not adopted yet" : `not adopted: the run ${esc(run.status)}`;
  return `<p id="newer-amendment">Newer: <a href="#/s/${esc(ref)}@${latest.version}">v${latest.version}</a>,
    equal to v${run.current_version} before step ${latest.from_step} <span class="muted">(${why})</span></p>`;
}

function eventTable(run) {
  if (!run.events.length) return '<p class="muted" id="no-events">no events reported</p>';
  return `<table id="event-table"><thead><tr><th>when</th><th>kind</th><th>step</th><th>detail</th></tr></thead>
    <tbody>${run.events.map((e) => `<tr data-kind="${esc(e.kind)}">
      <td>${ago(e.at)}</td><td>${esc(e.kind)}</td><td>${e.step ?? "–"}</td>
      <td><code>${esc(JSON.stringify(e.detail))}</code></td></tr>`).join("")}</tbody></table>`;
}
