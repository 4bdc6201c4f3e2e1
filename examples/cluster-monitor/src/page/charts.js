// cluster-monitor page: live charts of the last minutes, drawn as SVG.
// Members by status and traffic come from this node's /metrics (polled);
// suspicions per second from the event stream, which app.js forwards as
// "cluster-event" DOM events. No build step, no dependencies.
"use strict";

(function () {
  const POLL_MS = 2000;
  const WINDOW_MS = 3 * 60 * 1000;
  const SVG = "http://www.w3.org/2000/svg";
  const W = 360;
  const H = 120;
  const PAD = { l: 34, r: 6, t: 8, b: 16 };

  // Members in this node's view, by status (unreachable members are Up but
  // suspected: shown on their own).
  const STATUS_SERIES = [
    { key: "up", label: "up", color: "var(--up)" },
    { key: "unreachable", label: "unreachable", color: "var(--unreachable)" },
    { key: "joining", label: "joining", color: "var(--joining)" },
    { key: "leaving", label: "leaving", color: "var(--leaving)" },
    { key: "down", label: "down", color: "var(--down)" },
  ];
  const SUSPICION_SERIES = [
    { key: "unreachable", label: "suspected", color: "var(--unreachable)" },
    { key: "reachable", label: "refuted", color: "var(--up)" },
  ];
  const TRAFFIC_SERIES = [
    { key: "out", label: "sent", color: "var(--accent)" },
    { key: "in", label: "received", color: "var(--up)" },
  ];

  const samples = { members: [], suspicions: [], traffic: [] };
  let lastCounters = null; // { time, out, in }
  let eventCounts = { unreachable: 0, reachable: 0 };
  let lastEventSample = Date.now();

  // ---------- the Prometheus text format, as much as we need ----------
  function parseMetrics(text) {
    const out = [];
    for (const line of text.split("\n")) {
      if (!line || line[0] === "#") continue;
      const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?\s+(\S+)/.exec(line);
      if (!m) continue;
      const labels = {};
      const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
      let l;
      while ((l = re.exec(m[3] || "")) !== null) labels[l[1]] = l[2];
      const value = Number(m[4]);
      if (!Number.isNaN(value)) out.push({ name: m[1], labels, value });
    }
    return out;
  }

  function total(metrics, name, pred) {
    return metrics
      .filter((s) => s.name === name && (!pred || pred(s.labels)))
      .reduce((a, s) => a + s.value, 0);
  }

  // ---------- sampling ----------
  function trim(list, now) {
    while (list.length && list[0].time < now - WINDOW_MS) list.shift();
  }

  async function poll() {
    const now = Date.now();
    try {
      const r = await fetch("/metrics", { cache: "no-store" });
      if (r.ok) {
        const m = parseMetrics(await r.text());
        const members = { time: now };
        for (const s of STATUS_SERIES) members[s.key] = 0;
        for (const s of m.filter((s) => s.name === "actix_cluster_members")) {
          const key = s.labels.status === "up" && s.labels.reachable === "false" ? "unreachable" : s.labels.status;
          if (key in members) members[key] += s.value;
        }
        samples.members.push(members);
        const counters = {
          time: now,
          out: total(m, "actix_cluster_sent_bytes_total"),
          in: total(m, "actix_cluster_received_bytes_total"),
        };
        if (lastCounters && counters.out >= lastCounters.out && counters.in >= lastCounters.in) {
          const dt = (counters.time - lastCounters.time) / 1000;
          if (dt > 0) {
            samples.traffic.push({
              time: now,
              out: (counters.out - lastCounters.out) / dt,
              in: (counters.in - lastCounters.in) / dt,
            });
          }
        }
        lastCounters = counters;
      }
    } catch (_) {
      // The node is away; the event stream's reconnect tells the user.
    }
    const dt = (now - lastEventSample) / 1000;
    if (dt > 0) {
      samples.suspicions.push({
        time: now,
        unreachable: eventCounts.unreachable / dt,
        reachable: eventCounts.reachable / dt,
      });
    }
    eventCounts = { unreachable: 0, reachable: 0 };
    lastEventSample = now;
    for (const list of Object.values(samples)) trim(list, now);
    draw(now);
  }

  window.addEventListener("cluster-event", (e) => {
    const msg = e.detail || {};
    if (msg.type in eventCounts) eventCounts[msg.type] += 1;
  });

  // ---------- drawing ----------
  function svgEl(tag, attrs, text) {
    const n = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) n.setAttribute(k, String(v));
    if (text !== undefined) n.textContent = text;
    return n;
  }

  function niceMax(v) {
    if (!(v > 0)) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 5, 10]) if (v <= m * p) return m * p;
    return 10 * p;
  }

  function fmt(v, unit) {
    if (unit === "B/s") {
      if (v >= 1e6) return `${(v / 1e6).toFixed(1)}M`;
      if (v >= 1e3) return `${(v / 1e3).toFixed(v >= 1e4 ? 0 : 1)}k`;
      return `${Math.round(v)}`;
    }
    return Number.isInteger(v) ? String(v) : v.toFixed(1);
  }

  // One chart: lines (or stacked areas) of `series` over the window.
  function chart(id, list, series, opts, now) {
    const host = document.getElementById(id);
    if (!host) return;
    const svg = host.querySelector("svg");
    const x0 = now - WINDOW_MS;
    const sx = (t) => PAD.l + ((t - x0) / WINDOW_MS) * (W - PAD.l - PAD.r);
    const stack = (s, i) => (opts.stacked ? series.slice(0, i + 1).reduce((a, k) => a + (s[k.key] || 0), 0) : s[series[i].key] || 0);
    let max = 0;
    for (const s of list) for (let i = 0; i < series.length; i++) max = Math.max(max, stack(s, i));
    max = opts.integer ? Math.max(1, Math.ceil(max)) : niceMax(max);
    const sy = (v) => H - PAD.b - (v / max) * (H - PAD.t - PAD.b);
    const parts = [];
    for (const f of [0, 0.5, 1]) {
      const v = max * f;
      parts.push(svgEl("line", { x1: PAD.l, x2: W - PAD.r, y1: sy(v), y2: sy(v), class: "grid-line" }));
      parts.push(svgEl("text", { x: PAD.l - 4, y: sy(v) + 3, class: "axis", "text-anchor": "end" }, fmt(opts.integer ? Math.round(v) : v, opts.unit)));
    }
    for (const [t, label] of [[x0, `-${WINDOW_MS / 60000} min`], [now, "now"]]) {
      parts.push(svgEl("text", { x: sx(t), y: H - 3, class: "axis", "text-anchor": t === now ? "end" : "start" }, label));
    }
    // Draw back to front so that the first series (stacked: the bottom) is on top.
    for (let i = series.length - 1; i >= 0; i--) {
      if (list.length === 0) break;
      const pts = list.map((s) => `${sx(s.time).toFixed(1)},${sy(stack(s, i)).toFixed(1)}`);
      if (opts.stacked) {
        // The band between this series and the one below it.
        const below = list
          .map((s) => `${sx(s.time).toFixed(1)},${sy(i > 0 ? stack(s, i - 1) : 0).toFixed(1)}`)
          .reverse();
        parts.push(svgEl("polygon", { points: `${pts.join(" ")} ${below.join(" ")}`, fill: series[i].color, class: "area" }));
      }
      parts.push(svgEl("polyline", { points: pts.join(" "), stroke: series[i].color, class: "series" }));
    }
    svg.replaceChildren(...parts);
    const last = list[list.length - 1] || {};
    host.dataset.points = String(list.length);
    for (const s of series) host.dataset[`last${s.key[0].toUpperCase()}${s.key.slice(1)}`] = String(last[s.key] ?? "");
    const legend = host.querySelector(".chart-legend");
    legend.replaceChildren(
      ...series.map((s) => {
        const v = last[s.key];
        const item = document.createElement("span");
        item.className = "chart-key";
        item.style.setProperty("--key", s.color);
        item.textContent = `${s.label} ${v === undefined ? "–" : fmt(opts.integer ? v : Math.round(v * 10) / 10, opts.unit)}`;
        return item;
      })
    );
  }

  function draw(now) {
    chart("chart-members", samples.members, STATUS_SERIES, { stacked: true, integer: true }, now);
    chart("chart-suspicions", samples.suspicions, SUSPICION_SERIES, { unit: "/s" }, now);
    chart("chart-traffic", samples.traffic, TRAFFIC_SERIES, { unit: "B/s" }, now);
  }

  function setup() {
    for (const id of ["chart-members", "chart-suspicions", "chart-traffic"]) {
      const host = document.getElementById(id);
      if (!host || host.querySelector("svg")) continue;
      host.append(svgEl("svg", { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none", role: "img" }));
      const legend = document.createElement("div");
      legend.className = "chart-legend";
      host.append(legend);
    }
    poll();
    setInterval(poll, POLL_MS);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", setup);
  else setup();
})();
