// A learning-rate chart on uPlot (vendored, global `uPlot`): hover readout of step and
// lr, drag to zoom (double-click resets), log y axis, x in steps or epochs. Zooming
// fetches the visible range again at a finer stride, so the readout shows exact steps.

const POINTS = 2000;
const COLORS = ["#2563eb", "#ea580c", "#16a34a"];

/** Steps [start, stop) sampled at no more than POINTS points: {start, stop, stride}. */
export function span(start, stop) {
  const stride = Math.max(1, Math.ceil((stop - start) / POINTS));
  return { start, stop, stride };
}

/** The x-axis extent for a schedule with `horizon` (null: never constant). */
export function defaultStop(horizon) {
  return horizon ? Math.max(10, Math.ceil(horizon * 1.1) + 1) : 10000;
}

export const formatLr = (v) => (v === null || v === undefined ? "–" : String(v));

export class CurveChart {
  /**
   * container: an element; readout: the element that shows the hovered values.
   * load(start, stop, stride): Promise of {steps: [...], series: [[lr...], ...]}.
   * labels: one per series; log: log10 y axis; stepsPerEpoch: x in epochs when set.
   */
  constructor(container, readout, { load, labels, log = false, stepsPerEpoch = null, stop }) {
    this.container = container;
    this.readout = readout;
    this.load = load;
    this.labels = labels;
    this.log = log;
    this.spe = stepsPerEpoch;
    this.stop = stop;
    this.base = null;
    this.shown = null;
    this.requested = null;
    this.seq = 0;
  }

  /** Fetch the whole range and draw. Rejects with the load error. */
  async draw() {
    const range = span(0, this.stop);
    this.base = await this.load(range.start, range.stop, range.stride);
    this.baseStride = range.stride;
    this.shown = this.base;
    this.container.innerHTML = "";
    this.plot = new uPlot(this.options(), this.data(this.base), this.container);
    // State for people and tests alike: what the chart shows right now.
    this.container.dataset.scale = this.log ? "log" : "linear";
    this.container.dataset.unit = this.spe ? "epochs" : "steps";
    this.container.dataset.stride = String(range.stride);
    this.container.dataset.ready = "1";
    this.container.plot = this.plot; // the uPlot itself: its data for the tests and the console
    window.addEventListener("resize", () => this.plot.setSize(this.size()));
  }

  size() {
    return { width: Math.max(320, this.container.clientWidth || 720), height: 340 };
  }

  toX(step) {
    return this.spe ? step / this.spe : step;
  }

  data(curve) {
    const xs = curve.steps.map((s) => this.toX(s));
    // A log axis has no place for 0: those points become gaps.
    const ys = curve.series.map((lr) => (this.log ? lr.map((v) => (v > 0 ? v : null)) : lr));
    return [xs, ...ys];
  }

  options() {
    const unit = this.spe ? "epoch" : "step";
    return {
      ...this.size(),
      scales: {
        x: { time: false },
        y: this.log
          ? { distr: 3, log: 10 }
          : { range: (u, min, max) => [Math.min(0, min), max > 0 ? max * 1.05 : 1] },
      },
      axes: [
        { label: unit },
        { label: "learning rate", size: 76, values: (u, splits) => splits.map((v) => (v === null ? "" : `${+v.toPrecision(6)}`)) },
      ],
      series: [
        { label: unit },
        ...this.labels.map((label, i) => ({
          label,
          stroke: COLORS[i % COLORS.length],
          width: 1.5,
          dash: i ? [6, 4] : undefined,
          points: { show: false },
        })),
      ],
      cursor: { drag: { x: true, y: false } },
      legend: { show: false },
      hooks: {
        setCursor: [(u) => this.showReadout(u.cursor.idx)],
        setScale: [(u, key) => key === "x" && this.refine(u.scales.x.min, u.scales.x.max)],
      },
    };
  }

  /** The hovered point of every series, also as data-* attributes (the browser tests
   * read them). */
  showReadout(idx) {
    const el = this.readout;
    if (idx === null || idx === undefined || !this.shown) {
      el.textContent = "hover the curve: step and learning rate";
      delete el.dataset.step;
      return;
    }
    const step = this.shown.steps[idx];
    const values = this.shown.series.map((lr) => lr[idx]);
    const where = this.spe ? `step ${step} (epoch ${+(step / this.spe).toFixed(3)})` : `step ${step}`;
    el.innerHTML = [
      where,
      ...values.map((v, i) =>
        `<span style="color:${COLORS[i % COLORS.length]}">${this.labels[i]}: lr ${formatLr(v)}</span>`),
    ].join("  ·  ");
    el.dataset.step = String(step);
    values.forEach((v, i) => (el.dataset[i ? `lr${i + 1}` : "lr"] = formatLr(v)));
  }

  /** After a zoom: fetch the visible steps at a finer stride and splice them into the
   * whole-range data (so a reset still shows everything). */
  async refine(xMin, xMax) {
    if (!this.base || xMin === null || xMax === null) return;
    const factor = this.spe || 1;
    const start = Math.max(0, Math.floor(xMin * factor));
    const stop = Math.min(this.stop, Math.ceil(xMax * factor) + 1);
    const range = span(start, stop);
    const key = `${range.start}:${range.stop}:${range.stride}`;
    if (key === this.requested) return;
    this.requested = key;
    const seq = ++this.seq;
    let curve = this.base;
    if (range.stride < this.baseStride) {
      const fine = await this.load(range.start, range.stop, range.stride);
      if (seq !== this.seq) return;
      curve = splice(this.base, fine, range.start, range.stop);
    }
    this.container.dataset.stride = String(Math.min(range.stride, this.baseStride));
    if (curve === this.shown) return;
    this.shown = curve;
    this.plot.setData(this.data(curve), false);
    this.plot.redraw();
  }
}

/** `base` with its points in [start, stop) replaced by `fine`'s. */
function splice(base, fine, start, stop) {
  const indexes = base.steps.map((_, i) => i);
  const before = indexes.filter((i) => base.steps[i] < start);
  const after = indexes.filter((i) => base.steps[i] >= stop);
  const pick = (arr, idx) => idx.map((i) => arr[i]);
  return {
    steps: [...pick(base.steps, before), ...fine.steps, ...pick(base.steps, after)],
    series: base.series.map((lr, k) => [...pick(lr, before), ...fine.series[k], ...pick(lr, after)]),
  };
}
