// Sluice console: the page's code (no frameworks, no build step).
//
// Parts, in order:
//   1. small helpers: DOM building, formatting;
//   2. AWS Signature V4 with WebCrypto, and `api()`, the one helper every
//      call to /console/api/ goes through (signed when the server asks);
//   3. the SSE frame parser the live table reads its rows with;
//   4. the router (hash routes) and each view's timers and connections;
//   5. the views: sign-in, overview, app (graph, live table, editor),
//      new app, source schema;
//   6. the SQL editor: line-number gutter, debounced check, problems.
// The pure parts (signing, SSE parsing, graph layout, TOML columns) are also
// exported to Node when this file is `require`d, so they can be tried alone.

"use strict";

/* ------------------------------------------------------------------ */
/* 1. Helpers                                                          */
/* ------------------------------------------------------------------ */

/** Builds an element: el("a", {href: "#/", class: "x", onclick: f}, "text", child). */
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      node.addEventListener(key.slice(2), value);
    } else if (key === "class") {
      node.className = value;
    } else if (key === "text") {
      node.textContent = value;
    } else if (key === "value") {
      node.value = value;
    } else {
      node.setAttribute(key, value === true ? "" : String(value));
    }
  }
  appendAll(node, children);
  return node;
}

/** Appends children (nodes, strings, nested arrays; null skipped). */
function appendAll(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** Replaces all children of `node`. */
function replaceChildren(node, ...children) {
  node.textContent = "";
  return appendAll(node, children);
}

/** A rate such as 12.5 (per second), or "–" when unknown. */
function fmtRate(x) {
  return typeof x === "number" && isFinite(x) ? x.toFixed(1) : "–";
}

/** An integer with thousands separators, or "–". */
function fmtInt(x) {
  return typeof x === "number" && isFinite(x) ? Math.round(x).toLocaleString("en-US") : "–";
}

/** How long before `nowMs` the time `ms` was ("3 s ago"), or "never". */
function fmtAgo(ms, nowMs) {
  if (ms === null || ms === undefined) return "never";
  const s = Math.max(0, Math.round(((nowMs || Date.now()) - ms) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  return new Date(ms).toISOString().replace("T", " ").slice(0, 19) + " UTC";
}

/** The text shown for one cell of the live table. */
function fmtCell(v) {
  if (v === null || v === undefined) return "NULL";
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

/** A status badge: RUNNING green, STOPPED grey, FAILED red. */
function statusBadge(status, testid) {
  const s = String(status || "UNKNOWN");
  return el("span", { class: `badge badge-${s.toLowerCase()}`, "data-testid": testid }, s);
}

/** Shows (or, with null, hides) the page-wide error banner. */
function showBanner(message) {
  const banner = document.getElementById("banner");
  if (!banner) return;
  banner.hidden = !message;
  banner.textContent = message || "";
}

/** The message to show for an error thrown by `api()` or fetch. */
function errorText(err) {
  if (err && err.body && err.body.error) {
    return `${err.body.error.type}: ${err.body.error.message}`;
  }
  return String((err && err.message) || err);
}

/** Encodes one path segment as SigV4 and URLs want it (RFC 3986 unreserved kept). */
function uriEncode(s, keepSlash) {
  let out = "";
  for (const byte of new TextEncoder().encode(String(s))) {
    const c = String.fromCharCode(byte);
    if (/[A-Za-z0-9\-_.~]/.test(c) || (keepSlash && c === "/")) {
      out += c;
    } else {
      out += "%" + byte.toString(16).toUpperCase().padStart(2, "0");
    }
  }
  return out;
}

/** A path under /console/api/ from its segments, each encoded. */
function apiPath(...segments) {
  return "/console/api/" + segments.map((s) => uriEncode(s, false)).join("/");
}

/* ------------------------------------------------------------------ */
/* 2. AWS Signature V4 (WebCrypto) and the one API helper              */
/* ------------------------------------------------------------------ */

const subtle = () => globalThis.crypto.subtle;

function toHex(buffer) {
  return Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, "0")).join("");
}

async function sha256Hex(text) {
  return toHex(await subtle().digest("SHA-256", new TextEncoder().encode(text)));
}

async function hmac(key, text) {
  const k = await subtle().importKey(
    "raw",
    typeof key === "string" ? new TextEncoder().encode(key) : key,
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  return subtle().sign("HMAC", k, new TextEncoder().encode(text));
}

/** The canonical query string: pairs URI-encoded, then sorted. */
function canonicalQuery(query) {
  const decode = (s) => decodeURIComponent(s.replace(/\+/g, " "));
  return query
    .split("&")
    .filter((p) => p)
    .map((p) => {
      const i = p.indexOf("=");
      const [k, v] = i < 0 ? [p, ""] : [p.slice(0, i), p.slice(i + 1)];
      return [uriEncode(decode(k), false), uriEncode(decode(v), false)];
    })
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join("&");
}

/** `20261207T150145Z` for a Date. */
function amzDate(date) {
  return date.toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "");
}

/**
 * Signs one request with SigV4 and returns its Authorization header.
 * `headers` are the headers to sign (names any case); `path` is the path as
 * sent (non-S3 services encode it once more in the canonical request).
 */
async function sigv4Authorization({ method, path, query, headers, payloadHash, accessKeyId, secret, region, service, date }) {
  const stamp = amzDate(date);
  const day = stamp.slice(0, 8);
  const names = Object.keys(headers).map((h) => h.toLowerCase()).sort();
  const byName = {};
  for (const [k, v] of Object.entries(headers)) byName[k.toLowerCase()] = String(v).trim().replace(/\s+/g, " ");
  const canonicalHeaders = names.map((n) => `${n}:${byName[n]}\n`).join("");
  const signedHeaders = names.join(";");
  const canonicalRequest = [
    method,
    uriEncode(path || "/", true),
    canonicalQuery(query || ""),
    canonicalHeaders,
    signedHeaders,
    payloadHash,
  ].join("\n");
  const scope = `${day}/${region}/${service}/aws4_request`;
  const stringToSign = ["AWS4-HMAC-SHA256", stamp, scope, await sha256Hex(canonicalRequest)].join("\n");
  let key = await hmac("AWS4" + secret, day);
  key = await hmac(key, region);
  key = await hmac(key, service);
  key = await hmac(key, "aws4_request");
  const signature = toHex(await hmac(key, stringToSign));
  return `AWS4-HMAC-SHA256 Credential=${accessKeyId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`;
}

/** What the server told us on load, and the keys typed at sign-in (memory only). */
const session = {
  auth: "off",
  regionHint: "us-east-1",
  accessKeyId: null,
  secret: null,
  region: "us-east-1",
};

/** An API answer that was not 2xx: its status and JSON body (if any). */
class ApiError extends Error {
  constructor(status, body, text) {
    super(body && body.error ? `${body.error.type}: ${body.error.message}` : `HTTP ${status}: ${text || ""}`.trim());
    this.status = status;
    this.body = body;
  }
}

/**
 * Calls the console API: `api("GET", apiPath("overview"))`. Signs the call
 * under `--auth sigv4`. Returns the parsed JSON, or throws ApiError on a
 * 4xx/5xx. With `{stream: true}` returns the Response itself (the live rows,
 * read with its body reader); `signal` aborts it.
 */
async function api(method, path, body, { stream = false, signal } = {}) {
  const text = body === undefined || body === null ? "" : JSON.stringify(body);
  const headers = {};
  if (text) headers["content-type"] = "application/json";
  if (session.auth === "sigv4" && path.startsWith("/console/api/")) {
    const date = new Date();
    const payloadHash = await sha256Hex(text);
    const [pathname, query = ""] = path.split("?");
    const signed = { host: location.host, "x-amz-date": amzDate(date), "x-amz-content-sha256": payloadHash };
    headers["authorization"] = await sigv4Authorization({
      method,
      path: pathname,
      query,
      headers: signed,
      payloadHash,
      accessKeyId: session.accessKeyId,
      secret: session.secret,
      region: session.region,
      service: "kinesis",
      date,
    });
    headers["x-amz-date"] = signed["x-amz-date"];
    headers["x-amz-content-sha256"] = payloadHash;
  }
  const res = await fetch(path, { method, headers, body: text || undefined, signal, cache: "no-store" });
  if (stream && res.ok) return res;
  const answer = await res.text();
  let json = null;
  try {
    json = answer ? JSON.parse(answer) : null;
  } catch (_) {
    json = null;
  }
  if (!res.ok) throw new ApiError(res.status, json, answer);
  return json;
}

/* ------------------------------------------------------------------ */
/* 3. SSE frames (text/event-stream) read from a fetch body            */
/* ------------------------------------------------------------------ */

/**
 * A parser fed text chunks as they arrive; calls onFrame(event, data) for
 * each frame: `event:` and `data:` lines, a blank line ends the frame, lines
 * starting with `:` are comments. Several `data:` lines join with "\n".
 */
function createSseParser(onFrame) {
  let buffer = "";
  let event = "";
  let data = [];
  function line(text) {
    if (text === "") {
      if (data.length) onFrame(event || "message", data.join("\n"));
      event = "";
      data = [];
      return;
    }
    if (text.startsWith(":")) return;
    const i = text.indexOf(":");
    const field = i < 0 ? text : text.slice(0, i);
    let value = i < 0 ? "" : text.slice(i + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") event = value;
    else if (field === "data") data.push(value);
  }
  return function feed(chunk) {
    buffer += chunk;
    let i;
    while ((i = buffer.indexOf("\n")) >= 0) {
      let text = buffer.slice(0, i);
      buffer = buffer.slice(i + 1);
      if (text.endsWith("\r")) text = text.slice(0, -1);
      line(text);
    }
  };
}

/**
 * Reads the SSE stream at `path` until it ends, calling onFrame for each
 * frame; then, unless stopped, connects again after a second. Returns a
 * function that stops it for good.
 */
function followEvents(path, onFrame, onState) {
  let stopped = false;
  let controller = null;
  let retry = null;
  async function connect() {
    controller = new AbortController();
    onState("connecting");
    try {
      const res = await api("GET", path, null, { stream: true, signal: controller.signal });
      onState("live");
      const reader = res.body.getReader();
      const decoder = new TextDecoder();
      const feed = createSseParser(onFrame);
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        feed(decoder.decode(value, { stream: true }));
      }
      onState("ended");
    } catch (err) {
      if (stopped) return;
      onState("error", err);
    }
    if (!stopped) retry = setTimeout(connect, 1000);
  }
  connect();
  return function stop() {
    stopped = true;
    clearTimeout(retry);
    if (controller) controller.abort();
  };
}

/* ------------------------------------------------------------------ */
/* 4. Router: hash routes, and what each view must stop when left      */
/* ------------------------------------------------------------------ */

/** Timers and connections of the current view, stopped on the next route. */
let viewCleanups = [];
/** Counts routes; an answer that comes after its view was left is dropped. */
let viewGeneration = 0;

function onLeave(fn) {
  viewCleanups.push(fn);
}

/** setInterval that also runs at once, and stops when the view is left. */
function every(ms, fn) {
  let busy = false;
  const tick = async () => {
    if (busy) return; // the last call has not answered yet
    busy = true;
    try {
      await fn();
    } finally {
      busy = false;
    }
  };
  tick();
  const id = setInterval(tick, ms);
  onLeave(() => clearInterval(id));
}

/** Config passed from the schema view to #/new ("Use in new app"). */
let pendingNewApp = null;

function route() {
  for (const fn of viewCleanups) fn();
  viewCleanups = [];
  viewGeneration++;
  showBanner(null);
  const view = document.getElementById("view");
  if (session.auth === "sigv4" && !session.secret) {
    renderSignIn(view);
    return;
  }
  const hash = location.hash.replace(/^#/, "") || "/";
  const parts = hash.split("/").filter((p) => p).map(decodeURIComponent);
  if (parts[0] === "app" && parts[1]) renderApp(view, parts[1]);
  else if (parts[0] === "new") renderNewApp(view);
  else if (parts[0] === "schema" && parts[1]) renderSchema(view, parts[1]);
  else renderOverview(view);
}

/** Shows who is signed in (sigv4 only) and a sign-out button. */
function renderWhoami() {
  const box = document.getElementById("whoami");
  if (session.auth !== "sigv4" || !session.secret) {
    replaceChildren(box);
    return;
  }
  replaceChildren(
    box,
    el("span", { class: "muted" }, `${session.accessKeyId} · ${session.region}`),
    el("button", { class: "link-button", type: "button", onclick: signOut, "data-testid": "sign-out" }, "Sign out"),
  );
}

function signOut() {
  session.accessKeyId = null;
  session.secret = null;
  renderWhoami();
  route();
}

/** On load: ask the server whether to sign, then show the route. */
async function start() {
  try {
    const config = await api("GET", "/console/config");
    session.auth = config.auth === "sigv4" ? "sigv4" : "off";
    session.regionHint = config.region_hint || "us-east-1";
    session.region = session.regionHint;
  } catch (err) {
    showBanner(`Could not read /console/config: ${errorText(err)}`);
  }
  window.addEventListener("hashchange", route);
  renderWhoami();
  route();
}

/* ------------------------------------------------------------------ */
/* 5a. Sign-in (only with --auth sigv4)                                */
/* ------------------------------------------------------------------ */

function renderSignIn(view) {
  const key = el("input", { id: "signin-key", "data-testid": "signin-key", autocomplete: "username", required: true });
  const secret = el("input", {
    id: "signin-secret",
    "data-testid": "signin-secret",
    type: "password",
    autocomplete: "current-password",
    required: true,
  });
  const region = el("input", { id: "signin-region", "data-testid": "signin-region", value: session.region, required: true });
  const error = el("p", { class: "error", role: "alert", "data-testid": "signin-error", hidden: true });
  const submit = el("button", { type: "submit", class: "primary", "data-testid": "signin-submit" }, "Sign in");

  async function onSubmit(event) {
    event.preventDefault();
    submit.disabled = true;
    error.hidden = true;
    session.accessKeyId = key.value.trim();
    session.secret = secret.value;
    session.region = region.value.trim() || "us-east-1";
    try {
      // A signed call the server must accept before anything else is shown.
      await api("GET", apiPath("overview"));
      renderWhoami();
      route();
    } catch (err) {
      session.secret = null;
      error.textContent = `Sign-in failed: ${errorText(err)}`;
      error.hidden = false;
    } finally {
      submit.disabled = false;
    }
  }

  replaceChildren(
    view,
    el(
      "section",
      { class: "panel signin", "data-testid": "signin" },
      el("h1", {}, "Sign in"),
      el("p", { class: "muted" }, "This server checks AWS Signature V4. Your secret key stays in this page's memory; it is never stored or sent."),
      el(
        "form",
        { onsubmit: onSubmit },
        el("label", { for: "signin-key" }, "Access key ID"),
        key,
        el("label", { for: "signin-secret" }, "Secret access key"),
        secret,
        el("label", { for: "signin-region" }, "Region"),
        region,
        el("div", { class: "actions" }, submit),
        error,
      ),
    ),
  );
  key.focus();
}

/* ------------------------------------------------------------------ */
/* 5b. Overview (#/)                                                   */
/* ------------------------------------------------------------------ */

/** A table with a header row and an empty body to fill later. */
function dataTable(testid, headings) {
  const tbody = el("tbody");
  const table = el(
    "table",
    { class: "data", "data-testid": testid },
    el("thead", {}, el("tr", {}, headings.map((h) => el("th", { scope: "col" }, h)))),
    tbody,
  );
  return { table, tbody, columns: headings.length };
}

/** Fills a table body with rows, or one "none" row. */
function fillRows(t, rows, empty) {
  replaceChildren(t.tbody, rows.length ? rows : el("tr", {}, el("td", { colspan: t.columns, class: "muted" }, empty)));
}

function renderOverview(view) {
  const streams = dataTable("streams-table", ["Name", "Status", "Shards", "Retention (h)", "Records in/s", "Records out/s"]);
  const delivery = dataTable("delivery-table", [
    "Name",
    "Status",
    "Buffered records",
    "Buffered bytes",
    "Objects",
    "Last delivery",
    "Failed attempts",
  ]);
  const video = dataTable("video-table", ["Name", "Status", "Fragments", "Fragments/s", "Last fragment"]);
  const apps = dataTable("apps-table", ["Application", "Status", "Rows/s", "Input lag (ms)", "Pumps"]);
  const updated = el("span", { class: "muted", "data-testid": "overview-updated" });

  replaceChildren(
    view,
    el(
      "div",
      { "data-testid": "overview" },
      el(
        "div",
        { class: "page-head" },
        el("h1", {}, "Overview"),
        updated,
        el("button", { type: "button", class: "primary", "data-testid": "new-app", onclick: () => (location.hash = "#/new") }, "New app"),
      ),
      el("section", { class: "panel" }, el("h2", {}, "Applications"), apps.table),
      el("section", { class: "panel" }, el("h2", {}, "Kinesis data streams"), streams.table, createStreamForm()),
      el("section", { class: "panel" }, el("h2", {}, "Firehose delivery streams"), delivery.table),
      el("section", { class: "panel" }, el("h2", {}, "Kinesis video streams"), video.table),
    ),
  );

  const generation = viewGeneration;
  every(1000, async () => {
    let o;
    try {
      o = await api("GET", apiPath("overview"));
    } catch (err) {
      if (generation === viewGeneration) showBanner(`Overview: ${errorText(err)}`);
      return;
    }
    if (generation !== viewGeneration) return;
    showBanner(null);
    updated.textContent = `updated ${new Date(o.now_ms || Date.now()).toLocaleTimeString()}`;
    fillRows(apps, (o.apps || []).map(appRow), "No applications. Use “New app” to write one.");
    fillRows(streams, (o.streams || []).map(streamRow), "No data streams.");
    fillRows(delivery, (o.delivery_streams || []).map((d) => deliveryRow(d, o.now_ms)), "No delivery streams.");
    fillRows(video, (o.video_streams || []).map((v) => videoRow(v, o.now_ms)), "No video streams.");
  });
}

function appRow(a) {
  return el(
    "tr",
    { "data-testid": `app-row-${a.name}` },
    el("td", {}, el("a", { href: `#/app/${encodeURIComponent(a.name)}`, "data-testid": `app-link-${a.name}` }, a.name)),
    el("td", {}, statusBadge(a.status, `app-status-${a.name}`), a.error ? el("div", { class: "error small" }, a.error) : null),
    el("td", { class: "num" }, fmtRate(a.rows_per_s)),
    el("td", { class: "num" }, a.input_lag_ms === null || a.input_lag_ms === undefined ? "–" : fmtInt(a.input_lag_ms)),
    el("td", {}, pumpList(a.pumps)),
  );
}

/** "PUMP → TARGET 1.5 rows/s" per pump. */
function pumpList(pumps) {
  if (!pumps || !pumps.length) return el("span", { class: "muted" }, "none");
  return el(
    "ul",
    { class: "plain" },
    pumps.map((p) => el("li", {}, el("code", {}, p.name), " → ", el("code", {}, p.target), ` ${fmtRate(p.rows_per_s)} rows/s`)),
  );
}

function streamRow(s) {
  return el(
    "tr",
    { "data-testid": `stream-row-${s.name}` },
    el("td", {}, el("a", { href: `#/schema/${encodeURIComponent(s.name)}`, "data-testid": `stream-link-${s.name}`, title: "Source schema" }, s.name)),
    el("td", {}, s.status),
    el("td", { class: "num" }, fmtInt(s.shards)),
    el("td", { class: "num" }, fmtInt(s.retention_hours)),
    el("td", { class: "num" }, fmtRate(s.records_in_per_s)),
    el("td", { class: "num" }, fmtRate(s.records_out_per_s)),
  );
}

function deliveryRow(d, nowMs) {
  return el(
    "tr",
    { "data-testid": `delivery-row-${d.name}` },
    el("td", {}, d.name),
    el("td", {}, d.status),
    el("td", { class: "num" }, fmtInt(d.buffered_records)),
    el("td", { class: "num" }, fmtInt(d.buffered_bytes)),
    el("td", { class: "num" }, fmtInt(d.objects)),
    el("td", {}, fmtAgo(d.last_delivery_ms, nowMs)),
    el("td", { class: d.failed_attempts ? "num error" : "num" }, fmtInt(d.failed_attempts)),
  );
}

function videoRow(v, nowMs) {
  return el(
    "tr",
    { "data-testid": `video-row-${v.name}` },
    el("td", {}, v.name),
    el("td", {}, v.status),
    el("td", { class: "num" }, fmtInt(v.fragments)),
    el("td", { class: "num" }, fmtRate(v.fragments_per_s)),
    el("td", {}, fmtAgo(v.last_fragment_ms, nowMs)),
  );
}

/** The small "Create stream" form under the data streams table. */
function createStreamForm() {
  const name = el("input", { id: "create-stream-name", "data-testid": "create-stream-name", required: true, pattern: "[A-Za-z0-9_.\\-]{1,128}" });
  const shards = el("input", { id: "create-stream-shards", "data-testid": "create-stream-shards", type: "number", min: 1, max: 64, value: "1", required: true });
  const message = el("span", { class: "muted", role: "status", "data-testid": "create-stream-message" });
  async function onSubmit(event) {
    event.preventDefault();
    message.className = "muted";
    message.textContent = "Creating…";
    try {
      const r = await api("POST", apiPath("streams"), { name: name.value.trim(), shards: Number(shards.value) || 1 });
      message.textContent = `Created ${r.name}.`;
      name.value = "";
    } catch (err) {
      message.className = "error";
      message.textContent = errorText(err);
    }
  }
  return el(
    "form",
    { class: "inline-form", onsubmit: onSubmit, "data-testid": "create-stream" },
    el("h3", {}, "Create stream"),
    el("label", { for: "create-stream-name" }, "Name"),
    name,
    el("label", { for: "create-stream-shards" }, "Shards"),
    shards,
    el("button", { type: "submit", "data-testid": "create-stream-submit" }, "Create stream"),
    message,
  );
}

/* ------------------------------------------------------------------ */
/* 5c. App view (#/app/NAME): status, graph, live table, editor        */
/* ------------------------------------------------------------------ */

function renderApp(view, name) {
  const status = el("span", { "data-testid": "app-status-box" });
  const error = el("p", { class: "error", "data-testid": "app-error", hidden: true });
  const metrics = el("span", { class: "muted", "data-testid": "app-metrics" });
  const graph = el("div", { class: "graph", "data-testid": "graph" });
  const actionMessage = el("span", { class: "muted", role: "status", "data-testid": "app-action-message" });
  const live = createLiveTable(name);
  let editor = null;

  const action = (label, testid, path, body) =>
    el("button", {
      type: "button",
      "data-testid": testid,
      onclick: async (event) => {
        event.target.disabled = true;
        actionMessage.textContent = `${label}…`;
        try {
          show(await api("POST", path, body));
          actionMessage.textContent = "";
          live.reconnect();
        } catch (err) {
          actionMessage.textContent = errorText(err);
        } finally {
          event.target.disabled = false;
        }
      },
    }, label);
  const startAt = (position) =>
    action(`Start from ${position}`, `start-${position}`, apiPath("apps", name, "start"), { position });

  replaceChildren(
    view,
    el(
      "div",
      { "data-testid": "app-view" },
      el(
        "div",
        { class: "page-head" },
        el("h1", {}, el("a", { href: "#/" }, "Overview"), " / ", name),
        status,
        metrics,
      ),
      error,
      el(
        "div",
        { class: "actions" },
        action("Stop", "stop", apiPath("apps", name, "stop")),
        startAt("NOW"),
        startAt("TRIM_HORIZON"),
        startAt("LAST_STOPPED_POINT"),
        actionMessage,
      ),
      el("section", { class: "panel" }, el("h2", {}, "Application graph"), graph),
      el("section", { class: "panel" }, el("h2", {}, "In-application streams"), live.root),
      el("section", { class: "panel", id: "editor-panel" }, el("h2", {}, "SQL"), el("div", { "data-testid": "editor-slot" })),
    ),
  );
  onLeave(live.stop);

  /** Shows one AppDetail: status, metrics, graph, stream list (the editor once). */
  function show(app) {
    replaceChildren(status, statusBadge(app.status, "app-status"));
    error.hidden = !app.error;
    error.textContent = app.error || "";
    metrics.textContent = `${fmtRate(app.rows_per_s)} rows/s · input lag ${
      app.input_lag_ms === null || app.input_lag_ms === undefined ? "–" : fmtInt(app.input_lag_ms) + " ms"
    }`;
    replaceChildren(graph, renderGraph(app.graph || { nodes: [], edges: [] }));
    live.setStreams(app.streams || []);
    if (!editor) {
      editor = createEditor({
        sql: app.sql || "",
        config: app.config || "",
        appName: () => name,
        onSaved: (saved) => {
          show(saved);
          live.reconnect();
        },
      });
      const slot = view.querySelector('[data-testid="editor-slot"]');
      slot.replaceWith(editor.root);
    }
  }

  const generation = viewGeneration;
  every(2000, async () => {
    try {
      const app = await api("GET", apiPath("apps", name));
      if (generation !== viewGeneration) return;
      show(app);
      showBanner(null);
    } catch (err) {
      if (generation !== viewGeneration) return;
      if (err.status === 404) {
        replaceChildren(view, el("section", { class: "panel", "data-testid": "app-missing" }, el("h1", {}, "No such application"), el("p", {}, errorText(err)), el("a", { href: "#/" }, "Back to the overview")));
        for (const fn of viewCleanups) fn();
        viewCleanups = [];
        return;
      }
      showBanner(`Application ${name}: ${errorText(err)}`);
    }
  });
}

/* The graph: columns by kind and depth, drawn as inline SVG. */

const GRAPH = { colWidth: 250, rowHeight: 66, nodeWidth: 210, nodeHeight: 46, pad: 16 };
const KIND_ORDER = { source: 0, reference: 1, stream: 2, pump: 3, output: 4, error: 5 };

/**
 * Lays the graph out in columns: each node one column right of the furthest
 * node feeding it (source → stream → pump → stream → … → output); reference
 * tables one column left of what reads them, below the other nodes of that
 * column; error_stream in the last column, at the bottom. Returns
 * {positions: {id: {col, row}}, cols, rows}.
 */
function layoutGraph(graph) {
  const nodes = graph.nodes || [];
  const edges = (graph.edges || []).filter((e) => nodes.some((n) => n.id === e.from) && nodes.some((n) => n.id === e.to));
  const kind = Object.fromEntries(nodes.map((n) => [n.id, n.kind]));
  const depth = {};
  // Longest path from the sources (bounded, so a cycle cannot loop forever).
  const flowing = edges.filter((e) => kind[e.from] !== "reference" && kind[e.from] !== "error" && kind[e.to] !== "error");
  for (const n of nodes) depth[n.id] = 0;
  for (let pass = 0; pass < nodes.length; pass++) {
    let changed = false;
    for (const e of flowing) {
      if (depth[e.to] < depth[e.from] + 1) {
        depth[e.to] = depth[e.from] + 1;
        changed = true;
      }
    }
    if (!changed) break;
  }
  let last = 0;
  for (const n of nodes) if (n.kind !== "reference" && n.kind !== "error") last = Math.max(last, depth[n.id]);
  for (const n of nodes) {
    if (n.kind === "reference") {
      const readers = edges.filter((e) => e.from === n.id).map((e) => depth[e.to]);
      depth[n.id] = readers.length ? Math.max(0, Math.min(...readers) - 1) : 0;
    } else if (n.kind === "error") {
      depth[n.id] = last;
    }
  }
  const band = (n) => (n.kind === "error" ? 2 : n.kind === "reference" ? 1 : 0);
  const sorted = [...nodes].sort(
    (a, b) => band(a) - band(b) || (KIND_ORDER[a.kind] ?? 9) - (KIND_ORDER[b.kind] ?? 9) || String(a.label).localeCompare(String(b.label)),
  );
  const nextRow = {};
  const positions = {};
  let rows = 0;
  for (const n of sorted) {
    const col = depth[n.id];
    const row = nextRow[col] || 0;
    nextRow[col] = row + 1;
    positions[n.id] = { col, row };
    rows = Math.max(rows, row + 1);
  }
  const cols = nodes.length ? Math.max(...Object.values(positions).map((p) => p.col)) + 1 : 0;
  return { positions, cols, rows };
}

const SVG_NS = "http://www.w3.org/2000/svg";

function svg(tag, attrs, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

/** The app graph as an <svg>: boxes labelled with rows/s, arrows between them. */
function renderGraph(graph) {
  const nodes = graph.nodes || [];
  if (!nodes.length) return el("p", { class: "muted" }, "No graph yet.");
  const { positions, cols, rows } = layoutGraph(graph);
  const g = GRAPH;
  const width = cols * g.colWidth - (g.colWidth - g.nodeWidth) + 2 * g.pad;
  const height = rows * g.rowHeight - (g.rowHeight - g.nodeHeight) + 2 * g.pad;
  const at = (id) => ({ x: g.pad + positions[id].col * g.colWidth, y: g.pad + positions[id].row * g.rowHeight });
  const root = svg("svg", {
    width,
    height,
    viewBox: `0 0 ${width} ${height}`,
    role: "img",
    "aria-label": "Application graph",
  });
  root.append(
    svg("defs", {}, svg("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto" }, svg("path", { d: "M0,0 L10,5 L0,10 z", class: "arrow-head" }))),
  );
  for (const e of graph.edges || []) {
    if (!positions[e.from] || !positions[e.to]) continue;
    const a = at(e.from);
    const b = at(e.to);
    const x1 = a.x + g.nodeWidth;
    const y1 = a.y + g.nodeHeight / 2;
    const x2 = b.x;
    const y2 = b.y + g.nodeHeight / 2;
    const bend = Math.max(30, (x2 - x1) / 2);
    root.append(svg("path", { class: "edge", d: `M${x1},${y1} C${x1 + bend},${y1} ${x2 - bend},${y2} ${x2},${y2}`, "marker-end": "url(#arrow)" }));
  }
  for (const n of nodes) {
    const p = at(n.id);
    const label = String(n.label);
    root.append(
      svg(
        "g",
        { class: `node node-${n.kind}`, "data-node-id": n.id, "data-testid": `graph-node-${n.id}`, transform: `translate(${p.x},${p.y})` },
        svg("title", {}, `${n.kind}: ${label}`),
        svg("rect", { width: g.nodeWidth, height: g.nodeHeight, rx: 6 }),
        svg("text", { x: 10, y: 19, class: "node-label" }, label.length > 25 ? label.slice(0, 24) + "…" : label),
        svg("text", { x: 10, y: 36, class: "node-rate" }, `${n.kind} · ${fmtRate(n.rows_per_s)} rows/s`),
      ),
    );
  }
  return root;
}

/* The live table: newest rows first, fed by the rows SSE stream. */

const MAX_ROWS = 1000;

function createLiveTable(appName) {
  const picker = el("select", { id: "stream-picker", "data-testid": "stream-picker" });
  const pause = el("button", { type: "button", "data-testid": "pause", "aria-pressed": "false" }, "Pause");
  const state = el("span", { class: "muted", role: "status", "data-testid": "live-state" });
  const count = el("span", { class: "muted", "data-testid": "live-count" });
  const thead = el("thead");
  const tbody = el("tbody");
  const table = el("table", { class: "data live", "data-testid": "live-table" }, thead, tbody);
  let columns = [];
  let rows = [];
  let paused = false;
  let stopStream = null;
  let drawPending = false;
  let current = null;
  let unseen = 0; // rows that came while paused
  let closed = false; // the view was left: connect no more

  function draw() {
    drawPending = false;
    replaceChildren(thead, el("tr", {}, columns.map((c) => el("th", { scope: "col", title: c.type }, c.name))));
    replaceChildren(
      tbody,
      rows.length
        ? rows.map((r) => el("tr", { "data-row": "" }, columns.map((c) => el("td", { class: r[c.name] === null ? "muted" : null }, fmtCell(r[c.name])))))
        : el("tr", {}, el("td", { colspan: Math.max(1, columns.length), class: "muted" }, "No rows yet.")),
    );
    unseen = 0;
    showCount();
  }
  function showCount() {
    const shown = tbody.querySelectorAll("tr[data-row]").length;
    count.textContent = `${shown} row${shown === 1 ? "" : "s"}${paused ? ` (paused, ${unseen} new)` : ""}`;
  }
  function scheduleDraw() {
    if (paused || drawPending) return;
    drawPending = true;
    requestAnimationFrame(draw);
  }
  function onFrame(event, data) {
    let msg;
    try {
      msg = JSON.parse(data);
    } catch (_) {
      return;
    }
    if (event === "schema") {
      // A new connection: the first rows frame repeats what the app kept.
      columns = msg.columns || [];
      if (!columns.some((c) => c.name === "ROWTIME")) columns.unshift({ name: "ROWTIME", type: "TIMESTAMP" });
      rows = [];
      scheduleDraw();
    } else if (event === "rows") {
      const fresh = (msg.rows || []).slice().reverse();
      rows = fresh.concat(rows).slice(0, MAX_ROWS);
      if (!columns.length && fresh.length) columns = Object.keys(fresh[0]).map((name) => ({ name, type: "" }));
      if (paused) {
        unseen += fresh.length;
        showCount();
      }
      scheduleDraw();
    }
  }
  function connect() {
    if (stopStream) stopStream();
    stopStream = null;
    if (closed) return;
    columns = [];
    rows = [];
    draw();
    if (!current) return;
    stopStream = followEvents(apiPath("apps", appName, "streams", current, "rows"), onFrame, (s, err) => {
      state.textContent = s === "error" ? `disconnected (${errorText(err)}); retrying` : s;
    });
  }
  picker.addEventListener("change", () => {
    current = picker.value;
    connect();
  });
  pause.addEventListener("click", () => {
    paused = !paused;
    pause.textContent = paused ? "Resume" : "Pause";
    pause.setAttribute("aria-pressed", String(paused));
    draw();
  });

  /** Offers the app's streams; keeps the choice, first choosing DESTINATION_SQL_STREAM. */
  function setStreams(streams) {
    const have = Array.from(picker.options, (o) => o.value);
    if (have.join("\n") !== streams.join("\n")) {
      replaceChildren(picker, streams.map((s) => el("option", { value: s }, s)));
    }
    if (!current || !streams.includes(current)) {
      current = streams.includes("DESTINATION_SQL_STREAM") ? "DESTINATION_SQL_STREAM" : streams[0] || null;
      picker.value = current || "";
      connect();
    } else {
      picker.value = current;
    }
  }

  const root = el(
    "div",
    { class: "live-wrap" },
    el("div", { class: "toolbar" }, el("label", { for: "stream-picker" }, "Stream"), picker, pause, count, state),
    el("div", { class: "table-scroll" }, table),
  );
  draw();
  return {
    root,
    setStreams,
    reconnect: () => current && connect(),
    stop: () => {
      closed = true;
      if (stopStream) stopStream();
    },
  };
}

/* ------------------------------------------------------------------ */
/* 5d. New app (#/new): name, template, then the editor                */
/* ------------------------------------------------------------------ */

function renderNewApp(view) {
  const prefill = pendingNewApp;
  pendingNewApp = null;
  const name = el("input", { id: "new-app-name", "data-testid": "new-app-name", required: true, pattern: "[A-Za-z0-9_.\\-]{1,64}", placeholder: "my-app" });
  const templatePicker = el("select", { id: "template-picker", "data-testid": "template-picker" }, el("option", { value: "" }, "— none —"));
  const streamPicker = el("select", { id: "template-stream", "data-testid": "template-stream" });
  const hint = el("span", { class: "muted", "data-testid": "template-hint" });
  let templates = [];
  const editor = createEditor({
    sql: prefill ? prefill.sql : "",
    config: prefill ? prefill.config : "",
    appName: () => name.value.trim(),
    onSaved: (saved) => (location.hash = `#/app/${encodeURIComponent(saved.name || name.value.trim())}`),
  });

  /** Puts the chosen template in the editor, `{{stream}}` replaced. */
  function applyTemplate() {
    const t = templates.find((x) => x.id === templatePicker.value);
    if (!t) return;
    const stream = streamPicker.value;
    editor.setSql(t.sql);
    editor.setConfig(stream ? t.config.split("{{stream}}").join(stream) : t.config);
    hint.textContent = stream ? "" : "Create a Kinesis data stream first, then pick it here.";
  }
  templatePicker.addEventListener("change", applyTemplate);
  streamPicker.addEventListener("change", applyTemplate);

  replaceChildren(
    view,
    el(
      "div",
      { "data-testid": "new-app-view" },
      el("div", { class: "page-head" }, el("h1", {}, el("a", { href: "#/" }, "Overview"), " / New application")),
      el(
        "section",
        { class: "panel" },
        el(
          "div",
          { class: "form-grid" },
          el("label", { for: "new-app-name" }, "Application name"),
          name,
          el("label", { for: "template-picker" }, "Template"),
          templatePicker,
          el("label", { for: "template-stream" }, "Input stream"),
          el("div", {}, streamPicker, " ", hint),
        ),
      ),
      el("section", { class: "panel" }, el("h2", {}, "SQL"), editor.root),
    ),
  );
  name.focus();

  // The templates and the streams they can read, once.
  (async () => {
    try {
      const [t, o] = await Promise.all([api("GET", apiPath("templates")), api("GET", apiPath("overview"))]);
      templates = t.templates || [];
      appendAll(templatePicker, templates.map((x) => el("option", { value: x.id }, x.title || x.id)));
      const names = (o.streams || []).map((s) => s.name);
      replaceChildren(streamPicker, names.length ? names.map((n) => el("option", { value: n }, n)) : el("option", { value: "" }, "(no streams)"));
      if (prefill && prefill.stream && names.includes(prefill.stream)) streamPicker.value = prefill.stream;
      templatePicker.dataset.loaded = "true";
    } catch (err) {
      showBanner(`Templates: ${errorText(err)}`);
    }
  })();
}

/* ------------------------------------------------------------------ */
/* 5e. Source schema (#/schema/STREAM)                                 */
/* ------------------------------------------------------------------ */

/** A TOML basic string. */
function tomlString(s) {
  return '"' + String(s).replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n") + '"';
}

/**
 * Rewrites the `columns = [...]` array of an [[input]] section with
 * `columns`; returns the text unchanged when it has no such array.
 */
function replaceTomlColumns(toml, columns) {
  const lines = columns.map((c) => `  { name = ${tomlString(c.name)}, type = ${tomlString(c.sql_type)}, mapping = ${tomlString(c.mapping)} },`);
  const block = `columns = [\n${lines.join("\n")}\n]`;
  const re = /^columns\s*=\s*\[[\s\S]*?^\]/m;
  if (re.test(toml)) return toml.replace(re, () => block);
  const inline = /^columns\s*=\s*\[[^\n]*\]\s*$/m;
  if (inline.test(toml)) return toml.replace(inline, () => block);
  return toml;
}

/** A starting SQL for an app reading `columns` from SOURCE_SQL_STREAM_001. */
function passThroughSql(columns) {
  if (!columns.length) return "";
  const quote = (n) => `"${String(n).replace(/"/g, '""')}"`;
  return [
    'CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (',
    columns.map((c, i) => `    ${quote(c.name)} ${c.sql_type}${i < columns.length - 1 ? "," : ""}`).join("\n") + ");",
    "",
    'CREATE OR REPLACE PUMP "STREAM_PUMP" AS',
    '  INSERT INTO "DESTINATION_SQL_STREAM"',
    `    SELECT STREAM ${columns.map((c) => quote(c.name)).join(", ")}`,
    '    FROM "SOURCE_SQL_STREAM_001";',
    "",
  ].join("\n");
}

function renderSchema(view, stream) {
  const records = el("div", { class: "records", "data-testid": "schema-records" });
  const columnsTable = dataTable("schema-columns", ["Column", "SQL type", "Mapping"]);
  const toml = el("textarea", { id: "schema-toml", "data-testid": "schema-toml", rows: 14, spellcheck: "false", wrap: "off", class: "code" });
  const message = el("span", { class: "muted", role: "status" });
  let columns = [];

  function onColumnEdit(i, field, value) {
    columns[i][field] = value;
    toml.value = replaceTomlColumns(toml.value, columns);
  }
  function columnInput(i, field, label) {
    return el("input", {
      value: columns[i][field],
      "aria-label": `${label} of column ${i + 1}`,
      "data-testid": `schema-${field}-${i}`,
      oninput: (event) => onColumnEdit(i, field, event.target.value),
    });
  }
  async function load() {
    message.textContent = "Sampling…";
    try {
      const s = await api("GET", `${apiPath("streams", stream, "schema")}?limit=100`);
      columns = (s.columns || []).map((c) => ({ ...c }));
      replaceChildren(
        records,
        (s.records || []).length
          ? (s.records || []).slice(0, 20).map((r) => el("pre", { class: "record" }, r))
          : el("p", { class: "muted" }, "No records in this stream yet. Put some, then refresh."),
      );
      fillRows(
        columnsTable,
        columns.map((_, i) =>
          el("tr", {}, el("td", {}, columnInput(i, "name", "Name")), el("td", {}, columnInput(i, "sql_type", "SQL type")), el("td", {}, columnInput(i, "mapping", "Mapping"))),
        ),
        "No columns inferred.",
      );
      toml.value = s.input_toml || "";
      message.textContent = `${(s.records || []).length} record(s) sampled.`;
    } catch (err) {
      message.textContent = "";
      showBanner(`Schema of ${stream}: ${errorText(err)}`);
    }
  }
  function useInNewApp() {
    pendingNewApp = { config: toml.value, sql: passThroughSql(columns), stream };
    location.hash = "#/new";
  }

  replaceChildren(
    view,
    el(
      "div",
      { "data-testid": "schema-view" },
      el(
        "div",
        { class: "page-head" },
        el("h1", {}, el("a", { href: "#/" }, "Overview"), ` / ${stream} / source schema`),
        message,
      ),
      el(
        "div",
        { class: "actions" },
        el("button", { type: "button", onclick: load, "data-testid": "schema-refresh" }, "Sample again"),
        el("button", { type: "button", class: "primary", onclick: useInNewApp, "data-testid": "use-in-new-app" }, "Use in new app"),
      ),
      el("section", { class: "panel" }, el("h2", {}, "Inferred columns"), columnsTable.table),
      el("section", { class: "panel" }, el("h2", {}, el("label", { for: "schema-toml" }, "app.toml input section")), toml),
      el("section", { class: "panel" }, el("h2", {}, "Sample records"), records),
    ),
  );
  load();
}

/* ------------------------------------------------------------------ */
/* 6. The SQL editor: gutter, debounced check, problems, Save & run    */
/* ------------------------------------------------------------------ */

/**
 * A textarea with a line-number gutter that follows its line count and its
 * scrolling. `markLines(set)` marks gutter lines (class problem-line).
 */
function createCodeArea(id, label, testid, rows) {
  const gutter = el("div", { class: "gutter", "aria-hidden": "true", "data-testid": `${testid}-gutter` });
  const area = el("textarea", { id, "data-testid": testid, rows, wrap: "off", spellcheck: "false", autocapitalize: "off", autocomplete: "off", class: "code" });
  let marked = new Set();
  let lineCount = -1;

  function drawGutter() {
    const n = area.value.split("\n").length;
    if (n !== lineCount) {
      lineCount = n;
      const lines = [];
      for (let i = 1; i <= n; i++) lines.push(el("div", { class: "gutter-line", "data-line": i }, String(i)));
      replaceChildren(gutter, lines, el("div", { class: "gutter-end" }));
    }
    for (const line of gutter.querySelectorAll(".gutter-line")) {
      line.classList.toggle("problem-line", marked.has(Number(line.dataset.line)));
    }
    gutter.scrollTop = area.scrollTop;
  }
  area.addEventListener("input", drawGutter);
  area.addEventListener("scroll", () => (gutter.scrollTop = area.scrollTop));

  return {
    root: el("div", { class: "code-field" }, el("label", { for: id }, label), el("div", { class: "code-area" }, gutter, area)),
    area,
    get value() {
      return area.value;
    },
    set value(v) {
      area.value = v;
      drawGutter();
    },
    markLines(lines) {
      marked = new Set(lines);
      drawGutter();
    },
    /** Puts the cursor at the start of a 1-based line and scrolls to it. */
    goTo(line) {
      const lines = area.value.split("\n");
      const at = lines.slice(0, Math.max(0, line - 1)).reduce((sum, l) => sum + l.length + 1, 0);
      area.focus();
      area.setSelectionRange(at, at);
      const lineHeight = parseFloat(getComputedStyle(area).lineHeight) || 20;
      area.scrollTop = Math.max(0, (line - 3) * lineHeight);
    },
    redraw: drawGutter,
  };
}

/**
 * The editor: app.sql and app.toml, checked 400 ms after the last keystroke,
 * problems listed and marked in the gutters; "Save & run" PUTs the app.
 * `appName()` names the app to save; `onSaved(appDetail)` follows a save.
 */
function createEditor({ sql, config, appName, onSaved }) {
  const sqlArea = createCodeArea("sql-editor", "app.sql", "sql-editor", 18);
  const configArea = createCodeArea("config-editor", "app.toml", "config-editor", 12);
  const problems = el("ul", { class: "problems", "data-testid": "problems", "aria-label": "Problems" });
  const checkState = el("span", { class: "muted", role: "status", "data-testid": "check-state" });
  const startSelect = el(
    "select",
    { id: "start-position", "data-testid": "start-position" },
    ["LAST_STOPPED_POINT", "NOW", "TRIM_HORIZON"].map((p) => el("option", { value: p }, p)),
  );
  const save = el("button", { type: "button", class: "primary", "data-testid": "save-run" }, "Save & run");
  const saveMessage = el("span", { class: "muted", role: "status", "data-testid": "save-message" });
  let timer = null;
  let checkSeq = 0;

  /** Lists problems and marks their lines in the SQL or config gutter. */
  function showProblems(list) {
    list = list || [];
    sqlArea.markLines(list.filter((p) => p.in !== "config").map((p) => p.line || 1));
    configArea.markLines(list.filter((p) => p.in === "config").map((p) => p.line || 1));
    replaceChildren(
      problems,
      list.map((p) => {
        const where = p.in === "config" ? "app.toml " : "";
        const item = el(
          "li",
          { class: "problem", "data-line": p.line || 1, "data-column": p.column || 1, "data-in": p.in || "sql" },
          el("button", { type: "button", class: "link-button", title: "Go to this line" }, `${where}line ${p.line || 1}, column ${p.column || 1}`),
          `: ${p.message}`,
        );
        item.querySelector("button").addEventListener("click", () => (p.in === "config" ? configArea : sqlArea).goTo(p.line || 1));
        return item;
      }),
    );
    checkState.textContent = list.length ? `${list.length} problem${list.length === 1 ? "" : "s"}` : "No problems";
    checkState.className = list.length ? "error" : "ok";
  }

  /** POST /console/api/check; answers to an older text are dropped. */
  async function check() {
    const seq = ++checkSeq;
    checkState.className = "muted";
    checkState.textContent = "Checking…";
    try {
      const r = await api("POST", apiPath("check"), { sql: sqlArea.value, config: configArea.value || null });
      if (seq === checkSeq) showProblems(r.problems);
    } catch (err) {
      if (seq === checkSeq) {
        checkState.className = "error";
        checkState.textContent = `Check failed: ${errorText(err)}`;
      }
    }
  }
  function scheduleCheck() {
    clearTimeout(timer);
    timer = setTimeout(check, 400);
  }
  sqlArea.area.addEventListener("input", scheduleCheck);
  configArea.area.addEventListener("input", scheduleCheck);
  onLeave(() => clearTimeout(timer));

  async function saveAndRun() {
    const name = appName();
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(name)) {
      saveMessage.className = "error";
      saveMessage.textContent = "Name the application: 1 to 64 of A-Z a-z 0-9 _ . -";
      return;
    }
    save.disabled = true;
    saveMessage.className = "muted";
    saveMessage.textContent = "Saving…";
    try {
      const app = await api("PUT", apiPath("apps", name), { sql: sqlArea.value, config: configArea.value, start: startSelect.value });
      saveMessage.textContent = `Saved; ${app.status}.`;
      showProblems([]);
      onSaved(app);
    } catch (err) {
      saveMessage.className = "error";
      saveMessage.textContent = errorText(err);
      if (err.body && Array.isArray(err.body.problems)) showProblems(err.body.problems);
    } finally {
      save.disabled = false;
    }
  }
  save.addEventListener("click", saveAndRun);

  const root = el(
    "div",
    { class: "editor", "data-testid": "editor" },
    el("div", { class: "editor-panes" }, sqlArea.root, configArea.root),
    el("div", { class: "problems-head" }, el("h3", {}, "Problems"), checkState),
    problems,
    el("div", { class: "actions" }, el("label", { for: "start-position" }, "Start from"), startSelect, save, saveMessage),
  );
  sqlArea.value = sql;
  configArea.value = config;
  if (sql) scheduleCheck();
  return {
    root,
    setSql(v) {
      sqlArea.value = v;
      scheduleCheck();
    },
    setConfig(v) {
      configArea.value = v;
      scheduleCheck();
    },
  };
}

/* ------------------------------------------------------------------ */
/* Start (in a browser) or export the pure parts (in Node)             */
/* ------------------------------------------------------------------ */

if (typeof window !== "undefined" && typeof document !== "undefined") {
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
} else if (typeof module !== "undefined") {
  module.exports = { sigv4Authorization, canonicalQuery, uriEncode, amzDate, createSseParser, layoutGraph, replaceTomlColumns, passThroughSql, tomlString };
}
