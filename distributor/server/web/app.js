// The dashboard: polls /dashboard/state once a second and redraws. No
// framework and no build step; everything is plain DOM. It never reloads
// the page: when the distributor is unreachable it keeps the last picture
// (marked stale) and keeps polling, and when a restarted distributor
// answers (a new "instance") it resets its rates and event cursor.
"use strict";

const POLL_MS = 1000;
const FETCH_TIMEOUT_MS = 2500;
const RATE_WINDOW_MS = 5000;
const MAX_EVENTS = 100;

let instance = null;   // the distributor instance the page last saw
let lastSeq = 0;       // the last event sequence number shown
let samples = [];      // [{t, c}] counter samples for rates, newest last
let lastState = null;
let servedNode = null; // {shard, node, until} to highlight after a key op

const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") e.className = v;
    else if (k.startsWith("data-")) e.setAttribute(k, v);
    else if (k === "text") e.textContent = v;
    else e.setAttribute(k, v);
  }
  for (const k of kids) if (k !== null && k !== undefined) e.append(k);
  return e;
}

async function fetchJSON(url, opts) {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), FETCH_TIMEOUT_MS);
  try {
    const resp = await fetch(url, { ...opts, signal: ctl.signal, cache: "no-store" });
    let body = null;
    const text = await resp.text();
    if (text) { try { body = JSON.parse(text); } catch (_) { body = { error: text }; } }
    return { status: resp.status, body, headers: resp.headers };
  } finally {
    clearTimeout(timer);
  }
}

// poll runs forever: one request at a time, the next one POLL_MS after
// the previous one ended, whatever happened.
async function poll() {
  try {
    const after = lastSeq;
    const r = await fetchJSON("/dashboard/state?after=" + after);
    if (r.status !== 200 || !r.body) throw new Error("HTTP " + r.status);
    render(r.body);
    setConn(true);
  } catch (e) {
    setConn(false, e);
  } finally {
    setTimeout(poll, POLL_MS);
  }
}

function setConn(ok, err) {
  const c = $("conn");
  if (ok) {
    c.className = "conn conn-live";
    $("conn-text").textContent = "live · updated " + new Date().toLocaleTimeString();
    document.body.removeAttribute("data-stale");
  } else {
    c.className = "conn conn-lost";
    $("conn-text").textContent = "distributor unreachable, retrying…";
    document.body.setAttribute("data-stale", "true");
  }
}

function render(st) {
  if (st.instance !== instance) {
    // A new distributor process: its counters and event numbers restarted,
    // so the events in this answer were picked with a stale cursor; drop
    // them and fetch the new instance's events from the start next time.
    if (instance !== null) {
      addEvents([{ seq: 0, time: st.now, kind: "restart", message: "the distributor restarted; counters start again from zero" }]);
      st.events = [];
    }
    instance = st.instance;
    samples = [];
    lastSeq = 0;
  }
  lastState = st;
  document.body.setAttribute("data-instance", st.instance);
  $("nshards").textContent = st.shards.length;
  renderStats(st);
  renderShards(st.shards);
  addEvents(st.events);
}

function renderStats(st) {
  const c = st.counters;
  const now = Date.parse(st.now);
  samples.push({ t: now, c: { ops: c.sets + c.gets + c.deletes, sets: c.sets, gets: c.gets, deletes: c.deletes, failed: c.failed, errors: c.failed + st.http.server_errors } });
  while (samples.length > 2 && now - samples[1].t >= RATE_WINDOW_MS) samples.shift();
  const first = samples[0], last = samples[samples.length - 1];
  const dt = (last.t - first.t) / 1000;
  const rate = (k) => (dt > 0 ? Math.max(0, last.c[k] - first.c[k]) / dt : 0);
  const fmt = (x) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
  $("st-ops").textContent = dt > 0 ? fmt(rate("ops")) : "–";
  $("st-sets").textContent = dt > 0 ? fmt(rate("sets")) : "–";
  $("st-gets").textContent = dt > 0 ? fmt(rate("gets")) : "–";
  $("st-deletes").textContent = dt > 0 ? fmt(rate("deletes")) : "–";
  const er = rate("errors");
  $("st-errors").textContent = dt > 0 ? fmt(er) : "–";
  $("st-errors").classList.toggle("bad", er > 0);
  $("st-failed").textContent = c.failed;
  $("st-failed").classList.toggle("bad", c.failed > 0);
  $("st-retries").textContent = c.retries;
  $("st-leaders").textContent = c.leader_changes;
  // Write coalescing: how many writes share one Raft entry, on average.
  if (typeof c.batches === "number") {
    $("st-batch-box").hidden = false;
    $("st-batch").textContent = c.batches > 0 ? (c.batched_writes / c.batches).toFixed(2) : "–";
    $("st-batch").title = c.batched_writes + " writes in " + c.batches + " Raft entries; at most " + c.batch_size_max + " in one";
  }
  const up = Math.round((now - Date.parse(st.started)) / 1000);
  $("uptime").textContent = "up " + duration(up) + " · polls nodes every " + st.poll + " · " + st.http.requests + " HTTP requests, " + st.http.client_errors + " client errors, " + st.http.server_errors + " server errors";
}

function duration(s) {
  if (s < 60) return s + " s";
  if (s < 3600) return Math.floor(s / 60) + " min " + (s % 60) + " s";
  return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
}

function ago(t, now) {
  if (!t) return "never";
  const s = Math.max(0, (Date.parse(now) - Date.parse(t)) / 1000);
  return s < 1 ? "just now" : s.toFixed(0) + " s ago";
}

function renderShards(shards) {
  const root = $("shards");
  const cards = shards.map((sh) => {
    const leader = sh.leader ? (sh.leader.id || sh.leader.http) : "";
    const rows = [];
    for (const n of sh.nodes) {
      const name = n.id || n.http;
      // A node of another group, or one whose data is damaged, answers
      // but serves nothing: it is shown as such, with why.
      const flag = n.foreign ? "foreign" : n.damaged ? "damaged" : "";
      const state = !n.reachable ? "down" : flag || n.state || "unknown";
      const served = servedNode && servedNode.shard === sh.shard && servedNode.node === name && Date.now() < servedNode.until;
      const contact = n.reachable && n.last_contact && n.state !== "Leader" ? "last heard from its leader " + n.last_contact + " ago" : null;
      rows.push(el("tr", { class: (n.reachable ? "" : "down") + (served ? " served" : ""), "data-node": name, "data-state": state, "data-up": String(n.reachable) },
        el("th", { scope: "row" },
          el("span", { class: n.leader ? "crown" : "", text: name }),
          el("span", { class: "addr", text: n.http + (n.discovered ? " (found via its group, not in -shard)" : "") })),
        el("td", {}, el("span", { class: "badge " + (n.reachable && !flag ? state : "down"), text: state, title: contact })),
        el("td", { class: "num", text: n.term || "–" }),
        el("td", { class: "num", text: n.commit_index || "–" }),
        el("td", { class: "num", text: n.applied_index || "–" }),
        el("td", { class: "num", text: n.last_seen ? n.keys : "–" }),
        el("td", {}, n.reachable ? "yes" : "no")));
      if (!n.reachable || flag) {
        const seen = n.last_seen ? "last seen " + ago(n.last_seen, lastState.now) : "never seen";
        const why = flag ? tidy(n.problem) || flag : n.problem ? seen + ": " + tidy(n.problem) : seen;
        rows.push(el("tr", { class: "down problem-row" }, el("td", { colspan: "7" }, el("span", { class: "problem", text: why }))));
      }
    }
    return el("article", { class: "shard" + (leader ? "" : " noleader"), id: "shard-" + sh.shard, "data-leader": leader, "aria-labelledby": "shard-h-" + sh.shard },
      el("header", {},
        el("h3", { id: "shard-h-" + sh.shard, text: "Shard " + sh.shard }),
        el("span", { class: "leadline" }, "leader: ", el("strong", { class: "leader-name", text: leader || "none known" }))),
      el("div", { class: "table-wrap" }, el("table", {},
        el("caption", { class: "visually-hidden", text: "Nodes of shard " + sh.shard }),
        el("thead", {}, el("tr", {},
          el("th", { scope: "col", text: "node" }), el("th", { scope: "col", text: "state" }),
          el("th", { scope: "col", class: "num", text: "term" }), el("th", { scope: "col", class: "num", text: "commit" }),
          el("th", { scope: "col", class: "num", text: "applied" }), el("th", { scope: "col", class: "num", text: "keys" }),
          el("th", { scope: "col", text: "up", title: "answered the distributor's last poll" }))),
        el("tbody", {}, ...rows))));
  });
  root.replaceChildren(...cards);
}

// tidy drops the Go HTTP client's preamble (Get "http://...": ) from the
// router's explanations: the address is already on the page.
function tidy(msg) {
  return String(msg || "").replace(/Get "[^"]*": /g, "");
}

const ICONS = { leader: "★", no_leader: "!", node_down: "▼", node_up: "▲", restart: "↻" };

function addEvents(evs) {
  const list = $("events");
  for (const e of evs) {
    if (e.seq) lastSeq = Math.max(lastSeq, e.seq);
    const t = new Date(e.time);
    const li = el("li", { class: "k-" + e.kind, "data-kind": e.kind },
      el("time", { datetime: e.time, text: t.toLocaleTimeString() }),
      el("span", { class: "icon", "aria-hidden": "true", text: ICONS[e.kind] || "•" }),
      el("span", { text: (e.kind === "restart" ? "" : "shard " + e.shard + ": ") + tidy(e.message) }));
    list.prepend(li);
  }
  while (list.children.length > MAX_EVENTS) list.lastChild.remove();
  $("events-empty").hidden = list.children.length > 0;
}

// Key operations go through the distributor's own API, exactly as a client's
// would, and show where the request was routed.
async function keyOp(op) {
  const key = $("kv-key").value;
  const value = $("kv-value").value;
  const out = $("kv-result");
  if (!key) { $("kv-key").focus(); return; }
  let req;
  if (op === "set") req = ["/set", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ clave: key, valor: value }) }];
  else if (op === "get") req = [keyURL("/get", key), { method: "GET" }];
  else req = [keyURL("/delete", key), { method: "DELETE" }];
  const buttons = document.querySelectorAll("#kv button");
  buttons.forEach((b) => (b.disabled = true));
  const started = performance.now();
  try {
    const r = await fetchJSON(req[0], req[1]);
    const ms = Math.round(performance.now() - started);
    const b = r.body || {};
    const shard = b.shard !== undefined ? b.shard : r.headers.get("X-Shard");
    const node = b.node || r.headers.get("X-Raft-Node") || "";
    // A 200 that is not JSON is not the API's answer (a proxy's page, or
    // this page itself): never show it as a success.
    const json = isJSON(r.headers.get("Content-Type"));
    const ok = r.status === 200 && json;
    out.className = "result " + (ok ? "ok" : "err");
    out.dataset.status = r.status;
    out.dataset.shard = shard === null || shard === undefined ? "" : shard;
    out.dataset.node = node;
    const lines = [];
    const verb = { set: "SET", get: "GET", delete: "DELETE" }[op];
    lines.push(el("p", { class: "route" }, el("strong", { text: verb + " " + JSON.stringify(key) }),
      shard !== null && shard !== undefined && shard !== "" ? " → shard " + shard : "",
      node ? " → node " + node : "", " · " + r.status + " in " + ms + " ms"));
    if (ok && op === "get") lines.push(el("p", {}, "value: ", el("code", { text: JSON.stringify(b.valor) })));
    if (ok && op === "set") lines.push(el("p", { class: "muted", text: "committed by a majority of shard " + shard + "; " + node + " is its leader" }));
    if (ok && op === "delete") lines.push(el("p", { class: "muted", text: "deleted (deleting a missing key also succeeds)" }));
    if (!ok && !json) lines.push(el("p", { text: "the answer was not JSON (Content-Type " + (r.headers.get("Content-Type") || "none") + "): it did not come from the distributor's API" }));
    else if (!ok) lines.push(el("p", { text: b.error || "request failed" }));
    out.replaceChildren(...lines);
    if (node && shard !== "") {
      servedNode = { shard: Number(shard), node, until: Date.now() + 2000 };
      if (lastState) renderShards(lastState.shards);
    }
  } catch (e) {
    out.className = "result err";
    out.dataset.status = "0";
    out.replaceChildren(el("p", { text: "The distributor did not answer: " + e.message }));
  } finally {
    buttons.forEach((b) => (b.disabled = false));
  }
}

$("kv").addEventListener("submit", (ev) => { ev.preventDefault(); keyOp("set"); });
$("kv-get").addEventListener("click", () => keyOp("get"));
$("kv-del").addEventListener("click", () => keyOp("delete"));
poll();
