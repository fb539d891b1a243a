// The demo page: the reznet-ws client in a multi-agent chat, a v1/v2 switch and a live panel that
// compares the bytes received with the bytes v1 (plain Channels JSON) would have needed.
//
// For tests and the browser console: `window.reznetSocket` is the current ReznetSocket and
// `window.reznetEvents` every server event it dispatched, in order, as `{event, data}`.
// The activity feed (a second socket, to the sync consumer at /ws/activity/) connects when its
// panel is opened; `window.reznetActivity` holds its events the same way.
import { ReznetSocket, ReznetProtocolError, ReznetServerError, StreamDecoder } from "../reznet_ws/reznet-ws.js";

const $ = (id) => document.getElementById(id);
const WIRE_LOG_SIZE = 14;
const ACTIVITY_SIZE = 20;
const SOURCES = { websocket: "WebSocket", api: "REST API", command: "manage.py" };
const TYPING_EVERY_MS = 2500;
const TYPING_SHOWN_MS = 3000;

// `?protocol=msgpack`: the reznet.v2.msgpack encoding, with @msgpack/msgpack as the client's
// codec, loaded as an ES module from `data-msgpack` of <body> (a CDN URL by default).
const MSGPACK = new URLSearchParams(location.search).get("protocol") === "msgpack"
  ? await import(document.body.dataset.msgpack || "https://cdn.jsdelivr.net/npm/@msgpack/msgpack@3.1.3/dist.esm/index.mjs")
  : null;

const state = {
  socket: null,
  legacy: new URLSearchParams(location.search).get("protocol") === "v1",
  channel: "general",
  me: document.body.dataset.user || "@guest",
  v1Bytes: 0,
  kinds: { batch: 0, gzip: 0 },
  // Keyed events (docs/deltas.md): delta frames received, their bytes, and the bytes the full
  // objects they rebuilt would have taken as v2 frames.
  deltas: { frames: 0, bytes: 0, full: 0 },
  // Group streams (docs/stream-compression.md): on unless ?streams=0; the wire log inflates the
  // stream frames it sees with a decoder of its own, in order.
  streams: new URLSearchParams(location.search).get("streams") !== "0",
  stream: { frames: 0, bytes: 0 },
  tap: null,
  tapQueue: Promise.resolve(),
  planDeltas: new Map(),
  map: "–",
  deflate: null,
  typingSentAt: 0,
  typing: new Map(),
  planFrames: new Map(),
  activity: null,
  renderQueued: false,
};

// ------------------------------------------------------------------------------- v1 sizes

/**
 * Length of `json.dumps(value)` in Python (the v1 encoding): ", " and ": " separators and every
 * character outside printable ASCII escaped (`\n`, or `\uXXXX`; two of them outside the BMP).
 * Numbers are counted as JavaScript prints them: the demo's data has no floats, where Python
 * would write `1.0` for the `1` JavaScript sees.
 */
export function pythonJsonSize(value) {
  if (value === null || value === undefined) return 4;
  if (typeof value === "boolean") return value ? 4 : 5;
  if (typeof value === "number") return String(value).length;
  if (typeof value === "string") return pythonStringSize(value);
  if (value instanceof Date) return pythonStringSize(value.toISOString());
  if (Array.isArray(value)) {
    if (value.length === 0) return 2;
    return 2 + value.reduce((n, item) => n + pythonJsonSize(item), 0) + 2 * (value.length - 1);
  }
  const keys = Object.keys(value);
  if (keys.length === 0) return 2;
  const items = keys.reduce((n, key) => n + pythonStringSize(key) + 2 + pythonJsonSize(value[key]), 0);
  return 2 + items + 2 * (keys.length - 1);
}

function pythonStringSize(text) {
  let n = 2;
  for (const char of text) {
    const code = char.codePointAt(0);
    if (code > 0xffff) n += 12;
    else if (code > 0x7e) n += 6;
    else if ([0x22, 0x5c, 0x08, 0x09, 0x0a, 0x0c, 0x0d].includes(code)) n += 2;
    else if (code < 0x20) n += 6;
    else n += 1;
  }
  return n;
}

/** The size of the v1 frame of one event: `{"event": ..., "data": ...}`. */
export const v1FrameSize = (event, data) => pythonJsonSize({ event, data });

export function formatBytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(2)} MB`;
}

// --------------------------------------------------------------------------------- DOM

function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key.startsWith("data-")) node.dataset[key.slice(5).replace(/-(\w)/g, (_, c) => c.toUpperCase())] = value;
    else node.setAttribute(key, value);
  }
  node.append(...children.filter((child) => child !== null && child !== undefined && child !== false));
  return node;
}

const listFor = (channel) => document.querySelector(`.messages[data-channel="${CSS.escape(channel)}"]`);
const timeOf = (iso) => (iso ? new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" }) : "");

function hue(name) {
  let n = 0;
  for (const char of name) n = (n * 31 + char.codePointAt(0)) % 360;
  return n;
}

function avatar(name, agent) {
  const letters = name.replace(/^@/, "").slice(0, 2).toUpperCase();
  return h("span", { class: `avatar${agent ? " agent-avatar" : ""}`, style: `--hue:${hue(name)}`, "aria-hidden": "true" }, letters);
}

function append(channel, item) {
  const list = listFor(channel) ?? listFor(state.channel);
  const box = $("streams");
  const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 80;
  list.append(item);
  if (atBottom) box.scrollTop = box.scrollHeight;
  renderEmpty();
}

function renderEmpty() {
  $("empty").hidden = listFor(state.channel).children.length > 0;
}

function systemLine(text, channel = state.channel) {
  append(channel, h("li", { class: "system" }, text));
}

function messageItem(m) {
  const agent = m.author_type === "agent";
  const meta = h("div", { class: "meta" },
    h("b", {}, m.author_name ?? "?"),
    h("time", { datetime: m.created_at ?? "" }, timeOf(m.created_at)),
    agent && m.metadata ? h("span", { class: "chip" }, `${m.metadata.model} · ${m.metadata.tokens} tokens`) : null);
  return h("li", { class: `msg${agent ? " agent" : ""}`, "data-mid": m.message_id },
    avatar(m.author_name ?? "?", agent), h("div", { class: "body" }, meta, h("p", { class: "text" }, m.content ?? "")));
}

function streamingItem(chunk) {
  return h("li", { class: "msg agent streaming", "data-mid": chunk.message_id },
    avatar(chunk.agent_name, true),
    h("div", { class: "body" },
      h("div", { class: "meta" }, h("b", {}, chunk.agent_name), h("span", { class: "chip live" }, "streaming")),
      h("p", { class: "text" }, h("span", { class: "t" }), h("span", { class: "caret", "aria-hidden": "true" }))));
}

function planItem(plan) {
  const tasks = plan.plan?.tasks ?? [];
  const byAgent = new Map();
  for (const task of tasks) byAgent.set(task.agent_name, (byAgent.get(task.agent_name) ?? 0) + 1);
  const taskRow = (task) => h("li", { class: `${task.priority === "high" ? "high" : ""} ${task.status}` },
    h("span", { class: "tid" }, task.id), h("span", { class: "tname" }, task.name),
    h("span", { class: "tagent" }, task.agent_name));
  const first = tasks.slice(0, 5);
  const rest = tasks.slice(5);
  const size = v1FrameSize("workflow_plan", plan);
  return h("li", { class: "plan", "data-wid": plan.workflow_id },
    h("header", {},
      h("span", { class: "plan-icon", "aria-hidden": "true" }, "▦"),
      h("b", {}, "Workflow plan"),
      h("span", { class: "chip" }, `${plan.completed_tasks ?? 0} / ${plan.total_tasks} tasks done`),
      h("span", { class: "by" }, `by ${plan.orchestrator} · ${timeOf(plan.created_at)}`)),
    h("p", { class: "goal" }, plan.description),
    h("div", { class: "chips" }, ...[...byAgent].map(([name, n]) => h("span", { class: "chip", style: `--hue:${hue(name)}` }, `${name} ×${n}`))),
    h("ol", { class: "tasks" }, ...first.map(taskRow)),
    rest.length ? h("details", {}, h("summary", {}, `${rest.length} more tasks`), h("ol", { class: "tasks" }, ...rest.map(taskRow))) : null,
    h("footer", { class: "wire-info", "data-v1": size }, planWireText(plan.workflow_id, size)));
}

function planWireText(workflowId, v1Size) {
  const frame = state.planFrames.get(workflowId);
  const v1 = `v1 would need ${formatBytes(v1Size)}`;
  if (!frame) return v1;
  const deltas = state.planDeltas.get(workflowId);
  const updates = deltas ? ` · then ${deltas.frames} updates as deltas of ${formatBytes(deltas.bytes)} in all` : "";
  return `${v1} · received as a ${formatBytes(frame.bytes)} ${frame.kind === "gzip" ? "gzip frame" : `${frame.kind} frame`}${updates}`;
}

// --------------------------------------------------------------------------- wire log

// Frames are seen here before the client decodes them: a WebSocket subclass passed through the
// client's `WebSocket` option listens first. They are decoded again with the client's public
// Decoder, only to label the log.
function tappedWebSocket(onFrame) {
  return class TappedWebSocket extends WebSocket {
    constructor(url, protocols) {
      super(url, protocols);
      this.addEventListener("message", (message) => onFrame(message.data));
    }
  };
}

// A parsed binary MessagePack frame (?protocol=msgpack), or null.
function unpacked(data) {
  try {
    return MSGPACK && typeof data !== "string" ? MSGPACK.decode(new Uint8Array(data)) : null;
  } catch {
    return null;
  }
}

function frameKind(data) {
  if (typeof data !== "string") {
    const first = new Uint8Array(data)[0];
    if (first === 0x1f) return "gzip";
    if (first >= 0xa4 && first <= 0xa7) return "stream";
    const frame = unpacked(data); // keyed frames come packed too
    return frame && "k" in frame ? ("x" in frame ? "delta" : "keyed") : "msgpack";
  }
  try {
    const frame = JSON.parse(data);
    if (frame === null || typeof frame !== "object" || !("_v" in frame)) return "v1";
    if ("b" in frame) return "batch";
    if ("k" in frame) return "x" in frame ? "delta" : "keyed";
    if ("t" in frame) return "refs"; // entity references (docs/deltas.md)
    return frame.r === 1 ? "control" : "event";
  } catch {
    return "invalid";
  }
}

function onFrame(socket, data) {
  if (socket !== state.socket) return;
  const kind = frameKind(data);
  if (kind === "batch" || kind === "gzip") state.kinds[kind] += 1;
  const bytes = typeof data === "string" ? new TextEncoder().encode(data).byteLength : data.byteLength;
  if (kind === "stream") {
    state.stream.frames += 1;
    state.stream.bytes += bytes;
  }
  const entry = { kind, bytes, events: [], v1: 0 };
  const row = h("li", { class: `frame ${kind}` },
    h("span", { class: "kind" }, kind), h("span", { class: "size" }, formatBytes(bytes)), h("span", { class: "names" }, "…"));
  const log = $("wire");
  log.prepend(row);
  while (log.children.length > WIRE_LOG_SIZE) log.lastElementChild.remove();
  if (kind === "delta" || kind === "keyed") {
    keyedFrame(socket, typeof data === "string" ? JSON.parse(data) : unpacked(data), entry, row);
    return;
  }
  const copy = typeof data === "string" ? data : data.slice(0);
  let text = null;
  if (kind === "stream") {
    // One frame at a time: a stream inflates in order.
    const tap = state.tap;
    const msgpack = socket._conn?.ws.protocol === "reznet.v2.msgpack"; // binary frames inside
    text = state.tapQueue.then(() => tap.decode(new Uint8Array(copy), { msgpack }));
    state.tapQueue = text.catch(() => null);
  }
  (text ?? Promise.resolve(copy)).then((message) => socket.decoder.decodeMessage(message)).then((result) => {
    const events = result.legacy ? [{ event: result.payload?.event, data: result.payload?.data }] : result.events;
    entry.events = events.map((e) => e.event);
    entry.v1 = events.filter((e) => e.event !== "connection_established").reduce((n, e) => n + v1FrameSize(e.event, e.data), 0);
    row.querySelector(".names").textContent = summarize(entry.events);
    if (entry.v1 && kind !== "v1") row.append(h("span", { class: "v1" }, `v1 ${formatBytes(entry.v1)}`));
    for (const e of events) {
      if (e.event !== "workflow_plan") continue;
      state.planFrames.set(e.data.workflow_id, entry);
      const footer = document.querySelector(`[data-wid="${CSS.escape(e.data.workflow_id)}"] .wire-info`);
      if (footer) footer.textContent = planWireText(e.data.workflow_id, Number(footer.dataset.v1));
    }
  }).catch(() => {
    row.querySelector(".names").textContent = "not decodable";
  });
}

// A keyed frame: the client rebuilds the whole object; once it has (its handlers run after this
// tap), the log shows what the full object would have taken, and the panel adds up the savings.
function keyedFrame(socket, frame, entry, row) {
  setTimeout(() => {
    const data = socket.state(frame.k);
    if (data === undefined) {
      row.querySelector(".names").textContent = `${frame.k}: waiting for the full object`;
      return;
    }
    const event = frame.e ?? socket.keyed.info(frame.k)?.event ?? "";
    const full = new TextEncoder().encode(JSON.stringify({ _v: 2, e: event, d: socket.decoder.encodeData(data) })).byteLength;
    entry.events = [event];
    entry.v1 = v1FrameSize(event, data);
    row.querySelector(".names").textContent = `${event} ${frame.k} v${frame.n}`;
    row.append(h("span", { class: "v1" }, `v1 ${formatBytes(entry.v1)}`));
    if (frame.x === undefined) {
      if (event === "workflow_plan") state.planFrames.set(data.workflow_id, entry);
      return;
    }
    state.deltas.frames += 1;
    state.deltas.bytes += entry.bytes;
    state.deltas.full += full;
    if (event === "workflow_plan") {
      const plan = state.planDeltas.get(data.workflow_id) ?? { frames: 0, bytes: 0 };
      plan.frames += 1;
      plan.bytes += entry.bytes;
      state.planDeltas.set(data.workflow_id, plan);
      const footer = document.querySelector(`[data-wid="${CSS.escape(data.workflow_id)}"] .wire-info`);
      if (footer) footer.textContent = planWireText(data.workflow_id, Number(footer.dataset.v1));
    }
    queueRender();
  }, 0);
}

function summarize(names) {
  const counts = new Map();
  for (const name of names) counts.set(name, (counts.get(name) ?? 0) + 1);
  return [...counts].map(([name, n]) => (n > 1 ? `${name} ×${n}` : name)).join(", ");
}

// ----------------------------------------------------------------------------- panel

function queueRender() {
  if (state.renderQueued) return;
  state.renderQueued = true;
  requestAnimationFrame(() => {
    state.renderQueued = false;
    renderPanel();
  });
}

function setFigure(id, value, text = String(value)) {
  const node = $(id);
  node.dataset.value = value;
  node.textContent = text;
}

function renderPanel() {
  const socket = state.socket;
  const { messages, frames, bytes } = socket ? socket.stats : { messages: 0, frames: 0, bytes: 0 };
  $("s-protocol").textContent = socket?.protocol || (state.legacy ? "v1 (plain JSON)" : "–");
  setFigure("s-messages", messages);
  setFigure("s-frames", frames);
  setFigure("s-bytes", bytes, formatBytes(bytes));
  setFigure("s-v1bytes", state.v1Bytes, formatBytes(state.v1Bytes));
  $("s-kinds").textContent = `${state.kinds.batch} / ${state.kinds.gzip}`;
  const { frames: deltaFrames, bytes: deltaBytes, full: fullBytes } = state.deltas;
  setFigure("s-deltas", deltaFrames, deltaFrames
    ? `${deltaFrames} · ${formatBytes(deltaBytes)} instead of ${formatBytes(fullBytes)} (saved ${formatBytes(fullBytes - deltaBytes)})`
    : "–");
  const { frames: streamFrames, bytes: streamBytes } = state.stream;
  setFigure("s-stream", streamFrames, streamFrames
    ? `${streamFrames} · ${formatBytes(streamBytes)}`
    : state.streams && !state.legacy ? "on (none yet: a group needs 2 members)" : "off");
  $("streams-toggle").textContent = state.streams ? "turn off" : "turn on";
  $("s-map").textContent = state.map;
  $("s-deflate").textContent = state.deflate === null ? "–" : state.deflate ? "on" : "off";
  $("deflate-note").hidden = !state.deflate;
  const saving = state.v1Bytes ? 100 * (1 - bytes / state.v1Bytes) : null;
  setFigure("s-saving", saving === null ? "" : saving.toFixed(1), saving === null ? "–" : `${saving.toFixed(1)} %`);
  $("s-saving").classList.toggle("negative", saving !== null && saving < 0);
  const top = Math.max(bytes, state.v1Bytes, 1);
  $("bar-received").style.width = `${(100 * bytes) / top}%`;
  $("bar-v1").style.width = `${(100 * state.v1Bytes) / top}%`;
}

function setConnection(kind, text) {
  const badge = $("conn");
  badge.dataset.state = kind;
  badge.querySelector("span").textContent = text;
}

// -------------------------------------------------------------------------- the socket

function connect() {
  if (state.socket) state.socket.close(1000);
  state.v1Bytes = 0;
  state.kinds = { batch: 0, gzip: 0 };
  state.deltas = { frames: 0, bytes: 0, full: 0 };
  state.stream = { frames: 0, bytes: 0 };
  state.tap = new StreamDecoder();
  state.map = state.legacy ? "not used (v1)" : "–";
  state.deflate = null;
  $("wire").replaceChildren();
  window.reznetEvents = [];
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new ReznetSocket(`${scheme}://${location.host}/ws/chat/`, {
    legacy: state.legacy,
    streams: state.streams,
    ...(MSGPACK && !state.legacy
      ? { msgpack: { encode: MSGPACK.encode, decode: MSGPACK.decode }, protocols: ["reznet.v2.msgpack"] }
      : {}),
    WebSocket: tappedWebSocket((data) => onFrame(socket, data)),
  });
  state.socket = socket;
  window.reznetSocket = socket;
  setConnection("connecting", "connecting…");
  // After a switch, the previous socket may still deliver its last frames and its close event:
  // only the current socket's events reach the page.
  const on = (event, handler) => socket.on(event, (...args) => socket === state.socket && handler(...args));

  on("open", ({ protocol }) => {
    setConnection("open", `connected · ${protocol || "v1 JSON"}`);
    // A new connection starts in #general on the server: rejoin the channel on screen.
    if (state.channel !== "general") socket.send("join", { channel_id: state.channel });
    queueRender();
  });
  on("close", ({ willReconnect }) => setConnection(willReconnect ? "retry" : "closed", "disconnected"));
  on("reconnecting", ({ attempt, delay }) => setConnection("retry", `reconnecting (#${attempt}, ${delay} ms)`));
  on("error", (error) => {
    if (error instanceof ReznetServerError) systemLine(`Server error ${error.code}: ${error.detail ?? ""}`);
    else if (error instanceof ReznetProtocolError) systemLine(`Dropped a frame: ${error.code}`);
  });
  on("*", (data, event) => {
    window.reznetEvents.push({ event, data });
    if (event !== "connection_established") state.v1Bytes += v1FrameSize(event, data);
    queueRender();
  });
  on("connection_established", (info) => {
    state.deflate = Boolean(info.features?.permessage_deflate);
    const fields = info.field_map ? Object.keys(info.field_map).length : null;
    state.map = fields === null ? `cached (${info.map_hash})` : `sent (${fields} fields)`;
  });
  on("joined", ({ channel_id: channel }) => showChannel(channel));
  on("message_new", (message) => {
    document.querySelector(`.streaming[data-mid="${CSS.escape(message.message_id)}"]`)?.remove();
    append(message.channel_id, messageItem(message));
    state.typing.delete(message.author_name);
    renderTyping();
  });
  on("message_chunk", (chunk) => {
    let item = document.querySelector(`.streaming[data-mid="${CSS.escape(chunk.message_id)}"]`);
    if (chunk.is_final) {
      item?.querySelector(".caret")?.remove();
      return;
    }
    if (!item) {
      item = streamingItem(chunk);
      append(chunk.channel_id, item);
    }
    item.querySelector(".t").textContent += chunk.chunk;
  });
  on("agent_status", ({ status }) => {
    $("agent").dataset.status = status;
    $("agent-status").textContent = status;
  });
  // Keyed: every update brings the whole plan (rebuilt from a delta); redraw it in place.
  on("workflow_plan", (plan) => {
    const shown = document.querySelector(`li.plan[data-wid="${CSS.escape(plan.workflow_id)}"]`);
    if (shown) shown.replaceWith(planItem(plan));
    else append(plan.channel_id, planItem(plan));
  });
  on("user_typing", ({ user_name: name }) => {
    if (name === state.me && Date.now() - state.typingSentAt < TYPING_SHOWN_MS) return;
    state.typing.set(name, Date.now());
    renderTyping();
    setTimeout(renderTyping, TYPING_SHOWN_MS + 50);
  });
  renderPanel();
}

// ----------------------------------------------------------- the REST API and the activity feed

// The server stores the message and broadcasts it with reznet_ws.broadcast_sync(): it arrives
// over the WebSocket as `message_new`, exactly like a typed one.
async function postViaApi() {
  // The field is emptied when the message is taken, as the composer does: the broadcast may
  // reach the socket before the response, and whatever is typed meanwhile must stay.
  const typed = $("content").value.trim();
  $("content").value = "";
  let refused;
  try {
    const response = await fetch(`/api/chat/channels/${encodeURIComponent(state.channel)}/messages/`, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRFToken": document.body.dataset.csrf },
      body: JSON.stringify({ content: typed || "Posted through the REST API" }),
    });
    if (!response.ok) refused = `The API refused the message (HTTP ${response.status}).`;
  } catch {
    refused = "The API could not be reached: the message was not sent.";
  }
  if (refused === undefined) return;
  systemLine(refused);
  if (typed && !$("content").value) $("content").value = typed;
}

function activityItem(item) {
  return h("li", { "data-mid": item.message_id, "data-source": item.source },
    h("div", { class: "meta" },
      h("b", {}, item.author_name), h("span", {}, `#${item.channel_id}`),
      h("span", { class: "chip" }, SOURCES[item.source] ?? item.source),
      h("time", { datetime: item.created_at }, timeOf(item.created_at))),
    h("p", {}, item.preview));
}

function openActivity() {
  if (state.activity) return;
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const feed = new ReznetSocket(`${scheme}://${location.host}/ws/activity/`);
  state.activity = feed;
  window.reznetActivity = [];
  const list = $("activity");
  feed.on("*", (data, event) => window.reznetActivity.push({ event, data }));
  feed.on("activity_recent", ({ items }) => list.replaceChildren(...items.map(activityItem)));
  feed.on("activity_new", (item) => {
    list.querySelector(`[data-mid="${CSS.escape(item.message_id)}"]`)?.remove();
    list.prepend(activityItem(item));
    while (list.children.length > ACTIVITY_SIZE) list.lastElementChild.remove();
  });
}

function renderTyping() {
  const now = Date.now();
  const names = [...state.typing].filter(([, at]) => now - at < TYPING_SHOWN_MS).map(([name]) => name);
  $("typing").textContent = names.length ? `${names.join(", ")} ${names.length > 1 ? "are" : "is"} typing…` : "";
}

function send(event, data) {
  try {
    state.socket.send(event, data);
    return true;
  } catch {
    systemLine("Not connected: the message was not sent. The client is reconnecting.");
    return false;
  }
}

// ------------------------------------------------------------------------ the controls

function showChannel(channel) {
  state.channel = channel;
  for (const button of document.querySelectorAll("#channels button")) {
    button.classList.toggle("active", button.dataset.channel === channel);
  }
  for (const list of document.querySelectorAll(".messages")) list.classList.toggle("active", list.dataset.channel === channel);
  $("channel-title").textContent = `# ${channel}`;
  $("content").placeholder = `Message #${channel} (mention @orchestrator for an answer)`;
  renderEmpty();
}

function ask() {
  const content = $("content").value.trim() || "@orchestrator how do we cut our WebSocket bandwidth?";
  if (send("send_message", { content, ask_agent: true })) $("content").value = "";
}

const requestPlan = () => send("request_plan", { goal: "Roll out reznet-ws to production" });

$("composer").addEventListener("submit", (event) => {
  event.preventDefault();
  const content = $("content").value.trim();
  if (content && send("send_message", { content })) $("content").value = "";
});
$("content").addEventListener("input", () => {
  if (Date.now() - state.typingSentAt < TYPING_EVERY_MS || state.socket?.readyState !== 1) return;
  state.typingSentAt = Date.now();
  send("typing", {});
});
$("ask").addEventListener("click", ask);
$("plan").addEventListener("click", requestPlan);
$("post-api").addEventListener("click", postViaApi);
$("activity-panel").addEventListener("toggle", () => $("activity-panel").open && openActivity());
for (const button of document.querySelectorAll("[data-suggest]")) {
  button.addEventListener("click", () => (button.dataset.suggest === "ask" ? ask() : requestPlan()));
}
for (const button of document.querySelectorAll("#channels button")) {
  button.addEventListener("click", () => {
    showChannel(button.dataset.channel);
    if (state.socket?.readyState === 1) send("join", { channel_id: button.dataset.channel });
  });
}
$("streams-toggle").addEventListener("click", () => {
  state.streams = !state.streams;
  const url = new URL(location.href);
  if (state.streams) url.searchParams.delete("streams");
  else url.searchParams.set("streams", "0");
  history.replaceState(null, "", url);
  systemLine(`Group streams ${state.streams ? "on: broadcasts compressed once per group" : "off"}`);
  connect();
});
for (const button of document.querySelectorAll("[data-protocol]")) {
  button.addEventListener("click", () => {
    const legacy = button.dataset.protocol === "v1";
    if (legacy === state.legacy && state.socket) return;
    state.legacy = legacy;
    const url = new URL(location.href);
    if (legacy) url.searchParams.set("protocol", "v1");
    else url.searchParams.delete("protocol");
    history.replaceState(null, "", url);
    renderSwitch();
    systemLine(`Switched to ${legacy ? "v1: plain JSON, one frame per event" : "v2: reznet.v2 frames"}`);
    connect();
  });
}

function renderSwitch() {
  for (const button of document.querySelectorAll("[data-protocol]")) {
    button.setAttribute("aria-checked", String((button.dataset.protocol === "v1") === state.legacy));
  }
}

// Figures such as "typing" expire with time, not with events.
setInterval(() => {
  renderTyping();
  renderPanel();
}, 1000);
renderSwitch();
showChannel("general");
connect();
