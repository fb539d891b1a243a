// ReznetSocket against an injected fake WebSocket and an in-memory storage.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { gzipSync } from "node:zlib";

import {
  CONTROL_EVENTS,
  ReznetProtocolError,
  ReznetServerError,
  ReznetSocket,
  SUBPROTOCOL,
} from "../../reznet_ws/static/reznet_ws/reznet-ws.js";

const TIMEOUT = { timeout: 5000 };
const FIELD_MAP = { message_id: "mid", content: "c", created_at: "ts" };
const TIMESTAMP_FIELDS = ["created_at"];
const HASH = "0123456789abcdef";
// What a v2 client adds to the URL: it decodes content frames (protocol section 3.1).
const FEATURES = "reznet_features=content%2Cdelta%2Cstream";

// A fake of the browser WebSocket: the test plays the server through the server* methods.
function fakeWebSocketClass() {
  return class FakeWebSocket {
    static instances = [];

    constructor(url, protocols) {
      this.url = url;
      this.protocols = protocols;
      this.protocol = "";
      this.readyState = 0;
      this.binaryType = "blob";
      this.sent = [];
      this.closedWith = null;
      FakeWebSocket.instances.push(this);
    }

    send(data) {
      if (this.readyState !== 1) throw new Error("InvalidStateError");
      this.sent.push(data);
    }

    close(code, reason) {
      this.closedWith = [code, reason];
      this.readyState = 2;
      queueMicrotask(() => this.serverClose(code ?? 1005, reason ?? "", true));
    }

    serverAccept(protocol = this.protocols.includes(SUBPROTOCOL) ? SUBPROTOCOL : "") {
      this.protocol = protocol;
      this.readyState = 1;
      this.onopen?.({ type: "open" });
    }

    serverSend(data) {
      this.onmessage?.({ data });
    }

    serverClose(code = 1006, reason = "", wasClean = false) {
      if (this.readyState === 3) return;
      this.readyState = 3;
      this.onclose?.({ code, reason, wasClean });
    }

    static get last() {
      return FakeWebSocket.instances.at(-1);
    }
  };
}

class MemoryStorage {
  constructor() {
    this.items = new Map();
  }
  getItem(key) {
    return this.items.has(key) ? this.items.get(key) : null;
  }
  setItem(key, value) {
    this.items.set(key, String(value));
  }
  removeItem(key) {
    this.items.delete(key);
  }
}

function established(extra = {}) {
  const d = { version: 2, protocol: SUBPROTOCOL, features: {}, map_hash: HASH, ...extra };
  return JSON.stringify({ _v: 2, e: "connection_established", r: 1, d });
}

const withMap = () => established({ field_map: FIELD_MAP, timestamp_fields: TIMESTAMP_FIELDS });

function next(socket, event) {
  return new Promise((resolve) => socket.once(event, resolve));
}

// Collects the next `count` dispatches of `event`.
function collect(socket, event, count) {
  const seen = [];
  return new Promise((resolve) => {
    const off = socket.on(event, (data, name) => {
      seen.push(event === "*" ? [name, data] : data);
      if (seen.length === count) {
        off();
        resolve(seen);
      }
    });
  });
}

function connect(options = {}) {
  const WebSocket = fakeWebSocketClass();
  const storage = options.storage === undefined ? new MemoryStorage() : options.storage;
  const socket = new ReznetSocket("ws://example.test/ws/chat/", { WebSocket, storage, ...options });
  return { socket, WebSocket, storage, ws: WebSocket.last };
}

test("offers reznet.v2 and reports the negotiated protocol", TIMEOUT, async () => {
  const { socket, ws } = connect();
  assert.deepEqual(ws.protocols, [SUBPROTOCOL]);
  assert.equal(ws.url, `ws://example.test/ws/chat/?${FEATURES}`);
  assert.equal(ws.binaryType, "arraybuffer");
  assert.equal(socket.protocol, "");
  const opened = next(socket, "open");
  ws.serverAccept();
  assert.deepEqual(await opened, { protocol: SUBPROTOCOL, url: `ws://example.test/ws/chat/?${FEATURES}` });
  assert.equal(socket.protocol, SUBPROTOCOL);
  assert.equal(socket.readyState, 1);
  socket.close();
});

test("legacy: true offers no subprotocol and gets v1", TIMEOUT, async () => {
  const storage = new MemoryStorage();
  storage.setItem("reznet_ws:map:last", HASH);
  const { socket, ws } = connect({ legacy: true, storage });
  assert.deepEqual(ws.protocols, []);
  assert.equal(ws.url, "ws://example.test/ws/chat/");
  ws.serverAccept();
  assert.equal(socket.protocol, "");
  socket.close();
});

test("the field map is cached and offered with reznet_map on the next connection", TIMEOUT, async () => {
  const storage = new MemoryStorage();
  const first = connect({ storage });
  first.ws.serverAccept();
  const events = collect(first.socket, "*", 2);
  first.ws.serverSend(withMap());
  first.ws.serverSend('{"_v":2,"e":"message_new","d":{"mid":"a","c":"hi","ts":1761393600000}}');
  const [[, hello], [, message]] = await events;
  assert.equal(hello.field_map.message_id, "mid");
  assert.deepEqual(message, { message_id: "a", content: "hi", created_at: "2025-10-25T12:00:00Z" });
  assert.equal(storage.getItem("reznet_ws:map:last"), HASH);
  assert.deepEqual(JSON.parse(storage.getItem(`reznet_ws:map:${HASH}`)), {
    field_map: FIELD_MAP,
    timestamp_fields: TIMESTAMP_FIELDS,
  });
  first.socket.close();

  const second = connect({ storage });
  assert.equal(second.ws.url, `ws://example.test/ws/chat/?${FEATURES}&reznet_map=${HASH}`);
  second.ws.serverAccept();
  const message2 = next(second.socket, "message_new");
  second.ws.serverSend(established()); // no field_map: the server relies on the cache
  second.ws.serverSend('{"_v":2,"e":"message_new","d":{"mid":"b","ts":[1761393600000,1,null]}}');
  assert.deepEqual(await message2, { message_id: "b", created_at: "2025-10-25T12:00:00.000Z" });
  assert.deepEqual(second.socket.decoder.fieldMap, FIELD_MAP);
  second.socket.close();
});

test("reznet_map joins an existing query string", TIMEOUT, () => {
  const storage = new MemoryStorage();
  storage.setItem("reznet_ws:map:last", HASH);
  const WebSocket = fakeWebSocketClass();
  const socket = new ReznetSocket("wss://example.test/ws/?token=a%20b", { WebSocket, storage });
  assert.equal(WebSocket.last.url, `wss://example.test/ws/?token=a%20b&${FEATURES}&reznet_map=${HASH}`);
  socket.close();
});

test("a new map replaces the old cached one", TIMEOUT, async () => {
  const storage = new MemoryStorage();
  storage.setItem("reznet_ws:map:last", "oldhash");
  storage.setItem("reznet_ws:map:oldhash", JSON.stringify({ field_map: {}, timestamp_fields: [] }));
  const { socket, ws } = connect({ storage });
  assert.match(ws.url, /reznet_map=oldhash$/);
  ws.serverAccept();
  const hello = next(socket, "connection_established");
  ws.serverSend(withMap());
  await hello;
  assert.deepEqual([...storage.items.keys()].sort(), [`reznet_ws:map:${HASH}`, "reznet_ws:map:last"]);
  socket.close();
});

test("map unavailable closes with 4000 and reconnects without the parameter", TIMEOUT, async () => {
  const storage = new MemoryStorage();
  storage.setItem("reznet_ws:map:last", HASH);
  const { socket, ws, WebSocket } = connect({ storage, reconnect: { initialDelay: 1, jitter: 0 } });
  ws.serverAccept();
  const errors = collect(socket, "error", 1);
  const reconnecting = next(socket, "reconnecting");
  ws.serverSend(established());
  ws.serverSend('{"_v":2,"e":"message_new","d":{"c":1}}'); // undecodable: dropped
  const [err] = await errors;
  assert.equal(err.code, "map_unavailable");
  assert.deepEqual(ws.closedWith, [4000, "field map unavailable"]);
  assert.equal((await reconnecting).code, 4000);
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(WebSocket.instances.length, 2);
  assert.equal(WebSocket.last.url, `ws://example.test/ws/chat/?${FEATURES}`);
  assert.equal(socket.stats.messages, 0);
  socket.close();
});

test("a corrupt cached map is treated as missing", TIMEOUT, async () => {
  for (const cached of ["{not json", '{"field_map":{"a":"x","b":"x"},"timestamp_fields":[]}', '{"field_map":{}}']) {
    const storage = new MemoryStorage();
    storage.setItem("reznet_ws:map:last", HASH);
    storage.setItem(`reznet_ws:map:${HASH}`, cached);
    const { socket, ws } = connect({ storage, reconnect: false });
    ws.serverAccept();
    const error = next(socket, "error");
    ws.serverSend(established());
    assert.equal((await error).code, "map_unavailable", cached);
    assert.equal(storage.getItem("reznet_ws:map:last"), null);
    socket.close();
  }
});

test("an invalid map from the server is reported and not cached", TIMEOUT, async () => {
  const { socket, ws, storage } = connect();
  ws.serverAccept();
  const error = next(socket, "error");
  const after = next(socket, "m");
  ws.serverSend(established({ field_map: { a: "x", b: "x" }, timestamp_fields: [] }));
  ws.serverSend('{"_v":2,"e":"m","d":{"x":1}}');
  assert.equal((await error).code, "invalid_frame");
  assert.deepEqual(await after, { x: 1 });
  assert.equal(storage.items.size, 0);
  socket.close();
});

test("a batch is unpacked in order", TIMEOUT, async () => {
  const { socket, ws } = connect();
  ws.serverAccept();
  ws.serverSend(withMap());
  const events = collect(socket, "*", 4);
  ws.serverSend('{"_v":2,"b":[["a",{"c":1}],["b",{"c":2}],["a",{"c":3}]]}');
  ws.serverSend('{"_v":2,"e":"b","d":{"c":4}}');
  const seen = await events;
  assert.deepEqual(seen.slice(1), [
    ["a", { content: 1 }],
    ["b", { content: 2 }],
    ["a", { content: 3 }],
  ]);
  socket.close();
});

test("gzip binary frames are decoded and keep their wire order", TIMEOUT, async () => {
  const { socket, ws } = connect();
  ws.serverAccept();
  ws.serverSend(withMap());
  const events = collect(socket, "*", 4);
  const big = { _v: 2, b: [["chunk", { c: "x".repeat(30000) }], ["chunk", { ts: 0 }]] };
  const gz = gzipSync(JSON.stringify(big));
  ws.serverSend(gz.buffer.slice(gz.byteOffset, gz.byteOffset + gz.byteLength));
  ws.serverSend('{"_v":2,"e":"after","d":{"c":"text"}}');
  const seen = await events;
  assert.deepEqual(seen.slice(1), [
    ["chunk", { content: "x".repeat(30000) }],
    ["chunk", { created_at: "1970-01-01T00:00:00Z" }],
    ["after", { content: "text" }],
  ]);
  assert.equal(socket.stats.bytes, Buffer.byteLength(withMap()) + gz.byteLength + 37);
  socket.close();
});

test("v1 frames are dispatched by their event", TIMEOUT, async () => {
  const { socket, ws } = connect();
  ws.serverAccept("");
  const hello = next(socket, "connection_established");
  const message = next(socket, "message_new");
  ws.serverSend('{"event": "connection_established", "data": {"version": 1, "features": {}}}');
  ws.serverSend('{"event": "message_new", "data": {"message_id": "m", "created_at": "2025-10-25T12:00:00Z"}}');
  assert.deepEqual(await hello, { version: 1, features: {} });
  assert.deepEqual(await message, { message_id: "m", created_at: "2025-10-25T12:00:00Z" });
  assert.equal(socket.protocol, "");
  socket.close();
});

test("a v1 frame without an event goes to * with event null", TIMEOUT, async () => {
  const { socket, ws } = connect();
  ws.serverAccept("");
  const all = next(socket, "*");
  const seen = collect(socket, "*", 1);
  ws.serverSend("[1,2,3]");
  await all;
  assert.deepEqual(await seen, [[null, [1, 2, 3]]]);
  socket.close();
});

test("the same handlers serve v1 and v2 connections", TIMEOUT, async () => {
  const frames = {
    v1: '{"event":"message_new","data":{"content":"hi","created_at":"2025-10-25T12:00:00Z"}}',
    v2: '{"_v":2,"e":"message_new","d":{"c":"hi","ts":1761393600000}}',
  };
  const results = [];
  for (const [protocol, frame] of [
    ["", frames.v1],
    [SUBPROTOCOL, frames.v2],
  ]) {
    const { socket, ws } = connect();
    ws.serverAccept(protocol);
    if (protocol) ws.serverSend(withMap());
    const message = next(socket, "message_new");
    ws.serverSend(frame);
    results.push(await message);
    socket.close();
  }
  assert.deepEqual(results[0], results[1]);
});

test("dates: true delivers Date objects", TIMEOUT, async () => {
  const { socket, ws } = connect({ dates: true });
  ws.serverAccept();
  ws.serverSend(withMap());
  const message = next(socket, "m");
  ws.serverSend('{"_v":2,"e":"m","d":{"ts":1761393600000}}');
  assert.deepEqual(await message, { created_at: new Date(1761393600000) });
  socket.close();
});

test("reconnects with exponential backoff after an abnormal close", TIMEOUT, async () => {
  const { socket, WebSocket } = connect({ reconnect: { initialDelay: 1, factor: 2, maxDelay: 4, jitter: 0 } });
  const closes = [];
  const delays = [];
  socket.on("close", (info) => closes.push(info));
  socket.on("reconnecting", ({ attempt, delay }) => delays.push([attempt, delay]));
  for (let i = 0; i < 4; i++) {
    const reconnecting = next(socket, "reconnecting");
    const opened = WebSocket.instances.length;
    WebSocket.last.serverClose(1006);
    await reconnecting;
    while (WebSocket.instances.length === opened) await new Promise((resolve) => setTimeout(resolve, 1));
  }
  assert.deepEqual(delays, [
    [1, 1],
    [2, 2],
    [3, 4],
    [4, 4],
  ]);
  assert.equal(WebSocket.instances.length, 5);
  assert.deepEqual(closes[0], { code: 1006, reason: "", wasClean: false, willReconnect: true });
  socket.close();
});

test("jitter shortens the delay by up to its fraction", TIMEOUT, () => {
  const { socket, WebSocket } = connect({ reconnect: { initialDelay: 1000, jitter: 0.5 } });
  socket.random = () => 1;
  const delays = [];
  socket.on("reconnecting", ({ delay }) => delays.push(delay));
  WebSocket.last.serverClose(1006);
  socket.close(); // cancels the pending attempt
  assert.deepEqual(delays, [500]);
});

test("a connection that stayed up resets the backoff", TIMEOUT, async () => {
  const { socket, WebSocket } = connect({ reconnect: { initialDelay: 1, jitter: 0, minUptime: 1000 } });
  let clock = 0;
  socket.now = () => clock;
  const attempts = [];
  socket.on("reconnecting", ({ attempt }) => attempts.push(attempt));
  const cycle = async (uptime) => {
    const ws = WebSocket.last;
    ws.serverAccept();
    clock += uptime;
    const reconnecting = next(socket, "reconnecting");
    ws.serverClose(1006);
    await reconnecting;
    while (WebSocket.last === ws) await new Promise((resolve) => setTimeout(resolve, 1));
  };
  await cycle(10);
  await cycle(10);
  await cycle(5000);
  await cycle(10);
  assert.deepEqual(attempts, [1, 2, 1, 2]);
  socket.close();
});

test("no reconnect after close() by the user", TIMEOUT, async () => {
  const { socket, WebSocket, ws } = connect({ reconnect: { initialDelay: 1, jitter: 0 } });
  ws.serverAccept();
  let reconnecting = 0;
  socket.on("reconnecting", () => reconnecting++);
  const closed = next(socket, "close");
  socket.close(4321, "bye");
  assert.deepEqual(ws.closedWith, [4321, "bye"]);
  assert.equal((await closed).willReconnect, false);
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(reconnecting, 0);
  assert.equal(WebSocket.instances.length, 1);
});

test("close() while waiting to reconnect cancels the attempt", TIMEOUT, async () => {
  const { socket, WebSocket } = connect({ reconnect: { initialDelay: 5, jitter: 0 } });
  const reconnecting = next(socket, "reconnecting");
  WebSocket.last.serverClose(1006);
  await reconnecting;
  socket.close();
  await new Promise((resolve) => setTimeout(resolve, 30));
  assert.equal(WebSocket.instances.length, 1);
});

test("no reconnect after 1000 or 4008, unless retryOn4008", TIMEOUT, async () => {
  for (const [code, options, expected] of [
    [1000, {}, false],
    [4008, {}, false],
    [4008, { retryOn4008: true }, true],
    [1001, {}, true],
    [1011, {}, true],
  ]) {
    const { socket, WebSocket } = connect({ reconnect: { initialDelay: 1, jitter: 0, ...options } });
    const closed = next(socket, "close");
    WebSocket.last.serverAccept();
    WebSocket.last.serverClose(code, "", true);
    assert.equal((await closed).willReconnect, expected, `code ${code}`);
    socket.close();
  }
});

test("reconnect: false and maxAttempts", TIMEOUT, async () => {
  const never = connect({ reconnect: false });
  const closed = next(never.socket, "close");
  never.ws.serverClose(1006);
  assert.equal((await closed).willReconnect, false);

  const { socket, WebSocket } = connect({ reconnect: { initialDelay: 1, jitter: 0, maxAttempts: 2 } });
  const infos = [];
  socket.on("close", (info) => infos.push(info.willReconnect));
  for (let i = 0; i < 3; i++) {
    const ws = WebSocket.last;
    const next_ = next(socket, "close");
    ws.serverClose(1006);
    await next_;
    if (i < 2) while (WebSocket.last === ws) await new Promise((resolve) => setTimeout(resolve, 1));
  }
  assert.deepEqual(infos, [true, true, false]);
  assert.equal(WebSocket.instances.length, 3);
});

test("send(): the plain form, and a v2 frame with optimize", TIMEOUT, async () => {
  const { socket, ws } = connect();
  assert.throws(() => socket.send("x", {}), /not open/);
  ws.serverAccept();
  socket.send("message_new", { content: "hi", created_at: "2025-10-25T12:00:00Z" }, { optimize: true });
  const hello = next(socket, "connection_established");
  ws.serverSend(withMap());
  await hello;
  socket.send("message_new", { content: "hi", created_at: "2025-10-25T12:00:00Z" });
  socket.send("message_new", { content: "hi", c: 1, created_at: "2025-10-25T12:00:00Z" }, { optimize: true });
  socket.send("ping");
  assert.deepEqual(ws.sent, [
    '{"event":"message_new","data":{"content":"hi","created_at":"2025-10-25T12:00:00Z"}}',
    '{"event":"message_new","data":{"content":"hi","created_at":"2025-10-25T12:00:00Z"}}',
    '{"_v":2,"e":"message_new","d":{"c":"hi","~c":1,"ts":1761393600000}}',
    '{"event":"ping","data":null}',
  ]);
  socket.close();
});

test("send(): optimize is never used on v1", TIMEOUT, () => {
  const { socket, ws } = connect({ optimize: true });
  ws.serverAccept("");
  socket.send("a", { content: 1 });
  assert.deepEqual(ws.sent, ['{"event":"a","data":{"content":1}}']);
  socket.close();
});

test("stats count frames, wire bytes and decoded events", TIMEOUT, async () => {
  const { socket, ws } = connect();
  ws.serverAccept();
  assert.deepEqual(socket.stats, { messages: 0, frames: 0, bytes: 0 });
  const done = collect(socket, "*", 4);
  const hello = withMap();
  const batch = '{"_v":2,"b":[["a","é"],["a","😀"]]}';
  const gz = gzipSync('{"_v":2,"e":"z","d":1}');
  ws.serverSend(hello);
  ws.serverSend(batch);
  ws.serverSend(new Uint8Array(gz));
  await done;
  assert.deepEqual(socket.stats, {
    messages: 4,
    frames: 3,
    bytes: Buffer.byteLength(hello) + Buffer.byteLength(batch) + gz.byteLength,
  });
  assert.equal(Buffer.byteLength(batch), batch.length + 1 + 2);
  const copy = socket.stats;
  copy.messages = 99;
  assert.equal(socket.stats.messages, 4);
  socket.close();
});

test("error handlers get Errors: server error events and undecodable frames", TIMEOUT, async () => {
  const { socket, ws } = connect();
  ws.serverAccept();
  const errors = collect(socket, "error", 2);
  const after = next(socket, "after");
  ws.serverSend('{"_v":2,"e":"error","r":1,"d":{"code":"malformed_json","detail":"bad"}}');
  ws.serverSend('{"_v":3,"e":"x","d":1}');
  ws.serverSend('{"_v":2,"e":"after","r":1,"d":1}');
  const [server, unknown] = await errors;
  assert.ok(server instanceof ReznetServerError);
  assert.deepEqual([server.code, server.detail], ["malformed_json", "bad"]);
  assert.deepEqual(server.data, { code: "malformed_json", detail: "bad" });
  assert.ok(unknown instanceof ReznetProtocolError);
  assert.equal(unknown.code, "unknown_version");
  assert.equal(await after, 1); // the connection carries on
  socket.close();

  // On a v1 connection no frame is raw: the v1 error frame is the control event.
  const v1 = connect();
  v1.ws.serverAccept("");
  const legacy = next(v1.socket, "error");
  v1.ws.serverSend('{"event":"error","data":{"code":"not_an_object","detail":"v1"}}');
  assert.ok((await legacy) instanceof ReznetServerError);
  assert.equal((await legacy).code, "not_an_object");
  v1.socket.close();
});

// The frames a hostile or buggy sender could use to pass an application event for a control one.
const SPOOFS = {
  encodedMap: JSON.stringify({
    _v: 2,
    e: "connection_established",
    d: { map_hash: "ffffffffffffffff", field_map: { message_id: "zz", content: "mid" }, timestamp_fields: [] },
  }),
  encodedHash: '{"_v":2,"e":"connection_established","d":{"map_hash":"0000000000000000"}}',
  batchEntry: '{"_v":2,"r":1,"b":[["connection_established",{"map_hash":"0000000000000000"}]]}',
  encodedError: '{"_v":2,"e":"error","d":{"code":"spoofed","detail":"not from the server"}}',
  legacyError: '{"event":"error","data":{"code":"spoofed","detail":"a v1 frame on v2"}}',
};

test("an encoded connection_established with a field_map does not replace the decoder", TIMEOUT, async () => {
  const { socket, ws, storage } = connect();
  ws.serverAccept();
  const hellos = [];
  socket.on("connection_established", (data) => hellos.push(data));
  const seen = collect(socket, "*", 3);
  ws.serverSend(withMap());
  ws.serverSend(SPOOFS.encodedMap);
  ws.serverSend('{"_v":2,"e":"message_new","d":{"mid":"a","c":"hi"}}');
  const [, [name, spoofed], [, message]] = await seen;
  // Delivered to `*` as the event it is, with its data decoded by the server's map ...
  assert.equal(name, "connection_established");
  assert.equal(spoofed.map_hash, "ffffffffffffffff");
  // ... but never taken as the greeting: same decoder, same cache, one greeting.
  assert.equal(hellos.length, 1);
  assert.deepEqual(socket.decoder.fieldMap, FIELD_MAP);
  assert.deepEqual(message, { message_id: "a", content: "hi" });
  assert.equal(storage.getItem("reznet_ws:map:last"), HASH);
  assert.equal(storage.getItem("reznet_ws:map:ffffffffffffffff"), null);
  socket.close();
});

test("an encoded connection_established with an unknown map_hash does not close with 4000", TIMEOUT, async () => {
  const { socket, ws, storage, WebSocket } = connect({ reconnect: { initialDelay: 1, jitter: 0 } });
  ws.serverAccept();
  const errors = [];
  socket.on("error", (error) => errors.push(error));
  const seen = collect(socket, "*", 4);
  ws.serverSend(withMap());
  ws.serverSend(SPOOFS.encodedHash);
  ws.serverSend(SPOOFS.batchEntry);
  ws.serverSend('{"_v":2,"e":"message_new","d":{"c":"still decoded"}}');
  const names = (await seen).map(([name]) => name);
  assert.deepEqual(names, ["connection_established", "connection_established", "connection_established", "message_new"]);
  assert.equal(ws.closedWith, null);
  assert.equal(ws.readyState, 1);
  assert.equal(WebSocket.instances.length, 1);
  assert.deepEqual(errors, []);
  assert.equal(storage.getItem("reznet_ws:map:last"), HASH);
  socket.close();
});

test("error events outside raw frames never reach the error handlers", TIMEOUT, async () => {
  const { socket, ws } = connect();
  ws.serverAccept();
  const hello = next(socket, "connection_established");
  ws.serverSend(withMap());
  await hello;
  const errors = [];
  socket.on("error", (error) => errors.push(error));
  const seen = collect(socket, "*", 3);
  ws.serverSend(SPOOFS.encodedError);
  ws.serverSend(SPOOFS.legacyError);
  ws.serverSend('{"_v":2,"e":"error","r":1,"d":{"code":"rate_limited","detail":"real"}}');
  const all = await seen;
  assert.deepEqual(
    all.map(([name, data]) => [name, data.code]),
    [
      ["error", "spoofed"],
      ["error", "spoofed"],
      ["error", "rate_limited"],
    ],
  );
  assert.equal(errors.length, 1);
  assert.ok(errors[0] instanceof ReznetServerError);
  assert.equal(errors[0].code, "rate_limited");
  socket.close();
});

test("CONTROL_EVENTS are the reserved names of docs/protocol.md", () => {
  const text = readFileSync(new URL("../../docs/protocol.md", import.meta.url), "utf8");
  const section = text.split("### Reserved event names")[1].split("\n\n")[1];
  const names = [...section.matchAll(/^\| `([a-z_]+)` \|/gm)].map((m) => m[1]);
  assert.deepEqual([...names].sort(), [...CONTROL_EVENTS].sort());
});

test("on / once / off / unsubscribe", TIMEOUT, async () => {
  const { socket, ws } = connect();
  ws.serverAccept("");
  const calls = [];
  const a = (data) => calls.push(["a", data]);
  const b = (data) => calls.push(["b", data]);
  const unsubscribe = socket.on("x", a);
  socket.once("x", b);
  socket.on("x", b);
  const send = async (data) => {
    const seen = next(socket, "*");
    ws.serverSend(JSON.stringify({ event: "x", data }));
    await seen;
  };
  await send(1);
  socket.off("x", b);
  await send(2);
  unsubscribe();
  await send(3);
  assert.deepEqual(calls, [
    ["a", 1],
    ["b", 1],
    ["b", 1],
    ["a", 2],
  ]);
  assert.throws(() => socket.on("x", null), TypeError);
  socket.close();
});

test("a throwing handler does not stop the others", TIMEOUT, async () => {
  const reported = [];
  const original = globalThis.reportError;
  globalThis.reportError = (error) => reported.push(error);
  try {
    const { socket, ws } = connect();
    ws.serverAccept("");
    socket.on("x", () => {
      throw new Error("boom");
    });
    const second = next(socket, "x");
    ws.serverSend('{"event":"x","data":1}');
    assert.equal(await second, 1);
    assert.equal(reported[0].message, "boom");
    socket.close();
  } finally {
    globalThis.reportError = original;
  }
});

test("transport errors reach error handlers", TIMEOUT, async () => {
  const { socket, ws } = connect();
  const error = next(socket, "error");
  ws.onerror({ type: "error" });
  const err = await error;
  assert.ok(err instanceof Error);
  assert.deepEqual(err.event, { type: "error" });
  socket.close();
});

test("storage failures only cost the cache", TIMEOUT, async () => {
  const broken = {
    getItem() {
      throw new Error("SecurityError");
    },
    setItem() {
      throw new Error("QuotaExceededError");
    },
    removeItem() {
      throw new Error("SecurityError");
    },
  };
  const { socket, ws } = connect({ storage: broken });
  ws.serverAccept();
  ws.serverSend(withMap());
  const message = next(socket, "m");
  ws.serverSend('{"_v":2,"e":"m","d":{"c":1}}');
  assert.deepEqual(await message, { content: 1 });
  socket.close();
});

test("storage: null disables caching", TIMEOUT, async () => {
  const { socket, ws } = connect({ storage: null });
  ws.serverAccept();
  const message = next(socket, "m");
  ws.serverSend(withMap());
  ws.serverSend('{"_v":2,"e":"m","d":{"c":1}}');
  assert.deepEqual(await message, { content: 1 });
  socket.close();
});

test("without a WebSocket implementation the constructor says so", () => {
  assert.throws(() => new ReznetSocket("ws://x/", { WebSocket: "not a constructor" }), /WebSocket/);
});

// ---------------------------------------------------------------------------------------------
// Content frames: the server's send_json(content) (protocol section 3.1)

test("contentFrames: false and legacy: true leave reznet_features out", TIMEOUT, () => {
  for (const options of [{ contentFrames: false, deltas: false, streams: false }, { legacy: true }]) {
    const { socket, ws } = connect(options);
    assert.equal(ws.url, "ws://example.test/ws/chat/");
    socket.close();
  }
});

test("a content frame is delivered as its v1 text would be", TIMEOUT, async () => {
  const { socket, ws } = connect();
  ws.serverAccept();
  ws.serverSend(withMap());
  await next(socket, "connection_established");
  const all = collect(socket, "*", 3);
  const message = next(socket, "message_new");
  ws.serverSend('{"_v":2,"c":{"type":"chat.message","c":"hi","ts":1761393600000}}');
  ws.serverSend('{"_v":2,"c":{"event":"message_new","data":{"mid":"a","~c":1}}}');
  ws.serverSend('{"_v":2,"c":[1,"two",null]}');
  assert.deepEqual(await message, { message_id: "a", c: 1 });
  assert.deepEqual(await all, [
    [null, { type: "chat.message", content: "hi", created_at: "2025-10-25T12:00:00Z" }],
    ["message_new", { message_id: "a", c: 1 }],
    [null, [1, "two", null]],
  ]);
  assert.equal(socket.stats.messages, 4);
  socket.close();
});

test("send_json content reaches the same handlers on v1 and as a content frame", TIMEOUT, async () => {
  const v1 = [
    '{"type": "chat.message", "content": "hi", "created_at": "2025-10-25T12:00:00Z"}',
    '{"event": "message_new", "data": {"content": "x"}}',
  ];
  const v2 = ['{"_v":2,"c":{"type":"chat.message","c":"hi","ts":1761393600000}}', '{"_v":2,"c":{"event":"message_new","data":{"c":"x"}}}'];
  const results = [];
  for (const [protocol, frames] of [
    ["", v1],
    [SUBPROTOCOL, v2],
  ]) {
    const { socket, ws } = connect();
    ws.serverAccept(protocol);
    if (protocol) ws.serverSend(withMap());
    const seen = collect(socket, "*", frames.length + (protocol ? 1 : 0));
    for (const frame of frames) ws.serverSend(frame);
    results.push((await seen).slice(protocol ? 1 : 0));
    socket.close();
  }
  assert.deepEqual(results[1], results[0]);
});

test("a gzip content frame keeps its wire order", TIMEOUT, async () => {
  const { socket, ws } = connect();
  ws.serverAccept();
  ws.serverSend(withMap());
  const seen = collect(socket, "*", 3);
  const gz = gzipSync(JSON.stringify({ _v: 2, c: { c: "x".repeat(30000) } }));
  ws.serverSend(gz.buffer.slice(gz.byteOffset, gz.byteOffset + gz.byteLength));
  ws.serverSend('{"_v":2,"e":"after","d":{"c":"text"}}');
  assert.deepEqual((await seen).slice(1), [
    [null, { content: "x".repeat(30000) }],
    ["after", { content: "text" }],
  ]);
  socket.close();
});

test("a content frame never carries a control event", TIMEOUT, async () => {
  const { socket, ws } = connect();
  ws.serverAccept();
  ws.serverSend(withMap());
  await next(socket, "connection_established");
  const errors = [];
  socket.on("error", (error) => errors.push(error));
  const hellos = [];
  socket.on("connection_established", (data) => hellos.push(data));
  const seen = collect(socket, "*", 3);
  ws.serverSend('{"_v":2,"c":{"event":"error","data":{"code":"x"}}}');
  ws.serverSend('{"_v":2,"c":{"event":"connection_established","data":{"field_map":{"a":"b"},"map_hash":"ffff"}}}');
  ws.serverSend('{"_v":2,"e":"m","d":{"c":1}}');
  const events = await seen;
  assert.deepEqual(events.map(([name]) => name), ["error", "connection_established", "m"]);
  assert.deepEqual(events[2][1], { content: 1 }); // the field map was not replaced
  assert.deepEqual(errors, []);
  assert.deepEqual(hellos, []);
  assert.equal(ws.readyState, 1);
  socket.close();
});

test("a malformed content frame is reported and dropped, the connection stays", TIMEOUT, async () => {
  const { socket, ws } = connect();
  ws.serverAccept();
  ws.serverSend(withMap());
  const error = next(socket, "error");
  const after = next(socket, "m");
  ws.serverSend('{"_v":2,"c":1,"e":"m","d":2}');
  ws.serverSend('{"_v":2,"e":"m","d":{"c":3}}');
  assert.equal((await error).code, "invalid_frame");
  assert.deepEqual(await after, { content: 3 });
  assert.equal(ws.readyState, 1);
  socket.close();
});
