// Entity references (protocol section 3.4): the vectors of tests/vectors/entities.json, made by
// the Python server code, resolve to what v1 delivers with the same table the server kept;
// seeded random series (a server written here the way the Python one works: split, define what
// is missing, store in order) resolve to the data sent, whatever the table size; a ReznetSocket
// hands handlers whole objects and reports an unresolvable reference instead of dropping it.
import assert from "node:assert/strict";
import { test } from "node:test";

import { Decoder, EntityError, EntityTable, ReznetSocket, SUBPROTOCOL } from "../../reznet_ws/static/reznet_ws/reznet-ws.js";
import { prng, settle, vectorFile } from "./helpers.mjs";

const { file, skip } = vectorFile("entities.json");

test("entity vectors resolve to what v1 delivers, holding what the server thinks", { skip }, () => {
  const decoder = new Decoder({ fieldMap: file.field_map, timestampFields: file.timestamp_fields });
  const table = new EntityTable(file.max);
  for (const item of file.frames) {
    let frame = JSON.parse(item.frame);
    if (Object.hasOwn(frame, "t")) frame = table.resolve(frame);
    const [{ data }] = decoder.decodeFrameObject(frame);
    assert.deepStrictEqual(data, item.expected);
    assert.deepStrictEqual([...table.items.keys()], item.held);
  }
});

for (const [index, item] of (file?.invalid ?? []).entries()) {
  test(`invalid entity frame ${index} raises EntityError`, { skip }, () => {
    assert.throws(() => new EntityTable(2).resolve(JSON.parse(item.frame)), EntityError);
  });
}

// -- seeded random series ---------------------------------------------------------------------

// The exact text of a value, as the server compares them (-0 is not 0 there either).
const exact = (value) => JSON.stringify(value, (_, x) => (Object.is(x, -0) ? "-0 (negative zero)" : x));

// The server's side, as reznet_ws/codec/entities.py does it on DATA values.
function split(value, found) {
  if (Array.isArray(value)) return value.map((item) => split(item, found));
  if (value === null || typeof value !== "object") return value;
  const out = {};
  for (const [key, item] of Object.entries(value)) {
    if (key === "author" && item !== null && typeof item === "object" && !Array.isArray(item) && typeof item.aid === "string") {
      const ref = `author:${item.aid}`;
      const text = exact(item);
      if (!found.has(ref)) found.set(ref, { text, item });
      if (found.get(ref).text === text) {
        Object.defineProperty(out, key, { value: { "~": ref }, enumerable: true, writable: true, configurable: true });
        continue;
      }
    }
    Object.defineProperty(out, key, { value: split(item, found), enumerable: true, writable: true, configurable: true });
  }
  return out;
}

function message(int) {
  const author = () => {
    const a = { aid: ["u1", "u2", "u3", "u4"][int(4)], n: ["Ann", "Bo"][int(2)] };
    if (int(3) === 0) a.extra = [1, null, { "~~": "x" }, -0, JSON.parse('{"__proto__": 1}')][int(5)];
    return a;
  };
  const data = { c: `text ${int(100)}`, author: author() };
  if (int(2)) data.reply_to = { author: author(), "~~": "author:u1" };
  if (int(2)) data.mn = Array.from({ length: int(3) }, () => ({ author: author() }));
  if (int(4) === 0) data.author = [null, "u1", { n: "no id" }][int(3)];
  return data;
}

test("random series resolve to the data sent, for any table size", () => {
  let changed = 0;
  for (let seed = 1; seed <= 300; seed++) {
    const random = prng(seed);
    const int = (n) => Math.floor(random() * n);
    const max = 1 + int(4);
    const server = new Map();
    const client = new EntityTable(max);
    for (let step = 0; step < 15; step++) {
      if (int(8) === 0) server.clear(); // a resync
      const data = message(int);
      const found = new Map();
      const d = split(data, found);
      const wanted = [...found].filter(([ref, { text }]) => server.get(ref) !== text || int(5) === 0);
      // A value held changes as [REF, null, OPS] (here: replace the whole value) or anew; rows
      // are made against the table as it was before this frame.
      const row = ([ref, { item }]) => (server.has(ref) && int(2) ? [ref, null, [[[], item]]] : [ref, item]);
      const frame = { _v: 2, e: "m", t: wanted.map(row), d };
      for (const [ref, { text }] of wanted) {
        server.delete(ref);
        server.set(ref, text);
      }
      while (server.size > max) server.delete(server.keys().next().value);
      const resolved = client.resolve(structuredClone(frame)); // as parsed from the wire
      assert.deepStrictEqual(resolved.d, data, `seed ${seed} step ${step}`);
      for (const [ref, text] of server) assert.equal(exact(client.items.get(ref)), text);
    }
    changed += client.stats.changed;
  }
  assert.ok(changed > 100, "changes of held values were exercised");
});

// -- the socket -------------------------------------------------------------------------------

function fakeWebSocket() {
  const instances = [];
  class FakeWebSocket {
    constructor(url, protocols) {
      Object.assign(this, { url, protocols, protocol: "", readyState: 0, sent: [] });
      instances.push(this);
    }
    send(data) {
      this.sent.push(data);
    }
    close() {
      this.readyState = 3;
    }
    accept(features) {
      this.protocol = SUBPROTOCOL;
      this.readyState = 1;
      this.onopen?.({});
      const d = { version: 2, map_hash: "h", field_map: { name: "n" }, timestamp_fields: [], features };
      this.onmessage?.({ data: JSON.stringify({ _v: 2, e: "connection_established", r: 1, d }) });
    }
    deliver(frame) {
      this.onmessage?.({ data: JSON.stringify(frame) });
    }
  }
  return { FakeWebSocket, instances };
}

test("a socket resolves references, and reports one it cannot resolve", async () => {
  const { FakeWebSocket, instances } = fakeWebSocket();
  const socket = new ReznetSocket("ws://h/ws/", { WebSocket: FakeWebSocket, storage: null, reconnect: false });
  const ws = instances[0];
  const seen = [];
  socket.on("message_new", (data) => seen.push(data));
  const errors = [];
  socket.on("error", (error) => errors.push(error.code));
  ws.accept({ keyed_deltas: true, entity_refs: 1 });
  await settle();
  assert.equal(socket.entities.max, 1);
  ws.deliver({ _v: 2, e: "message_new", t: [["author:a", { n: "Ann" }]], d: { author: { "~": "author:a" } } });
  ws.deliver({ _v: 2, e: "message_new", t: [], d: { c: 1, author: { "~": "author:a" } } });
  ws.deliver({ _v: 2, e: "message_new", t: [["author:b", { n: "Bo" }]], d: { author: { "~": "author:b" } } });
  ws.deliver({ _v: 2, e: "message_new", t: [], d: { author: { "~": "author:a" } } }); // a was evicted
  await settle();
  assert.deepStrictEqual(seen, [{ author: { name: "Ann" } }, { c: 1, author: { name: "Ann" } }, { author: { name: "Bo" } }]);
  assert.deepStrictEqual(errors, ["invalid_frame"]);
  assert.deepStrictEqual(JSON.parse(ws.sent.at(-1)), { _v: 2, e: "reznet.resync", r: 1, d: { keys: [], entities: true } });
  assert.equal(socket.entities.stats.missing, 1);
  socket.close();
});
