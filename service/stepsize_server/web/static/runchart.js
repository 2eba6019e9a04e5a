// The run page's chart: the registered curve (a line, from the lr API) with the lr the job
// really applied drawn over it as points, its mismatches as red points, and a vertical
// marker at each adopted amendment's from_step. Hovering near a point reads out its step,
// the API's value there and the observed one; elsewhere, the curve.

import { CurveChart, formatLr } from "./chart.js";
import { esc } from "./util.js";

const NEAR_PX = 8;
const CURVE = "#2563eb";
const OBSERVED = "#111827";
const MISMATCH = "#dc2626";

/** Index of the value of sorted `values` nearest to `x` (values not empty). */
function nearestIndex(values, x) {
  let lo = 0;
  let hi = values.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (values[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo > 0 && x - values[lo - 1] < values[lo] - x ? lo - 1 : lo;
}

export class RunChart extends CurveChart {
  /**
   * load, stop, log: as CurveChart (one series: the run's current version). label: its name.
   * observed: [{step, lr}], the points the job reported; mismatches: [{step, observed}]
   * (numbers);
   * expected: Map step -> the API's value at every step of both (drawn on the curve);
   * markers: [{step, label}], one vertical line each.
   */
  constructor(container, readout, { label, observed, mismatches, expected, markers, ...options }) {
    super(container, readout, { ...options, labels: [label] });
    this.observed = new Map(observed.map((p) => [p.step, p.lr]));
    this.mismatched = new Map(mismatches.map((m) => [m.step, m.observed]));
    this.expected = expected;
    this.markers = markers;
    this.pointSteps = [...new Set([...this.observed.keys(), ...this.mismatched.keys()])].sort((a, b) => a - b);
    this.pointXs = this.pointSteps.map((s) => this.toX(s));
    this.merged = null;
  }

  /** The curve's grid and every reported step on one x axis: [x, curve, observed, mismatches]. */
  data(curve) {
    const values = new Map(this.expected);
    curve.steps.forEach((step, i) => values.set(step, curve.series[0][i]));
    const steps = [...values.keys()].sort((a, b) => a - b);
    const at = (map) => steps.map((s) => (map.has(s) ? map.get(s) : null));
    this.merged = {
      steps,
      index: new Map(steps.map((s, i) => [s, i])),
      expected: at(values),
      observed: at(this.observed),
      mismatched: at(this.mismatched),
    };
    const shown = (ys) => (this.log ? ys.map((v) => (v > 0 ? v : null)) : ys);
    const { expected, observed, mismatched } = this.merged;
    return [steps.map((s) => this.toX(s)), shown(expected), shown(observed), shown(mismatched)];
  }

  options() {
    const options = super.options();
    const dots = (stroke, size) => ({
      stroke,
      paths: () => null,
      points: { show: true, size, stroke, fill: stroke },
    });
    options.series = [
      options.series[0],
      { ...options.series[1], stroke: CURVE, spanGaps: true },
      // Thousands of points would hide the curve under them at the usual size.
      { label: "observed", ...dots(OBSERVED, this.observed.size > 1000 ? 2.5 : 5) },
      { label: "mismatch", ...dots(MISMATCH, 9) },
    ];
    options.hooks.draw = [(u) => this.placeMarkers(u)];
    return options;
  }

  /** The nearest reported point within NEAR_PX of the cursor: its index in `merged`, or null. */
  nearPoint() {
    const left = this.plot?.cursor.left;
    if (!this.pointSteps.length || left === undefined || left < 0) return null;
    const x = this.plot.posToVal(left, "x");
    const step = this.pointSteps[nearestIndex(this.pointXs, x)];
    const distance = Math.abs(this.plot.valToPos(this.toX(step), "x") - left);
    return distance <= NEAR_PX ? this.merged.index.get(step) : null;
  }

  /** The hovered step, the API's value there and, at a reported point, the observed lr;
   * also as data-step, data-expected, data-observed (and data-mismatch) for the tests. */
  showReadout(idx) {
    const el = this.readout;
    for (const key of ["step", "expected", "observed", "mismatch"]) delete el.dataset[key];
    if (idx === null || idx === undefined || !this.merged) {
      el.textContent = "hover the curve: step, the registry's value and, at a point, the lr the job applied";
      return;
    }
    const i = this.nearPoint() ?? idx;
    const m = this.merged;
    const step = m.steps[i];
    const observed = m.mismatched[i] ?? m.observed[i];
    const parts = [`step ${step}`, `<span style="color:${CURVE}">expected ${formatLr(m.expected[i])}</span>`];
    el.dataset.step = String(step);
    el.dataset.expected = formatLr(m.expected[i]);
    if (observed !== null) {
      const bad = m.mismatched[i] !== null;
      parts.push(`<span style="color:${bad ? MISMATCH : OBSERVED}">observed ${formatLr(observed)}${bad ? " (mismatch)" : ""}</span>`);
      el.dataset.observed = formatLr(observed);
      if (bad) el.dataset.mismatch = "1";
    }
    el.innerHTML = parts.join("  ·  ");
  }

  /** One vertical line per marker, kept at its step as the chart zooms (a uPlot draw hook). */
  placeMarkers(u) {
    if (!this.markerEls || this.markerEls[0]?.parentNode !== u.over) {
      this.markerEls = this.markers.map((marker) => {
        const el = document.createElement("div");
        el.className = "marker";
        el.dataset.step = String(marker.step);
        el.title = marker.label;
        el.innerHTML = `<span>${esc(marker.label)}</span>`;
        u.over.appendChild(el);
        return el;
      });
    }
    this.markers.forEach((marker, i) => {
      const left = u.valToPos(this.toX(marker.step), "x");
      const el = this.markerEls[i];
      el.style.left = `${left}px`;
      el.hidden = !(left >= 0 && left <= u.over.clientWidth);
    });
  }
}
