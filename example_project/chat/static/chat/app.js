// Demo page: the reznet-ws JS client, a v1/v2 switch and a live savings panel.
import { ReznetSocket } from "/static/reznet_ws/reznet-ws.js";

const $ = (id) => document.getElementById(id);
const state = { socket: null, v1Bytes: 0, messages: 0, channel: "general", chunks: new Map() };

// Size of the frame Python's json.dumps would send for this event on v1 (", " and ": "
// separators, non-ASCII escaped as \uXXXX): what a legacy client would have received.
export function pythonJsonSize(value) {
  if (value === null) return 4;
  if (typeof value === "boolean") return value ? 4 : 5;
  if (typeof value === "number") return String(value).length;
  if (typeof value === "string") return pythonStringSize(value);
  if (value instanceof Date) return pythonStringSize(value.toISOString());
  if (Array.isArray(value)) {
    if (value.length === 0) return 2;
    return 2 + value.reduce((n, v) => n + pythonJsonSize(v), 0) + 2 * (value.length - 1);
  }
  const keys = Object.keys(value);
  if (keys.length === 0) return 2;
  return 2 + keys.reduce((n, k) => n + pythonStringSize(k) + 2 + pythonJsonSize(value[k]), 0)
    + 2 * (keys.length - 1);
}

function pythonStringSize(s) {
  let n = 2;
  for (const ch of s) {
    const c = ch.codePointAt(0);
    if (c > 0xffff) n += 12;
    else if (c > 0x7e) n += 6;
    else if (c === 0x22 || c === 0x5c || c === 8 || c === 9 || c === 10 || c === 12 || c === 13) n += 2;
    else if (c < 0x20) n += 6;
    else n += 1;
  }
  return n;
}

function count(event, data) {
  state.messages += 1;
  state.v1Bytes += pythonJsonSize({ event, data });
  renderPanel();
}

function renderPanel() {
  const s = state.socket ? state.socket.stats : { frames: 0, bytes: 0 };
  $("s-protocol").textContent = state.socket && state.socket.protocol ? state.socket.protocol : "v1 (plain JSON)";
  $("s-messages").textContent = state.messages;
  $("s-frames").textContent = s.frames;
  $("s-bytes").textContent = s.bytes.toLocaleString();
  $("s-v1bytes").textContent = state.v1Bytes.toLocaleString();
  const saving = state.v1Bytes ? (100 * (1 - s.bytes / state.v1Bytes)).toFixed(1) + " %" : "–";
  $("s-saving").textContent = saving;
}

function addItem(html, cls = "") {
  const li = document.createElement("li");
  li.className = cls;
  li.innerHTML = html;
  $("messages").append(li);
  li.scrollIntoView({ block: "end" });
  return li;
}

const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
const time = (iso) => (iso ? new Date(iso).toLocaleTimeString() : "");

function connect(legacy) {
  if (state.socket) state.socket.close(1000);
  state.v1Bytes = 0; state.messages = 0;
  const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws/chat/`;
  const socket = new ReznetSocket(url, { legacy });
  state.socket = socket;
  window.reznetSocket = socket; // for tests and the browser console
  window.reznetEvents = [];
  socket.on("open", () => { $("conn").textContent = "connected"; $("conn").className = "badge ok"; renderPanel(); });
  socket.on("close", () => { $("conn").textContent = "disconnected"; $("conn").className = "badge"; });
  socket.on("reconnecting", () => { $("conn").textContent = "reconnecting…"; });
  const record = (event) => (data) => { window.reznetEvents.push({ event, data }); count(event, data); };
  for (const ev of ["connection_established", "joined", "message_new", "message_chunk", "agent_status", "workflow_plan", "user_typing", "error", "stats_response"]) {
    socket.on(ev, record(ev));
  }
  socket.on("message_new", (m) => {
    state.chunks.delete(m.message_id);
    const live = document.querySelector(`[data-mid="${CSS.escape(m.message_id)}"]`);
    if (live) live.remove();
    addItem(`<span class="meta">${esc(time(m.created_at))} ${esc(m.author_name)}</span>${esc(m.content)}`,
      m.author_type === "agent" ? "agent" : "");
  });
  socket.on("message_chunk", (c) => {
    if (c.is_final) return;
    let li = document.querySelector(`[data-mid="${CSS.escape(c.message_id)}"]`);
    if (!li) { li = addItem(`<span class="meta">${esc(c.agent_name)} is typing</span><span class="t"></span>`, "agent"); li.dataset.mid = c.message_id; }
    li.querySelector(".t").textContent += c.chunk;
  });
  socket.on("agent_status", (s) => { $("agent-status").textContent = s.status; });
  socket.on("workflow_plan", (p) => {
    addItem(`<b>Workflow plan</b> by ${esc(p.orchestrator)}: ${esc(p.description)} — ${p.total_tasks} tasks
      <details><summary>tasks</summary><ol>${p.plan.tasks.slice(0, 60).map((t) => `<li>${esc(t.name)} → ${esc(t.agent_name)}</li>`).join("")}</ol></details>`, "plan");
  });
}

$("composer").addEventListener("submit", (e) => {
  e.preventDefault();
  const content = $("content").value.trim();
  if (!content) return;
  state.socket.send("send_message", { content });
  $("content").value = "";
});
$("ask").addEventListener("click", () => {
  const content = $("content").value.trim() || "@orchestrator how do we cut WebSocket bandwidth?";
  state.socket.send("send_message", { content, ask_agent: true });
  $("content").value = "";
});
$("plan").addEventListener("click", () => state.socket.send("request_plan", { goal: "Roll out reznet-ws to production" }));
$("protocol").addEventListener("change", (e) => { $("messages").innerHTML = ""; connect(e.target.value === "v1"); });
for (const btn of document.querySelectorAll("#channels button")) {
  btn.addEventListener("click", () => {
    document.querySelectorAll("#channels button").forEach((b) => b.classList.toggle("active", b === btn));
    state.channel = btn.dataset.channel;
    $("messages").innerHTML = "";
    state.socket.send("join", { channel_id: state.channel });
  });
}
setInterval(renderPanel, 500);
connect(new URLSearchParams(location.search).get("protocol") === "v1");
