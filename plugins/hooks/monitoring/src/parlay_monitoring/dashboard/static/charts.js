// parlay dashboard: charts drawn in SVG (stacked areas, lines, stacked bars, a Gantt of tries), no library.
"use strict";

(function () {
  const NS = "http://www.w3.org/2000/svg";

  const STATE_COLORS = {
    pending: "#a7b0bc",
    launched: "#79c3e8",
    running: "#2b6cd4",
    running_ended: "#5b8fdc",
    joining: "#8a7ad6",
    fail_retryable: "#f2a154",
    exec_done: "#2f9e5b",
    memo_done: "#8fd19e",
    failed: "#d23f3f",
    dep_fail: "#e88fb3",
    cancelled: "#7d8590",
  };
  const BLOCK_COLORS = {
    PENDING: "#cbd2da", RUNNING: "#86efac", COMPLETED: "#cbd5e1", FAILED: "#fca5a5",
    CANCELLED: "#e2e8f0", TIMEOUT: "#fdba74", HELD: "#fde68a", MISSING: "#f9a8d4", SCALED_IN: "#e2e8f0",
  };
  const PALETTE = ["#2b6cd4", "#0f9d8a", "#e07b24", "#8a5cd6", "#c2417d", "#6b8e23", "#d4a017", "#4b5563",
    "#1c9fd9", "#b45309"];

  function stateColor(state) {
    return STATE_COLORS[state] || PALETTE[hash(state || "") % PALETTE.length];
  }
  function blockColor(state) {
    return BLOCK_COLORS[(state || "").toUpperCase()] || "#e5e7eb";
  }
  function paletteColor(index) {
    return PALETTE[index % PALETTE.length];
  }
  function hash(text) {
    let h = 7;
    for (let i = 0; i < text.length; i++) h = (h * 31 + text.charCodeAt(i)) >>> 0;
    return h;
  }

  function el(tag, attrs, parent) {
    const node = document.createElementNS(NS, tag);
    for (const key in attrs || {}) {
      if (attrs[key] !== undefined && attrs[key] !== null) node.setAttribute(key, attrs[key]);
    }
    if (parent) parent.appendChild(node);
    return node;
  }

  // --- formatting -------------------------------------------------------------------------------

  function pad(n) { return String(n).padStart(2, "0"); }
  function clock(t, seconds) {
    const d = new Date(t * 1000);
    const hm = pad(d.getHours()) + ":" + pad(d.getMinutes());
    return seconds ? hm + ":" + pad(d.getSeconds()) : hm;
  }
  function niceNumber(x) {
    if (!(x > 0)) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(x)));
    const f = x / p;
    return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p;
  }
  function compact(v) {
    const a = Math.abs(v);
    if (a >= 1e9) return (v / 1e9).toFixed(a >= 1e10 ? 0 : 1) + "G";
    if (a >= 1e6) return (v / 1e6).toFixed(a >= 1e7 ? 0 : 1) + "M";
    if (a >= 1e4) return (v / 1e3).toFixed(0) + "k";
    if (a >= 1e3) return (v / 1e3).toFixed(1) + "k";
    return String(Math.round(v * 100) / 100);
  }
  const TIME_STEPS = [0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600,
    43200, 86400, 172800, 604800];
  function timeTicks(t0, t1, count) {
    const span = Math.max(t1 - t0, 1e-3);
    const step = TIME_STEPS.find((s) => span / s <= count) || TIME_STEPS[TIME_STEPS.length - 1];
    const offset = step >= 3600 ? new Date(t0 * 1000).getTimezoneOffset() * -60 : 0;
    const ticks = [];
    for (let t = Math.ceil((t0 + offset) / step) * step - offset; t <= t1 + 1e-9; t += step) ticks.push(t);
    return { ticks, seconds: step < 60 };
  }

  // --- tooltip ----------------------------------------------------------------------------------

  const tip = () => document.getElementById("tip");
  function showTip(event, rows) {
    const box = tip();
    if (!box) return;
    box.replaceChildren();
    for (const row of rows) {
      const line = document.createElement("div");
      line.className = "row";
      const left = document.createElement("span");
      if (row.color) {
        const sw = document.createElement("span");
        sw.className = "swatch";
        sw.style.background = row.color;
        left.appendChild(sw);
      }
      left.appendChild(document.createTextNode(row.label));
      line.appendChild(left);
      if (row.value !== undefined) {
        const right = document.createElement("b");
        right.textContent = row.value;
        line.appendChild(right);
      }
      box.appendChild(line);
    }
    box.hidden = false;
    const w = box.offsetWidth, hgt = box.offsetHeight;
    let x = event.clientX + 14, y = event.clientY + 14;
    if (x + w > window.innerWidth - 8) x = event.clientX - w - 14;
    if (y + hgt > window.innerHeight - 8) y = event.clientY - hgt - 14;
    box.style.left = x + "px";
    box.style.top = y + "px";
  }
  function hideTip() {
    const box = tip();
    if (box) box.hidden = true;
  }

  // --- x/y charts -------------------------------------------------------------------------------

  function frame(container, height, margin) {
    container.replaceChildren();
    container.classList.add("chart");
    const width = Math.max(container.clientWidth || 0, 320);
    const svg = el("svg", { viewBox: `0 0 ${width} ${height}`, height, role: "img" }, container);
    return { svg, width, height, x0: margin.l, x1: width - margin.r, y0: height - margin.b, y1: margin.t };
  }

  function legend(container, items) {
    const box = document.createElement("div");
    box.className = "legend";
    for (const item of items) {
      const span = document.createElement("span");
      const sw = document.createElement("i");
      sw.className = "swatch";
      sw.style.background = item.color;
      span.append(sw, document.createTextNode(item.name));
      box.appendChild(span);
    }
    container.appendChild(box);
  }

  function empty(f, text) {
    el("text", { x: (f.x0 + f.x1) / 2, y: (f.y0 + f.y1) / 2, "text-anchor": "middle", class: "empty" }, f.svg)
      .textContent = text;
  }

  function timeAxis(f, t0, t1, sx) {
    const axis = el("g", { class: "axis" }, f.svg);
    el("line", { x1: f.x0, x2: f.x1, y1: f.y0, y2: f.y0 }, axis);
    const { ticks, seconds } = timeTicks(t0, t1, Math.max(2, Math.floor((f.x1 - f.x0) / 90)));
    for (const t of ticks) {
      const x = sx(t);
      el("line", { x1: x, x2: x, y1: f.y0, y2: f.y0 + 4 }, axis);
      el("text", { x, y: f.y0 + 16, "text-anchor": "middle" }, axis).textContent = clock(t, seconds);
    }
  }

  function valueAxis(f, top, format) {
    const step = niceNumber(top / 4);
    const max = Math.max(step, Math.ceil(top / step) * step);
    const sy = (v) => f.y0 - (v / max) * (f.y0 - f.y1);
    const grid = el("g", { class: "grid" }, f.svg);
    const axis = el("g", { class: "axis" }, f.svg);
    for (let v = 0; v <= max + 1e-9; v += step) {
      el("line", { x1: f.x0, x2: f.x1, y1: sy(v), y2: sy(v) }, grid);
      el("text", { x: f.x0 - 6, y: sy(v) + 4, "text-anchor": "end" }, axis).textContent = (format || compact)(v);
    }
    return sy;
  }

  /** Areas (stacked) or lines over time: opts = {times, series: [{name, color, values}], stacked, height,
   *  format(value), emptyText}. */
  function timeSeries(container, opts) {
    const f = frame(container, opts.height || 230, { l: 52, r: 14, t: 10, b: 24 });
    const times = opts.times || [];
    const series = (opts.series || []).filter((s) => s.values && s.values.some((v) => v));
    if (!times.length || !series.length) {
      empty(f, opts.emptyText || "no data yet");
      return f.svg;
    }
    const t0 = opts.start !== undefined ? opts.start : times[0];
    const t1 = times[times.length - 1];
    const sx = (t) => f.x0 + ((t - t0) / Math.max(t1 - t0, 1e-9)) * (f.x1 - f.x0);
    const totals = times.map((_, i) => series.reduce((sum, s) => sum + (s.values[i] || 0), 0));
    const present = (values) => values.filter((v) => v !== null && v !== undefined);
    const top = opts.stacked ? Math.max(...totals) : Math.max(...series.map((s) => Math.max(...present(s.values))));
    const sy = valueAxis(f, top || 1, opts.format);
    timeAxis(f, t0, t1, sx);
    const base = times.map(() => 0);
    const layer = el("g", {}, f.svg);
    for (const s of series) {
      const upper = times.map((t, i) => [sx(t), sy((opts.stacked ? base[i] : 0) + (s.values[i] || 0))]);
      const line = upper.map((p, i) => (i ? "L" : "M") + p[0].toFixed(1) + "," + p[1].toFixed(1)).join("");
      if (opts.stacked) {
        const lower = times.map((t, i) => [sx(t), sy(base[i])]).reverse();
        const back = lower.map((p) => "L" + p[0].toFixed(1) + "," + p[1].toFixed(1)).join("");
        el("path", { d: line + back + "Z", fill: s.color, "fill-opacity": 0.85, stroke: s.color, "stroke-width": 0.5,
          class: "series", "data-name": s.name }, layer);
        times.forEach((_, i) => { base[i] += s.values[i] || 0; });
      } else {  // a line, broken where a value is missing
        let d = "", pen = false;
        times.forEach((t, i) => {
          const v = s.values[i];
          if (v === null || v === undefined) { pen = false; return; }
          d += (pen ? "L" : "M") + sx(t).toFixed(1) + "," + sy(v).toFixed(1);
          pen = true;
        });
        el("path", { d, fill: "none", stroke: s.color, "stroke-width": 1.8, class: "series", "data-name": s.name }, layer);
      }
    }
    hover(f, times, sx, (i, event) => {
      const rows = [{ label: new Date(times[i] * 1000).toLocaleString() }];
      for (const s of series.slice().reverse()) {
        if (s.values[i] === null || s.values[i] === undefined) continue;
        rows.push({ label: s.name, color: s.color, value: (opts.format || compact)(s.values[i] || 0) });
      }
      if (opts.stacked && series.length > 1) rows.push({ label: "total", value: (opts.format || compact)(totals[i]) });
      showTip(event, rows);
    });
    legend(container, series);
    return f.svg;
  }

  function hover(f, times, sx, show) {
    const line = el("line", { class: "hover-line", y1: f.y1, y2: f.y0, visibility: "hidden" }, f.svg);
    const overlay = el("rect", { x: f.x0, y: f.y1, width: f.x1 - f.x0, height: f.y0 - f.y1, fill: "transparent" },
      f.svg);
    overlay.addEventListener("mousemove", (event) => {
      const box = f.svg.getBoundingClientRect();
      const x = ((event.clientX - box.left) / box.width) * f.width;
      let best = 0;
      for (let i = 1; i < times.length; i++) if (Math.abs(sx(times[i]) - x) < Math.abs(sx(times[best]) - x)) best = i;
      line.setAttribute("x1", sx(times[best]));
      line.setAttribute("x2", sx(times[best]));
      line.setAttribute("visibility", "visible");
      show(best, event);
    });
    overlay.addEventListener("mouseleave", () => {
      line.setAttribute("visibility", "hidden");
      hideTip();
    });
  }

  /** Stacked bars: opts = {labels, series: [{name, color, values}], height, format, xTitle}. */
  function bars(container, opts) {
    const f = frame(container, opts.height || 210, { l: 52, r: 14, t: 10, b: 36 });
    const labels = opts.labels || [];
    const series = (opts.series || []).filter((s) => s.values.some((v) => v));
    if (!labels.length || !series.length) {
      empty(f, opts.emptyText || "no data");
      return f.svg;
    }
    const totals = labels.map((_, i) => series.reduce((sum, s) => sum + (s.values[i] || 0), 0));
    const sy = valueAxis(f, Math.max(...totals) || 1, opts.format);
    const band = (f.x1 - f.x0) / labels.length;
    const axis = el("g", { class: "axis" }, f.svg);
    el("line", { x1: f.x0, x2: f.x1, y1: f.y0, y2: f.y0 }, axis);
    const every = Math.ceil(labels.length / Math.max(1, Math.floor((f.x1 - f.x0) / 70)));
    labels.forEach((label, i) => {
      if (i % every === 0) {
        el("text", { x: f.x0 + band * i + band / 2, y: f.y0 + 15, "text-anchor": "middle" }, axis).textContent = label;
      }
    });
    if (opts.xTitle) {
      el("text", { x: (f.x0 + f.x1) / 2, y: f.y0 + 31, "text-anchor": "middle", class: "label" }, f.svg)
        .textContent = opts.xTitle;
    }
    const base = labels.map(() => 0);
    for (const s of series) {
      labels.forEach((label, i) => {
        const v = s.values[i] || 0;
        if (!v) return;
        const rect = el("rect", {
          x: f.x0 + band * i + 1, width: Math.max(1, band - 2), y: sy(base[i] + v), height: sy(base[i]) - sy(base[i] + v),
          fill: s.color, class: "bin",
        }, f.svg);
        rect.addEventListener("mousemove", (event) =>
          showTip(event, [{ label: (opts.binTitle || "") + label }, { label: s.name, color: s.color, value: compact(v) }]));
        rect.addEventListener("mouseleave", hideTip);
        base[i] += v;
      });
    }
    legend(container, series);
    return f.svg;
  }

  // --- Gantt ------------------------------------------------------------------------------------

  /** Tries per lane (executor and block) over time: `data` as /api/workflows/RUN/gantt answers; opts =
   *  {onZoom(start, end), onBar(bar), appColors}. Drag across the chart to zoom into a time window. */
  function gantt(container, data, opts) {
    container.replaceChildren();
    container.classList.add("chart");
    const width = Math.max(container.clientWidth || 0, 420);
    const labelW = Math.min(190, Math.max(110, width * 0.16));
    const x0 = labelW, x1 = width - 12;
    const t0 = data.start, t1 = data.end;
    const sx = (t) => x0 + ((Math.min(Math.max(t, t0), t1) - t0) / Math.max(t1 - t0, 1e-9)) * (x1 - x0);
    const known = new Set(data.lanes.map((l) => l.lane));
    const lanes = data.lanes.map((l) => l.lane);
    const extra = data.mode === "bars" ? data.bars.map((b) => b.lane) : Object.keys(data.cells || {});
    for (const lane of extra) if (!known.has(lane)) { known.add(lane); lanes.push(lane); }
    const barH = 7, gap = 2;
    const layout = {};
    let maxCell = 0;
    if (data.mode === "bars") {
      const byLane = {};
      for (const b of data.bars) (byLane[b.lane] = byLane[b.lane] || []).push(b);
      for (const lane of lanes) {
        const ends = [];
        for (const b of (byLane[lane] || []).sort((p, q) => p.running - q.running)) {
          const end = b.returned || t1;
          let row = ends.findIndex((e) => e <= b.running);
          if (row < 0) { row = ends.length < 24 ? ends.length : ends.length - 1; if (row === ends.length) ends.push(0); }
          ends[row] = end;
          b._row = row;
        }
        layout[lane] = { rows: Math.max(1, ends.length), bars: byLane[lane] || [] };
      }
    } else {
      for (const lane of lanes) {
        const values = (data.cells || {})[lane] || [];
        for (const v of values) maxCell = Math.max(maxCell, v);
        layout[lane] = { rows: 1, cells: values };
      }
    }
    let y = 6;
    for (const lane of lanes) {
      const l = layout[lane];
      l.y = y;
      l.h = data.mode === "bars" ? l.rows * (barH + gap) + 6 : 16;
      y += l.h;
    }
    const height = y + 26;
    const svg = el("svg", { viewBox: `0 0 ${width} ${height}`, height, class: "gantt" }, container);
    if (!lanes.length) {
      el("text", { x: width / 2, y: 30, "text-anchor": "middle", class: "empty" }, svg).textContent = "no tries yet";
      svg.setAttribute("height", 50);
      svg.setAttribute("viewBox", `0 0 ${width} 50`);
      return svg;
    }
    const background = el("g", {}, svg);
    for (const lane of lanes) {
      const l = layout[lane];
      el("line", { x1: 0, x2: x1, y1: l.y + l.h, y2: l.y + l.h, class: "lane-sep" }, background);
      const label = el("text", { x: 4, y: l.y + Math.min(l.h, 16) / 2 + 6, class: "lane-label" }, background);
      label.textContent = lane.length > 28 ? lane.slice(0, 27) + "…" : lane;
      const changes = (data.blocks || {})[lane] || [];
      changes.forEach(([ts, state], i) => {
        const end = i + 1 < changes.length ? changes[i + 1][0] : t1;
        if (end < t0 || ts > t1) return;
        el("rect", { x: sx(ts), width: Math.max(0, sx(end) - sx(ts)), y: l.y + 1, height: l.h - 2,
          fill: blockColor(state), "fill-opacity": 0.35, class: "block-state", "data-state": state }, background);
      });
    }
    el("rect", { x: x0, y: 0, width: x1 - x0, height: y, fill: "transparent" }, svg);  // where a drag can start
    const marks = el("g", {}, svg);
    if (data.mode === "bars") {
      for (const lane of lanes) {
        const l = layout[lane];
        for (const b of l.bars) {
          const top = l.y + 4 + b._row * (barH + gap);
          const end = b.returned || t1;
          if (b.launched && b.launched < b.running) {
            el("rect", { x: sx(b.launched), width: Math.max(0.5, sx(b.running) - sx(b.launched)), y: top + 2, height: barH - 4,
              fill: "#cbd5e1" }, marks);
          }
          const color = b.failed ? STATE_COLORS.failed : (opts.appColors && opts.appColors[b.app]) || PALETTE[0];
          const rect = el("rect", { x: sx(b.running), width: Math.max(1.5, sx(end) - sx(b.running)), y: top, height: barH,
            rx: 1.5, fill: color, class: "bar" + (b.failed ? " failed" : ""), "data-task": b.task_id }, marks);
          rect.addEventListener("mousemove", (event) => showTip(event, [
            { label: `task ${b.task_id}` + (b.try_id ? `, try ${b.try_id}` : ""), value: b.app },
            { label: "host", value: b.host || "?" },
            { label: "ran", value: b.returned ? (b.returned - b.running).toFixed(2) + " s" : "still running" },
            { label: b.failed ? "failed" : "ok" },
          ]));
          rect.addEventListener("mouseleave", hideTip);
          rect.addEventListener("click", () => opts.onBar && opts.onBar(b));
        }
      }
    } else {
      const cellW = (x1 - x0) / Math.max(1, (data.cells && Object.values(data.cells)[0] || []).length);
      for (const lane of lanes) {
        const l = layout[lane];
        l.cells.forEach((v, i) => {
          if (!v) return;
          const rect = el("rect", { x: x0 + i * cellW, width: cellW + 0.3, y: l.y + 2, height: l.h - 4,
            fill: "#0f766e", "fill-opacity": (0.12 + 0.88 * v / (maxCell || 1)).toFixed(3), class: "cell" }, marks);
          rect.addEventListener("mousemove", (event) => showTip(event, [
            { label: lane },
            { label: clock(t0 + i * data.step, true) + " – " + clock(t0 + (i + 1) * data.step, true) },
            { label: "tries running", value: (data.sample && !data.sample.exact ? "≈ " : "") + compact(v) },
          ]));
          rect.addEventListener("mouseleave", hideTip);
        });
      }
    }
    const f = { svg, x0, x1, y0: y, y1: 0, width };
    timeAxis(f, t0, t1, (t) => x0 + ((t - t0) / Math.max(t1 - t0, 1e-9)) * (x1 - x0));
    // drag to zoom
    const brush = el("rect", { class: "brush", y: 0, height: y, visibility: "hidden" }, svg);
    let from = null;
    const toX = (event) => {
      const box = svg.getBoundingClientRect();
      return Math.min(Math.max(((event.clientX - box.left) / box.width) * width, x0), x1);
    };
    svg.addEventListener("mousedown", (event) => {
      if (event.button !== 0 || event.target.classList.contains("bar")) return;  // a bar is a link
      from = toX(event);
      event.preventDefault();
    });
    svg.addEventListener("mousemove", (event) => {
      if (from === null) return;
      const to = toX(event);
      brush.setAttribute("x", Math.min(from, to));
      brush.setAttribute("width", Math.abs(to - from));
      brush.setAttribute("visibility", "visible");
    });
    const finish = (event) => {
      if (from === null) return;
      const to = toX(event);
      const a = Math.min(from, to), b = Math.max(from, to);
      from = null;
      brush.setAttribute("visibility", "hidden");
      if (b - a > 4 && opts.onZoom) {
        const tt = (x) => t0 + ((x - x0) / (x1 - x0)) * (t1 - t0);
        opts.onZoom(tt(a), tt(b));
      }
    };
    svg.addEventListener("mouseup", finish);
    svg.addEventListener("mouseleave", (event) => { finish(event); hideTip(); });
    return svg;
  }

  window.Charts = { timeSeries, bars, gantt, stateColor, blockColor, paletteColor, showTip, hideTip, compact, clock };
})();
