// The playground (#/playground, or ?from=ns/name@3 to start from a stored version): edit
// a definition, see its validation errors (with their JSON pointers) and its curve as
// you type (POST /v1/validate, /v1/evaluate), then publish it with a token.

import { ApiError, api, definitionPointer, getToken, schedulePath } from "./api.js";
import { CurveChart, defaultStop } from "./chart.js";
import { debounce, errorText, esc, hashParams } from "./util.js";

// The page being shown: every lookup goes through it, so an answer that arrives after
// the user has moved on writes into the old (detached) page, never into the new one.
let root = document;
const $ = (selector) => root.querySelector(selector);

let seq = 0;
const DRAFT_KEY = "stepsize.draft";
const DRAFT_FIELDS = ["#pub-namespace", "#pub-name", "#pub-description", "#spe"];
const STARTER = {
  type: "warmup",
  steps: 500,
  schedule: { type: "cosine", start: 0.001, end: 0.00001, steps: 9500 },
};

export async function renderPlayground(view) {
  root = view;
  seq += 1;
  const from = hashParams().get("from");
  view.innerHTML = `
    <div class="cols">
      <section class="card">
        <h2>Playground</h2>
        <div class="row controls">
          <label>start from <select id="example"><option value="">an example of a type…</option></select></label>
          <label>steps per epoch <input id="spe" type="number" min="1" size="7"></label>
        </div>
        <textarea id="editor" spellcheck="false" aria-label="definition (JSON)"></textarea>
        <p id="status" class="muted"></p>
        <ul id="errors"></ul>
      </section>
      <section class="card">
        <div id="chart"></div>
        <div id="readout" class="readout muted"></div>
        <p id="meta" class="muted"></p>
        <ul id="warnings"></ul>
        <h3>Publish</h3>
        <div class="row controls">
          <input id="pub-namespace" type="text" placeholder="namespace" size="12">
          <input id="pub-name" type="text" placeholder="name" size="16">
          <input id="pub-description" type="text" placeholder="description (optional)" size="28">
          <button id="publish">publish</button>
        </div>
        <p id="publish-result"></p>
      </section>
    </div>`;
  const editor = $("#editor");
  editor.value = JSON.stringify(STARTER, null, 2);
  if (from) await startFrom(editor, from);
  else restoreDraft(editor);
  loadExamples(editor);
  const check = debounce(() => checkDefinition(editor.value), 250);
  editor.addEventListener("input", check);
  $("#spe").addEventListener("input", check);
  // The draft outlives a reload or a new token (kept for this tab, like the token).
  view.addEventListener("input", () => saveDraft(editor));
  $("#publish").onclick = () => publish(editor.value);
  await checkDefinition(editor.value);
}

function saveDraft(editor) {
  const fields = Object.fromEntries(DRAFT_FIELDS.map((id) => [id, $(id).value]));
  sessionStorage.setItem(DRAFT_KEY, JSON.stringify({ text: editor.value, fields }));
}

function restoreDraft(editor) {
  try {
    const draft = JSON.parse(sessionStorage.getItem(DRAFT_KEY) || "null");
    if (!draft) return;
    editor.value = draft.text;
    for (const [id, value] of Object.entries(draft.fields || {})) if ($(id)) $(id).value = value;
  } catch {
    sessionStorage.removeItem(DRAFT_KEY);
  }
}

async function startFrom(editor, ref) {
  const [path, version] = ref.split("@");
  try {
    const stored = await api(`${schedulePath(path)}/versions/${Number(version)}`);
    editor.value = JSON.stringify(stored.definition, null, 2);
    const [namespace, name] = path.split("/");
    $("#pub-namespace").value = namespace;
    $("#pub-name").value = name;
  } catch (error) {
    $("#status").innerHTML = `<span class="bad">${esc(errorText(error))}</span>`;
  }
}

async function loadExamples(editor) {
  const select = $("#example");
  try {
    const catalog = await api("/v1/types");
    select.innerHTML += catalog.types
      .map((t, i) => `<option value="${i}">${esc(t.type)}: ${esc(t.summary)}</option>`).join("");
    select.onchange = () => {
      if (select.value === "") return;
      editor.value = JSON.stringify(catalog.types[Number(select.value)].example, null, 2);
      editor.dispatchEvent(new Event("input"));
    };
  } catch {
    // The catalog only feeds the examples menu; the editor works without it.
  }
}

/** Validate, then draw; a later edit wins over an earlier answer still in flight. */
async function checkDefinition(text) {
  const mine = ++seq;
  const status = $("#status");
  const errors = $("#errors");
  let definition;
  try {
    definition = JSON.parse(text);
  } catch (error) {
    status.innerHTML = `<span class="bad">not JSON: ${esc(error.message)}</span>`;
    errors.innerHTML = "";
    clearCurve();
    return;
  }
  let checked;
  try {
    checked = await api("/v1/validate", { method: "POST", body: { definition } });
  } catch (error) {
    if (mine !== seq) return;
    showProblem(error);
    return;
  }
  if (mine !== seq) return;
  errors.innerHTML = "";
  status.innerHTML = '<span id="valid">valid</span>';
  $("#meta").innerHTML = `digest <code>${esc(checked.digest)}</code> · horizon ${checked.horizon ?? "none"}`;
  $("#warnings").innerHTML = checked.warnings.map((w) => `<li class="warning">${esc(w)}</li>`).join("");
  await drawCurve(definition, checked.horizon, mine);
}

function showProblem(error) {
  const status = $("#status");
  const errors = $("#errors");
  if (!(error instanceof ApiError) || error.status !== 422) {
    status.innerHTML = `<span class="bad">${esc(errorText(error))}</span>`;
    errors.innerHTML = "";
    return;
  }
  status.innerHTML = `<span class="bad" id="invalid">invalid: ${esc(error.message)}</span>`;
  clearCurve();
  const items = error.problem.errors || [];
  errors.innerHTML = items.map((e) => {
    const pointer = definitionPointer(e.path);
    return `<li class="error" data-pointer="${esc(pointer)}"><code class="pointer">${esc(pointer)}</code> ${esc(e.message)}</li>`;
  }).join("");
}

/** No curve, digest or warnings for a definition that has none. */
function clearCurve() {
  $("#chart").innerHTML = '<p class="muted">no curve until the definition is valid</p>';
  delete $("#chart").dataset.ready;
  $("#readout").textContent = "";
  $("#meta").innerHTML = "";
  $("#warnings").innerHTML = "";
}

async function drawCurve(definition, horizon, mine) {
  if (mine !== seq) return;
  const spe = Number($("#spe").value) || null;
  const chart = new CurveChart($("#chart"), $("#readout"), {
    labels: ["lr"],
    stop: defaultStop(horizon),
    load: async (start, stop, stride) => {
      const body = { definition, start, stop, stride };
      if (spe) body.steps_per_epoch = spe;
      const answer = await api("/v1/evaluate", { method: "POST", body });
      return { steps: answer.lr.map((_, i) => start + i * stride), series: [answer.lr] };
    },
  });
  try {
    await chart.draw();
    chart.showReadout(null);
  } catch (error) {
    if (mine === seq) showProblem(error);
  }
}

async function publish(text) {
  const result = $("#publish-result");
  const namespace = $("#pub-namespace").value.trim();
  const name = $("#pub-name").value.trim();
  if (!namespace || !name) {
    result.innerHTML = '<span class="bad">give a namespace and a name</span>';
    return;
  }
  if (!getToken()) {
    result.innerHTML = '<span class="bad">publishing needs a token with write access: paste it into the token field above</span>';
    return;
  }
  let definition;
  try {
    definition = JSON.parse(text);
  } catch (error) {
    result.innerHTML = `<span class="bad">not JSON: ${esc(error.message)}</span>`;
    return;
  }
  const body = { definition };
  const description = $("#pub-description").value.trim();
  if (description) body.description = description;
  try {
    const ref = `${namespace}/${name}`;
    const made = await api(`${schedulePath(ref)}/versions`, { method: "POST", body });
    result.innerHTML = `<span id="published">published <a href="#/s/${esc(ref)}@${made.version}">${esc(ref)}@${made.version}</a></span>
      <span class="muted">${esc(made.digest)}</span>`;
  } catch (error) {
    const detail = error.problem?.errors?.map((e) => `${definitionPointer(e.path)}: ${e.message}`).join("; ");
    result.innerHTML = `<span class="bad">${esc(errorText(error))}${detail ? ` (${esc(detail)})` : ""}</span>`;
  }
}
