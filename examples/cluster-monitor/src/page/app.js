// cluster-monitor page: renders the cluster from the /api/events stream.
// No build step, no dependencies.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const MAX_LOG = 200;

  const state = {
    self: null,
    leader: null,
    cluster: null,
    members: new Map(), // id -> member (+ since, pending)
    shown: new Set(), // ids that already have a tile (only new tiles animate in)
    rtt: new Map(), // id -> { us } or { error }: the last ping from this node
    singleton: null, // the last GET /api/singleton answer
    source: null,
    retry: 1000,
  };

  // ---------- helpers ----------
  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of children || []) if (c) node.append(c);
    return node;
  }

  function clock(ms) {
    const d = new Date(ms || Date.now());
    const p = (n, w = 2) => String(n).padStart(w, "0");
    return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
  }

  function nameOf(id) {
    const m = state.members.get(id);
    if (m) return m.name;
    const at = id ? id.lastIndexOf("@") : -1;
    return at > 0 ? id.slice(0, at) : id || "none";
  }

  function statusLabel(m) {
    if (m.status === "down") return m.reason === "left" ? "left" : "down";
    return m.status;
  }

  let toastTimer = null;
  function toast(text, isError) {
    const t = $("toast");
    t.textContent = text;
    t.classList.toggle("error", !!isError);
    t.classList.add("show");
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => t.classList.remove("show"), 3500);
  }

  // ---------- connection ----------
  function setConn(s, text) {
    $("conn").dataset.state = s;
    $("conn-text").textContent = text;
  }

  function connect() {
    if (state.source) state.source.close();
    setConn("connecting", "connecting…");
    const es = new EventSource("/api/events");
    state.source = es;
    es.onopen = () => {
      state.retry = 1000;
      setConn("live", "live");
    };
    es.onmessage = (e) => {
      let msg;
      try { msg = JSON.parse(e.data); } catch (_) { return; }
      handle(msg, true);
      window.dispatchEvent(new CustomEvent("cluster-event", { detail: msg })); // charts.js
    };
    es.onerror = () => {
      if (es.readyState === EventSource.CLOSED) {
        // The browser gave up (e.g. the node answered with an error): retry ourselves.
        setConn("offline", `offline · retrying in ${Math.round(state.retry / 1000)} s`);
        es.close();
        setTimeout(connect, state.retry);
        state.retry = Math.min(state.retry * 2, 15000);
      } else {
        setConn("reconnecting", "reconnecting…");
      }
    };
  }

  // ---------- events ----------
  function upsert(member, time) {
    const old = state.members.get(member.id);
    const changed = !old || old.status !== member.status || old.reachable !== member.reachable;
    state.members.set(member.id, Object.assign({}, old, member, {
      since: changed ? time : old.since,
      pending: old && old.pending && member.status !== "down" && member.status !== "leaving",
    }));
  }

  function handle(msg, live) {
    switch (msg.type) {
      case "snapshot": {
        state.self = msg.self;
        state.leader = msg.leader;
        const previous = state.members;
        state.members = new Map();
        for (const m of msg.members) {
          const old = previous.get(m.id);
          state.members.set(m.id, Object.assign({}, m, {
            since: old && old.status === m.status ? old.since : null,
          }));
        }
        // Recover "since" from the recent events.
        for (const e of msg.recent || []) {
          const id = e.member ? e.member.id : null;
          const m = id && state.members.get(id);
          if (m && e.member.status === m.status) m.since = m.since || e.time;
        }
        $("events").replaceChildren();
        for (const e of msg.recent || []) logEvent(e, false);
        logEvent({ type: "info", time: msg.time, text: `connected to ${nameOf(msg.self)}` }, live);
        break;
      }
      case "joined":
      case "up":
      case "unreachable":
      case "reachable":
      case "leaving":
      case "updated":
        upsert(msg.member, msg.time);
        logEvent(msg, live);
        break;
      case "down":
        upsert(Object.assign({}, msg.member, { reason: msg.reason }), msg.time);
        logEvent(msg, live);
        break;
      case "removed":
        logEvent(msg, live);
        state.members.delete(msg.id);
        break;
      case "leader":
        state.leader = msg.leader;
        logEvent(msg, live);
        break;
      case "terminated":
        logEvent(msg, live);
        break;
      default:
        return;
    }
    render();
  }

  function describe(e) {
    const who = e.member ? e.member.name : nameOf(e.id);
    const roles = "";
    switch (e.type) {
      case "joined": return [`${who}${roles} is joining`, "joined"];
      case "up": return [`${who}${roles} is up`, "up"];
      case "unreachable": return [`${who} is unreachable`, "unreachable"];
      case "reachable": return [`${who} is reachable again`, "reachable"];
      case "leaving": return [`${who} is leaving`, "leaving"];
      case "updated": {
        const meta = Object.entries((e.member && e.member.metadata) || {}).map(([k, v]) => `${k}=${v}`).join(", ");
        return [`${who} updated its metadata${meta ? `: ${meta}` : ""}`, "info"];
      }
      case "down": return e.reason === "left" ? [`${who} left the cluster`, "left"] : [`${who} is down (failed)`, "down"];
      case "removed": return [`${who} removed`, "info"];
      case "leader": return [e.leader ? `leader is now ${nameOf(e.leader)}` : "no leader", "leader"];
      case "terminated": return [`${nameOf(e.member)}'s actor #${e.actor} terminated (${e.reason})`, e.reason === "stopped" || e.reason === "left" ? "left" : "down"];
      case "info": return [e.text, "info"];
      default: return [e.type, "info"];
    }
  }

  function logEvent(e, fresh) {
    const [text, kind] = describe(e);
    const list = $("events");
    const item = el("li", { class: `e-${kind}${fresh ? " fresh" : ""}` }, [
      el("time", { text: clock(e.time), title: new Date(e.time || Date.now()).toISOString() }),
      el("span", { class: "mark" }),
      el("span", { class: "text", text }),
    ]);
    list.prepend(item);
    while (list.children.length > MAX_LOG) list.lastElementChild.remove();
  }

  // ---------- rendering ----------
  function order(a, b) {
    const rank = (m) => (m.roles.includes("frontend") ? 0 : 1);
    return rank(a) - rank(b) || a.name.localeCompare(b.name, undefined, { numeric: true }) || a.id.localeCompare(b.id);
  }

  function tile(m) {
    const label = statusLabel(m);
    const isSelf = m.id === state.self;
    const isLeader = m.id === state.leader;
    const gone = m.status === "down" || m.status === "leaving";
    const badges = [el("span", { class: `chip s-${label}`, text: label })];
    if (m.reachable === false && m.status !== "down") badges.push(el("span", { class: "chip s-unreachable", text: "unreachable" }));
    if (isLeader) badges.push(el("span", { class: "chip leader", text: "★ leader" }));
    const isSingleton = !!state.singleton && m.id === state.singleton.host;
    if (isSingleton) badges.push(el("span", { class: "chip singleton", text: `singleton · ${state.singleton.ticks}`, title: "the ticker singleton runs here: its ticks" }));
    if (isSelf) badges.push(el("span", { class: "chip me", text: "this node" }));
    const roles = el("div", { class: "roles", text: m.roles.join(" · ") || "no role" });
    if (m.roles.includes("frontend")) roles.classList.add("frontend");
    const button = el("button", {
      class: "ghost small leave",
      type: "button",
      text: m.pending ? "leaving…" : "Leave",
      disabled: gone || m.pending,
      title: gone ? "already leaving or down" : `ask ${m.name} to leave the cluster`,
      "data-id": m.id,
      onclick: () => leave(m.id),
    });
    const fresh = !state.shown.has(m.id);
    state.shown.add(m.id);
    return el("article", {
      class: `tile${isSelf ? " self" : ""}${fresh ? " fresh" : ""}`,
      "data-id": m.id,
      "data-name": m.name,
      "data-status": m.status,
      "data-reason": m.reason,
      "data-reachable": String(m.reachable !== false),
      "data-leader": isLeader ? "true" : null,
      "data-singleton": isSingleton ? "true" : null,
      title: m.id,
    }, [
      roles,
      el("div", { class: "tile-head" }, [el("span", { class: "name", text: m.name })]),
      el("div", { class: "badges" }, badges),
      el("div", { class: "addr" }, [el("b", { text: "gossip" }), document.createTextNode(m.address)]),
      m.http ? el("div", { class: "addr http" }, [el("b", { text: "http" }), document.createTextNode(m.http)]) : null,
      rttLine(m),
      el("div", { class: "tile-foot" }, [
        el("span", { class: "since", text: m.since ? `${label} since ${clock(m.since)}` : "" }),
        button,
      ]),
    ]);
  }

  // The round trip of an ask from this node to the member's ping actor.
  function rttLine(m) {
    const r = state.rtt.get(m.id);
    if (m.status === "down" || !r) return null;
    const text = r.us !== undefined ? `${(r.us / 1000).toFixed(2)} ms` : r.error;
    return el("div", { class: `addr rtt${r.us !== undefined ? "" : " failed"}`, "data-rtt-us": r.us !== undefined ? String(r.us) : null }, [
      el("b", { text: "rtt" }), document.createTextNode(text),
    ]);
  }

  async function pingOne(id) {
    try {
      const res = await fetch(`/api/members/${encodeURIComponent(id)}/ping`, { method: "POST", cache: "no-store" });
      const body = await res.json().catch(() => ({}));
      state.rtt.set(id, res.ok ? { us: body.rtt_us } : { error: `HTTP ${res.status}` });
    } catch (_) {
      state.rtt.set(id, { error: "no answer" });
    }
  }

  async function pingAll() {
    const up = [...state.members.values()].filter((m) => m.status === "up" || m.status === "leaving");
    await Promise.all(up.map((m) => pingOne(m.id)));
    for (const id of [...state.rtt.keys()]) if (!state.members.has(id)) state.rtt.delete(id);
    render();
  }

  function render() {
    const members = [...state.members.values()].sort(order);
    $("grid").replaceChildren(...members.map(tile));
    $("grid").classList.toggle("compact", members.length > 12);
    $("empty").hidden = members.length > 0;
    const count = (f) => members.filter(f).length;
    const up = count((m) => m.status === "up");
    $("stat-up").textContent = `${up}`;
    $("stat-moving").textContent = `${count((m) => m.status === "joining")} / ${count((m) => m.status === "leaving")}`;
    $("stat-unreachable").textContent = `${count((m) => m.reachable === false && m.status !== "down")}`;
    $("stat-down").textContent = `${count((m) => m.status === "down")}`;
    $("stat-leader").textContent = state.leader ? nameOf(state.leader) : "none";
    $("stat-leader").title = state.leader || "";
    $("self-name").textContent = state.self ? nameOf(state.self) : "…";
    const s = state.singleton;
    $("stat-singleton").textContent = s ? (s.host ? nameOf(s.host) : "none running") : "–";
    $("stat-singleton").title = s && s.host ? `${s.host}${s.token !== null ? `, fencing token ${s.token}` : ""}` : "";
    $("stat-ticks").textContent = s ? `${s.ticks}` : "–";
    document.title = `${up} up · cluster-monitor`;
  }

  // ---------- actions ----------
  // The admin token (HTTP_ADMIN_TOKEN), asked for once, when a Leave first
  // answers 401, and kept for this tab only.
  let adminToken = sessionStorage.getItem("cluster-monitor-token") || "";

  function postLeave(id) {
    const headers = adminToken ? { Authorization: `Bearer ${adminToken}` } : {};
    return fetch(`/api/members/${encodeURIComponent(id)}/leave`, { method: "POST", headers });
  }

  async function leave(id) {
    const m = state.members.get(id);
    if (m) { m.pending = true; render(); }
    try {
      let res = await postLeave(id);
      if (res.status === 401) {
        const given = window.prompt("Admin token (HTTP_ADMIN_TOKEN) to make members leave:", "");
        if (given) {
          adminToken = given.trim();
          sessionStorage.setItem("cluster-monitor-token", adminToken);
          res = await postLeave(id);
        }
        if (res.status === 401) {
          adminToken = "";
          sessionStorage.removeItem("cluster-monitor-token");
        }
      }
      const body = await res.json().catch(() => ({}));
      if (!res.ok) throw new Error(body.error || `HTTP ${res.status}`);
      toast(`${nameOf(id)} is leaving the cluster`);
    } catch (err) {
      const again = state.members.get(id);
      if (again) { again.pending = false; render(); }
      toast(`Leave failed: ${err.message}`, true);
    }
  }

  async function discovery() {
    try {
      const res = await fetch("/api/discovery", { cache: "no-store" });
      const d = await res.json();
      let text = d.mode || "–";
      if (d.mode === "etcd") {
        const parts = [d.etcd_reachable === false ? "etcd unreachable" : "etcd"];
        if (d.registered !== undefined) parts.push(d.registered ? "registered" : "not registered");
        if (d.registered_members !== undefined) parts.push(`${d.registered_members} registered`);
        if (d.last_revision) parts.push(`rev ${d.last_revision}`);
        text = parts.join(" · ");
      } else if (d.mode === "seeds") {
        text = `seeds: ${(d.seeds || []).join(", ")}`;
      } else if (d.mode === "alone") {
        text = "none (formed alone)";
      }
      if (d.cluster) $("cluster-name").textContent = d.cluster;
      $("stat-discovery").textContent = text;
      $("stat-discovery").title = JSON.stringify(d);
    } catch (_) {
      /* the stream's state already says we are offline */
    }
  }

  // The ticker singleton: where it runs and its ticks, as this node knows them.
  async function singleton() {
    try {
      const res = await fetch("/api/singleton", { cache: "no-store" });
      if (!res.ok) return;
      state.singleton = await res.json();
      render();
    } catch (_) {
      /* offline: the stream's state says so */
    }
  }

  // POST /api/work: jobs through the round-robin router; shows the counts.
  async function sendWork() {
    const button = $("work-send");
    button.disabled = true;
    try {
      const res = await fetch("/api/work?n=1000", { method: "POST", cache: "no-store" });
      const body = await res.json().catch(() => ({}));
      if (!res.ok) throw new Error(body.error || `HTTP ${res.status}`);
      const counts = Object.entries(body.counts || {});
      const most = Math.max(1, ...counts.map(([, n]) => n));
      $("work-counts").replaceChildren(...counts.map(([id, n]) => el("li", { "data-id": id, "data-count": String(n), title: id }, [
        el("span", { class: "name", text: nameOf(id) }),
        el("span", { class: "bar" }, [el("span", { class: "fill", style: `width:${(100 * n) / most}%` })]),
        el("span", { class: "count", text: `${n}` }),
      ])));
      $("work-empty").hidden = counts.length > 0;
      toast(`${body.sent} jobs: ${counts.length} backends${body.failed ? `, ${body.failed} failed` : ""}`, body.failed > 0);
    } catch (err) {
      toast(`Work failed: ${err.message}`, true);
    } finally {
      button.disabled = false;
    }
  }

  $("work-send").addEventListener("click", sendWork);
  singleton();
  setInterval(singleton, 1000);
  $("clear-log").addEventListener("click", () => $("events").replaceChildren());
  connect();
  discovery();
  setInterval(discovery, 5000);
  setInterval(pingAll, 2000);
  // Keep the relative "since" fresh enough (times are absolute, nothing to do)
})();
