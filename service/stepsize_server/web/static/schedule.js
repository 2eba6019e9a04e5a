// A schedule page (#/s/ns/name or #/s/ns/name@3): its curve, its runs, version history, a
// second version overlaid (?vs=2), the definition, and snippets. Options are in the hash, so
// every view is a deep link: ?log=1, ?x=epochs&spe=500, ?stop=20000.

import { api, apiBlob, schedulePath } from "./api.js";
import { CurveChart, defaultStop } from "./chart.js";
import { renderRunsList } from "./runs.js";
import { snippets } from "./snippets.js";
import { ago, errorText, esc, hashParams, setHashParams, wireCopyButtons } from "./util.js";

async function lrRange(ref, version, start, stop, stride, spe) {
  const query = new URLSearchParams({ version, start, stop, stride });
  if (spe) query.set("steps_per_epoch", spe);
  const answer = await api(`${schedulePath(ref)}/lr?${query}`);
  return answer.lr;
}

export async function renderSchedule(view, ref, pinned) {
  view.innerHTML = '<p class="muted">loading…</p>';
  const params = hashParams();
  let summary, versions;
  try {
    [summary, versions] = await Promise.all([
      api(schedulePath(ref)),
      api(`${schedulePath(ref)}/versions?limit=500`),
    ]);
  } catch (error) {
    view.innerHTML = `<p class="bad" id="load-error">${esc(errorText(error))}</p>`;
    return;
  }
  const version = pinned || summary.latest_version;
  const compare = params.get("vs") ? Number(params.get("vs")) : null;
  const spe = params.get("spe") ? Number(params.get("spe")) : null;
  const epochs = params.get("x") === "epochs" && spe;
  const log = params.get("log") === "1";
  let current;
  try {
    current = await api(`${schedulePath(ref)}/versions/${version}${spe ? `?steps_per_epoch=${spe}` : ""}`);
  } catch (error) {
    view.innerHTML = `<p class="bad" id="load-error">${esc(errorText(error))}</p>`;
    return;
  }
  const tagsOf = (v) => Object.entries(summary.tags).filter(([, n]) => n === v).map(([t]) => t);
  const fullRef = `${ref}@${version}`;
  view.innerHTML = `
    <section class="card">
      <h2 id="title">${esc(ref)} <span class="muted">@${version}</span>
        ${summary.archived ? '<span class="tag">archived</span>' : ""}</h2>
      <p>${Object.entries(summary.tags).map(([t, n]) => `<a class="tag" href="#/s/${esc(ref)}@${n}">${esc(t)} → ${n}</a>`).join("") || '<span class="muted">no tags</span>'}
        <span class="muted"> · ${summary.version_count} versions · last change ${ago(summary.updated_at)}</span></p>
      <div class="row controls">
        <label><input type="checkbox" id="log" ${log ? "checked" : ""}> log scale</label>
        <label>x axis <select id="x-unit"><option value="steps">steps</option>
          <option value="epochs" ${epochs ? "selected" : ""}>epochs</option></select></label>
        <label>steps per epoch <input id="spe" type="number" min="1" size="7" value="${spe || ""}"></label>
        <label>up to step <input id="stop" type="number" min="2" size="9" value="${esc(params.get("stop") || "")}"></label>
        <label>overlay version <select id="compare"><option value="">none</option>
          ${versions.items.filter((v) => v.version !== version).map((v) =>
            `<option value="${v.version}" ${v.version === compare ? "selected" : ""}>v${v.version}</option>`).join("")}</select></label>
        <button id="svg">open plot.svg</button>
      </div>
      <div id="chart" style="margin-top:8px"></div>
      <div id="readout" class="readout muted"></div>
      <p class="muted">digest <code>${esc(current.digest)}</code> · horizon ${current.horizon ?? "none"} ·
        by ${esc(current.author)} ${ago(current.created_at)} · drag to zoom, double-click to reset</p>
    </section>
    <section class="card"><h3>Runs</h3><div id="runs"><p class="muted">loading…</p></div></section>
    <div class="cols">
      <section class="card"><h3>Versions</h3>
        <table id="versions"><thead><tr><th>version</th><th>tags</th><th>author</th><th>when</th><th>description</th><th></th></tr></thead>
        <tbody>${versions.items.map((v) => `<tr data-version="${v.version}" ${v.version === version ? 'style="background:#eff6ff"' : ""}>
          <td><a href="#/s/${esc(ref)}@${v.version}">v${v.version}</a></td>
          <td>${tagsOf(v.version).map((t) => `<span class="tag">${esc(t)}</span>`).join("")}</td>
          <td>${esc(v.author)}</td><td>${ago(v.created_at)}</td>
          <td>${esc(v.description || "")}</td>
          <td>${v.version === version ? "" : `<button class="overlay" data-version="${v.version}">overlay</button>`}</td></tr>`).join("")}
        </tbody></table>
        ${versions.next_cursor ? '<p class="muted">only the newest 500 versions are listed</p>' : ""}
      </section>
      <section class="card"><h3>Definition <span class="muted">(normalized)</span></h3>
        <pre id="definition">${esc(JSON.stringify(current.definition, null, 2))}</pre>
        <p><a href="#/playground?from=${encodeURIComponent(fullRef)}">edit a copy in the playground</a></p>
      </section>
    </div>
    <section class="card"><h3>Use it</h3>${snippets(fullRef)}</section>`;
  wireCopyButtons(view);
  const runsListed = renderRunsList(view.querySelector("#runs"), ref);

  const update = (key, value) => {
    if (value === null || value === "" || value === false) params.delete(key);
    else params.set(key, value);
    setHashParams(params);
    renderSchedule(view, ref, pinned);
  };
  view.querySelector("#log").onchange = (e) => update("log", e.target.checked ? "1" : null);
  view.querySelector("#x-unit").onchange = (e) => update("x", e.target.value === "epochs" ? "epochs" : null);
  view.querySelector("#spe").onchange = (e) => update("spe", e.target.value);
  view.querySelector("#stop").onchange = (e) => update("stop", e.target.value);
  view.querySelector("#compare").onchange = (e) => update("vs", e.target.value);
  view.querySelectorAll("button.overlay").forEach((b) => (b.onclick = () => update("vs", b.dataset.version)));
  view.querySelector("#svg").onclick = async () => {
    const query = new URLSearchParams({ version });
    if (log) query.set("log", "true");
    if (spe) query.set("steps_per_epoch", spe);
    const blob = await apiBlob(`${schedulePath(ref)}/plot.svg?${query}`);
    window.open(URL.createObjectURL(blob), "_blank");
  };

  let stop = params.get("stop") ? Number(params.get("stop")) : defaultStop(current.horizon);
  const shown = [version];
  if (compare) {
    shown.push(compare);
    if (!params.get("stop")) {
      try {
        const other = await api(`${schedulePath(ref)}/versions/${compare}${spe ? `?steps_per_epoch=${spe}` : ""}`);
        stop = Math.max(stop, defaultStop(other.horizon));
      } catch (error) {
        view.querySelector("#readout").innerHTML = `<span class="bad">${esc(errorText(error))}</span>`;
      }
    }
  }
  const chart = new CurveChart(view.querySelector("#chart"), view.querySelector("#readout"), {
    labels: shown.map((v) => `v${v}`),
    log,
    stepsPerEpoch: epochs ? spe : null,
    stop,
    load: async (start, end, stride) => {
      const series = await Promise.all(shown.map((v) => lrRange(ref, v, start, end, stride, spe)));
      const steps = series[0].map((_, i) => start + i * stride);
      return { steps, series };
    },
  });
  try {
    await chart.draw();
    chart.showReadout(null);
  } catch (error) {
    view.querySelector("#chart").innerHTML = `<p class="bad" id="chart-error">${esc(errorText(error))}</p>`;
  }
  await runsListed;
}
