/* Stats charts: CPU %, memory, network and block I/O over a time window (up to the kept
   hour). One StatsSeries holds the readings (the stored history, every 10 s, then the live
   ones, every second), oldest first; counters are cumulative, so rates are the differences
   of neighbouring readings. A TimeChart draws some lines of it on a canvas (two lines of one
   chart differ by dash pattern as well as colour); statsTable() is the text alternative. */
"use strict";

/** Readings of one container: {t: ms, cpu: % | null, mem, limit, limited, pids, rx, tx,
    rd, wr} (cumulative network and block I/O bytes), oldest first, at most `keepMs` old. */
class StatsSeries {
  static GAP_MS = 25000; // neighbours further apart: a break in the lines (it was not running)

  constructor(keepMs) {
    this.keepMs = keepMs;
    this.points = [];
  }

  /** Add a stats document (live or stored); kept in time order, the old dropped. */
  add(doc) {
    const p = {
      t: Date.parse(doc.read), cpu: doc.cpu.percent === null || doc.cpu.percent === undefined ? null : doc.cpu.percent,
      mem: doc.memory.working_set, limit: doc.memory.limit, limited: !!doc.memory.limited,
      pids: doc.pids.current, rx: doc.network ? doc.network.rx_bytes : 0, tx: doc.network ? doc.network.tx_bytes : 0,
      rd: doc.blkio ? doc.blkio.read_bytes : 0, wr: doc.blkio ? doc.blkio.write_bytes : 0,
    };
    if (isNaN(p.t)) return;
    const pts = this.points;
    let i = pts.length;
    while (i > 0 && pts[i - 1].t > p.t) i--;
    if (i > 0 && pts[i - 1].t === p.t) return; // already have it
    pts.splice(i, 0, p);
    const cut = Date.now() - this.keepMs;
    while (pts.length && pts[0].t < cut) pts.shift();
  }

  /** Bytes per second of counter `key` at point i (null at a break or a reset). */
  rate(i, key) {
    const p = this.points[i], q = this.points[i - 1];
    if (!q || p.t - q.t > StatsSeries.GAP_MS || p.t <= q.t) return null;
    const d = p[key] - q[key];
    return d < 0 ? null : (d * 1000) / (p.t - q.t);
  }

  /** Whether points i-1 and i are joined by a line. */
  joined(i) {
    return i > 0 && this.points[i].t - this.points[i - 1].t <= StatsSeries.GAP_MS;
  }

  last() { return this.points[this.points.length - 1]; }
}

/** A chart of some lines of a StatsSeries over the last `rangeMs`.
    lines: [{label, color, dash: [] | [6, 4], value(series, i) -> number | null}];
    fmt(v) formats the axis maximum; floor: the smallest axis maximum. */
class TimeChart {
  constructor(canvas, series, opts) {
    this.canvas = canvas;
    this.series = series;
    this.opts = opts;
    this.rangeMs = 3600 * 1000;
    new ResizeObserver(() => this.draw()).observe(canvas);
  }

  draw() {
    const c = this.canvas;
    const dpr = window.devicePixelRatio || 1;
    const w = c.clientWidth, h = c.clientHeight;
    if (!w || !h) return;
    c.width = Math.round(w * dpr);
    c.height = Math.round(h * dpr);
    const g = c.getContext("2d");
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, h);
    const pad = { l: 8, r: 8, t: 18, b: 18 };
    const pw = w - pad.l - pad.r, ph = h - pad.t - pad.b;
    const now = Date.now(), from = now - this.rangeMs;
    const s = this.series;
    const values = this.opts.lines.map((ln) => s.points.map((p, i) => (p.t < from ? null : ln.value(s, i))));
    let max = this.opts.floor || 1;
    for (const vs of values) for (const v of vs) if (v !== null && v > max) max = v;
    if (this.opts.extra) max = Math.max(max, this.opts.extra(s) || 0);
    max *= 1.1;
    // grid and axis text
    g.strokeStyle = "#e3e6eb";
    g.lineWidth = 1;
    for (let k = 0; k <= 4; k++) {
      const y = pad.t + (ph * k) / 4;
      g.beginPath(); g.moveTo(pad.l, y); g.lineTo(w - pad.r, y); g.stroke();
    }
    g.font = "11px system-ui, sans-serif";
    g.fillStyle = "#4f5768";
    g.fillText("max " + this.opts.fmt(max), pad.l, 12);
    const mins = Math.round(this.rangeMs / 60000);
    g.fillText("−" + mins + " min", pad.l, h - 4);
    const nowText = "now";
    g.fillText(nowText, w - pad.r - g.measureText(nowText).width, h - 4);
    const x = (t) => pad.l + (pw * (t - from)) / this.rangeMs;
    const y = (v) => pad.t + ph * (1 - Math.min(1, v / max));
    if (this.opts.extra) { // a limit: a thin dotted line
      const lim = this.opts.extra(s);
      if (lim) {
        g.setLineDash([2, 3]); g.strokeStyle = "#8a93a3";
        g.beginPath(); g.moveTo(pad.l, y(lim)); g.lineTo(w - pad.r, y(lim)); g.stroke();
      }
    }
    this.opts.lines.forEach((ln, k) => {
      g.strokeStyle = ln.color;
      g.lineWidth = 1.6;
      g.setLineDash(ln.dash || []);
      g.beginPath();
      values[k].forEach((v, i) => {
        if (v === null) return;
        const px = x(s.points[i].t), py = y(v);
        if (s.joined(i) && values[k][i - 1] !== null) g.lineTo(px, py);
        else { g.moveTo(px, py); g.lineTo(px + 1, py); } // a line starts (a lone reading: a dot)
      });
      g.stroke();
    });
    g.setLineDash([]);
    c.setAttribute("aria-label", this.summary(values));
  }

  /** The chart in words (its canvas's accessible name): each line's latest and highest. */
  summary(values) {
    const parts = this.opts.lines.map((ln, k) => {
      const vs = values[k].filter((v) => v !== null);
      if (!vs.length) return ln.label + ": no data";
      return ln.label + " now " + this.opts.fmt(vs[vs.length - 1]) + ", highest " + this.opts.fmt(Math.max(...vs));
    });
    return this.opts.title + " over the last " + Math.round(this.rangeMs / 60000) + " minutes: " + parts.join("; ");
  }
}

/** Per-minute rows of a StatsSeries for a table (the charts' text alternative), newest
    first: [{t: minute start ms, cpu: mean % | null, mem: last bytes, rx, tx, rd, wr: mean
    bytes/s | null}]. */
function statsTable(series, rangeMs) {
  const from = Date.now() - rangeMs;
  const minutes = new Map();
  series.points.forEach((p, i) => {
    if (p.t < from) return;
    const key = Math.floor(p.t / 60000) * 60000;
    let m = minutes.get(key);
    if (!m) minutes.set(key, (m = { t: key, cpu: [], mem: null, rx: [], tx: [], rd: [], wr: [] }));
    if (p.cpu !== null) m.cpu.push(p.cpu);
    m.mem = p.mem;
    for (const k of ["rx", "tx", "rd", "wr"]) {
      const r = series.rate(i, k);
      if (r !== null) m[k].push(r);
    }
  });
  const mean = (xs) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null);
  return [...minutes.values()].sort((a, b) => b.t - a.t).map((m) => ({
    t: m.t, cpu: mean(m.cpu), mem: m.mem, rx: mean(m.rx), tx: mean(m.tx), rd: mean(m.rd), wr: mean(m.wr),
  }));
}
