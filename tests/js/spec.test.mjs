// Hand-written vectors taken from the examples and rules of docs/protocol.md: the client's own
// reading of the spec, independent of the vectors the Python codec generates.
import assert from "node:assert/strict";
import { test } from "node:test";
import { gzipSync } from "node:zlib";

import {
  Decoder,
  ReznetProtocolError,
  decodePayload,
} from "../../reznet_ws/static/reznet_ws/reznet-ws.js";

const FIELD_MAP = { message_id: "mid", content: "c", created_at: "ts", author_name: "an", metadata: "m" };
const TIMESTAMPS = ["created_at", "updated_at"];
const decoder = new Decoder({ fieldMap: FIELD_MAP, timestampFields: TIMESTAMPS });

function rejectsWith(code) {
  return (error) => error instanceof ReznetProtocolError && error.code === code;
}

test("v1 frame from section 2 passes through untouched", async () => {
  const text = '{"event": "message_new", "data": {"message_id": "abc-123", "created_at": "2025-10-25T12:00:00Z"}}';
  assert.deepEqual(await decoder.decodeMessage(text), { legacy: true, payload: JSON.parse(text) });
});

test("a v1 frame that happens to use short names is not decoded", async () => {
  const result = await decoder.decodeMessage('{"event":"x","data":{"c":1,"ts":5}}');
  assert.deepEqual(result, { legacy: true, payload: { event: "x", data: { c: 1, ts: 5 } } });
});

test("event frame: keys and timestamps decode", async () => {
  const text = '{"_v":2,"e":"message_new","d":{"mid":"abc-123","an":"@backend","ts":1761393600000}}';
  assert.deepEqual(await decoder.decodeMessage(text), {
    legacy: false,
    events: [
      {
        event: "message_new",
        data: { message_id: "abc-123", author_name: "@backend", created_at: "2025-10-25T12:00:00Z" },
      },
    ],
  });
});

test("section 4.1 example: {'~c': 1, 'c': 2} decodes to {c: 1, content: 2}", () => {
  assert.deepEqual(decoder.decodeData({ "~c": 1, c: 2 }), { c: 1, content: 2 });
  assert.deepEqual(decoder.encodeData({ c: 1, content: 2 }), { "~c": 1, c: 2 });
});

test("keys starting with ~ are escaped with one more ~", () => {
  assert.deepEqual(decoder.encodeData({ "~": 1, "~c": 2, "~~x": 3 }), { "~~": 1, "~~c": 2, "~~~x": 3 });
  assert.deepEqual(decoder.decodeData({ "~~": 1, "~~c": 2, "~~~x": 3, "~": 4 }), {
    "~": 1,
    "~c": 2,
    "~~x": 3,
    "": 4,
  });
});

test("unknown keys stay as they are, at every depth", () => {
  const encoded = { x: [{ mid: 1, y: { c: "hi", z: null } }], mid: { mid: { an: true } } };
  assert.deepEqual(decoder.decodeData(encoded), {
    x: [{ message_id: 1, y: { content: "hi", z: null } }],
    message_id: { message_id: { author_name: true } },
  });
});

test("section 4.2 table: every example decodes to its string", () => {
  const cases = [
    [1761393600000, "2025-10-25T12:00:00Z"],
    [1761393600123, "2025-10-25T12:00:00.123Z"],
    [[1761393600000, 1, null], "2025-10-25T12:00:00.000Z"],
    [[1761393600123, 2, null], "2025-10-25T12:00:00.123000Z"],
    [[1761393600000, 0, 120], "2025-10-25T14:00:00+02:00"],
    [[1761393600000, 0, false], "2025-10-25T12:00:00"],
  ];
  for (const [encoded, iso] of cases) {
    assert.deepEqual(decoder.decodeData({ ts: encoded }), { created_at: iso });
    assert.deepEqual(decoder.encodeData({ created_at: iso }), { ts: encoded });
  }
});

test("timestamp fields holding other values", () => {
  const encoded = {
    ts: [[1, 2]], // an array wrapped as [v]
    updated_at: [42.5], // a number wrapped as [v]
    m: { ts: "yesterday", updated_at: { mid: 1 } },
    x: { updated_at: null, ts: true },
  };
  assert.deepEqual(decoder.decodeData(encoded), {
    created_at: [1, 2],
    updated_at: 42.5,
    metadata: { created_at: "yesterday", updated_at: { message_id: 1 } },
    x: { updated_at: null, created_at: true },
  });
  assert.deepEqual(
    decoder.encodeData({ created_at: [1, 2], updated_at: 42.5, metadata: { created_at: "yesterday" } }),
    { ts: [[1, 2]], updated_at: [42.5], m: { ts: "yesterday" } },
  );
});

test("a number wrapped as [v] is the number, even if it looks like ms", () => {
  assert.deepEqual(decoder.decodeData({ ts: [1761393600000] }), { created_at: 1761393600000 });
  assert.deepEqual(decoder.encodeData({ created_at: 1761393600000 }), { ts: [1761393600000] });
});

test("[v] decodes v as DATA, timestamps in it included", () => {
  assert.deepEqual(decoder.decodeData({ ts: [[{ mid: 1, ts: 0 }]] }), {
    created_at: [{ message_id: 1, created_at: "1970-01-01T00:00:00Z" }],
  });
});

test("a timestamp key that is escaped is still a timestamp by its full name", () => {
  // "updated_at" has no short name; "created_at" written as "~created_at" never happens, but a
  // key "~ts" is the literal key "ts", which is not a timestamp field.
  assert.deepEqual(decoder.decodeData({ updated_at: 0, "~ts": 0 }), {
    updated_at: "1970-01-01T00:00:00Z",
    ts: 0,
  });
});

test("strings that are not exactly reproducible stay strings", () => {
  for (const iso of [
    "2025-10-25T12:00:00.123456Z",
    "2025-10-25T12:00:00+02:00:30",
    "2025-10-25t12:00:00Z",
    "2025-10-25T12:00:00z",
    "0000-01-01T00:00:00Z",
    "2025-10-25",
    "2025-10-25T12:00Z",
  ]) {
    assert.deepEqual(decoder.encodeData({ created_at: iso }), { ts: iso }, iso);
    assert.deepEqual(decoder.decodeData({ ts: iso }), { created_at: iso }, iso);
  }
});

test("dates: true gives Date objects for encoded timestamps only", () => {
  const dates = new Decoder({ fieldMap: FIELD_MAP, timestampFields: TIMESTAMPS, dates: true });
  const data = dates.decodeData({ ts: 1761393600000, updated_at: [1761393600000, 0, 120], m: { ts: "soon" } });
  assert.deepEqual(data, {
    created_at: new Date(1761393600000),
    updated_at: new Date(1761393600000),
    metadata: { created_at: "soon" },
  });
});

test("raw frame: data is not decoded", async () => {
  const d = {
    version: 2,
    protocol: "reznet.v2",
    map_hash: "0123456789abcdef",
    field_map: { message_id: "mid" },
    timestamp_fields: ["created_at"],
    c: 1,
    ts: 5,
  };
  const text = JSON.stringify({ _v: 2, e: "connection_established", r: 1, d });
  assert.deepEqual(await decoder.decodeMessage(text), {
    legacy: false,
    events: [{ event: "connection_established", data: d }],
  });
});

test("batch frame: events in order, each decoded", () => {
  const frame = { _v: 2, b: [["a", { c: 1 }], ["b", [{ ts: 0 }]], ["a", null]] };
  assert.deepEqual(decoder.decodeFrameObject(frame), [
    { event: "a", data: { content: 1 } },
    { event: "b", data: [{ created_at: "1970-01-01T00:00:00Z" }] },
    { event: "a", data: null },
  ]);
});

test('"r": null means an encoded frame', () => {
  assert.deepEqual(decoder.decodeFrameObject({ _v: 2, e: "x", r: null, d: { c: 1 } }), [{ event: "x", data: { content: 1 } }]);
});

test("event names are never abbreviated", () => {
  assert.deepEqual(decoder.decodeFrameObject({ _v: 2, e: "c", d: 1 }), [{ event: "c", data: 1 }]);
});

test("gzip binary frame inflates, as ArrayBuffer, Uint8Array and Blob", async () => {
  const text = JSON.stringify({ _v: 2, b: [["x", { c: "y".repeat(20000) }], ["z", { ts: 0 }]] });
  const gz = gzipSync(text);
  const expected = {
    legacy: false,
    events: [
      { event: "x", data: { content: "y".repeat(20000) } },
      { event: "z", data: { created_at: "1970-01-01T00:00:00Z" } },
    ],
  };
  const buffer = gz.buffer.slice(gz.byteOffset, gz.byteOffset + gz.byteLength);
  assert.deepEqual(await decoder.decodeMessage(buffer), expected);
  assert.deepEqual(await decoder.decodeMessage(new Uint8Array(buffer)), expected);
  assert.deepEqual(await decoder.decodeMessage(new Blob([buffer])), expected);
});

test("gzip content is UTF-8", async () => {
  const text = JSON.stringify({ _v: 2, e: "x", d: { c: "héllo ✓ 😀" } });
  const result = await decoder.decodeMessage(gzipSync(Buffer.from(text, "utf8")));
  assert.deepEqual(result.events, [{ event: "x", data: { content: "héllo ✓ 😀" } }]);
});

test("inflated size is capped", async () => {
  const small = new Decoder({ maxInflatedBytes: 1000 });
  const gz = gzipSync(JSON.stringify({ _v: 2, e: "x", d: "a".repeat(5000) }));
  await assert.rejects(small.decodeMessage(gz), rejectsWith("too_large"));
  const ok = await new Decoder({ maxInflatedBytes: 6000 }).decodeMessage(gz);
  assert.equal(ok.events[0].data.length, 5000);
});

test("binary frames that are not gzip, or broken gzip, are errors", async () => {
  await assert.rejects(decoder.decodeMessage(new Uint8Array([1, 2, 3])), rejectsWith("unexpected_binary"));
  await assert.rejects(decoder.decodeMessage(new Uint8Array([])), rejectsWith("unexpected_binary"));
  const gz = gzipSync('{"_v":2,"e":"x","d":1}');
  await assert.rejects(decoder.decodeMessage(gz.subarray(0, gz.length - 6)), rejectsWith("decompression_failed"));
  const corrupt = Uint8Array.from(gz);
  corrupt[12] ^= 0xff;
  await assert.rejects(decoder.decodeMessage(corrupt), rejectsWith("decompression_failed"));
  await assert.rejects(decoder.decodeMessage(gzipSync(Buffer.from([0xff, 0xfe]))), rejectsWith("malformed_json"));
});

test("unknown _v is an error", async () => {
  for (const v of [1, 3, "2", null, 2.5]) {
    await assert.rejects(decoder.decodeMessage(JSON.stringify({ _v: v, e: "x", d: 1 })), rejectsWith("unknown_version"));
    assert.throws(() => decodePayload({ _v: v, e: "x", d: 1 }, decoder), rejectsWith("unknown_version"));
  }
});

test("malformed and invalid frames are errors", async () => {
  await assert.rejects(decoder.decodeMessage("{nope"), rejectsWith("malformed_json"));
  for (const frame of [
    { _v: 2 },
    { _v: 2, e: 1, d: 1 },
    { _v: 2, e: "x" },
    { _v: 2, e: "x", r: 1 },
    { _v: 2, e: "x", r: true, d: 1 },
    { _v: 2, e: "x", b: [], d: 1 },
    { _v: 2, b: {} },
    { _v: 2, b: [["x"]] },
    { _v: 2, b: [[1, 2]] },
    { _v: 2, b: ["x"] },
    { _v: 2, e: "x", r: 2, d: 1 },
    { _v: 2, e: "x", d: { ts: [1, 5, null] } },
    { _v: 2, e: "x", d: { ts: [1, 0, 1440] } },
    { _v: 2, e: "x", d: { ts: [1.5, 0, null] } },
    { _v: 2, e: "x", d: { ts: 1e18 } },
  ]) {
    await assert.rejects(decoder.decodeMessage(JSON.stringify(frame)), rejectsWith("invalid_frame"), JSON.stringify(frame));
  }
});

test("JSON that is not an object has no _v: passed through as legacy", async () => {
  assert.deepEqual(await decoder.decodeMessage("[1,2]"), { legacy: true, payload: [1, 2] });
  assert.deepEqual(await decoder.decodeMessage('"x"'), { legacy: true, payload: "x" });
});

test("a __proto__ key is data, not a prototype", () => {
  const frame = JSON.parse('{"_v":2,"e":"x","d":{"__proto__":{"c":1},"mid":2}}');
  const [{ data }] = decoder.decodeFrameObject(frame);
  assert.equal(Object.getPrototypeOf(data), Object.prototype);
  assert.deepEqual(Object.keys(data), ["__proto__", "message_id"]);
  assert.deepEqual(data.__proto__, { content: 1 }); // eslint-disable-line no-proto
  assert.deepEqual(decoder.encodeData(JSON.parse('{"__proto__":{"content":1}}')), JSON.parse('{"__proto__":{"c":1}}'));
});

test("keys that are Object.prototype names are not map entries", () => {
  assert.deepEqual(decoder.decodeData({ constructor: 1, toString: 2, hasOwnProperty: 3 }), {
    constructor: 1,
    toString: 2,
    hasOwnProperty: 3,
  });
});

test("decodePayload: v2 decoded, batch as array, v1 untouched", () => {
  assert.deepEqual(decodePayload({ _v: 2, e: "m", d: { c: 1 } }, decoder), { event: "m", data: { content: 1 } });
  assert.deepEqual(decodePayload({ _v: 2, b: [["m", { c: 1 }]] }, decoder), [{ event: "m", data: { content: 1 } }]);
  const legacy = { event: "m", data: { c: 1 } };
  assert.equal(decodePayload(legacy, decoder), legacy);
  assert.equal(decodePayload(null), null);
  assert.deepEqual(decodePayload({ _v: 2, e: "m", r: 1, d: { c: 1 } }), { event: "m", data: { c: 1 } });
});

test("encodeData normalizes like JSON.stringify", () => {
  const date = new Date(Date.UTC(2025, 9, 25, 12));
  assert.deepEqual(decoder.encodeData({ created_at: date, x: undefined, y: [undefined, NaN], content: date }), {
    ts: [1761393600000, 1, null],
    y: [null, null],
    c: "2025-10-25T12:00:00.000Z",
  });
  assert.equal(decoder.encodeData(undefined), undefined);
});

test("Decoder rejects a field map that is not a bijection", () => {
  assert.throws(() => new Decoder({ fieldMap: { a: "x", b: "x" } }), TypeError);
  assert.throws(() => new Decoder({ fieldMap: { a: "" } }), TypeError);
  assert.throws(() => new Decoder({ fieldMap: { a: "~a" } }), TypeError);
  assert.throws(() => new Decoder({ fieldMap: { a: 1 } }), TypeError);
});

test("a Decoder is immutable", () => {
  assert.throws(() => {
    decoder.fieldMap.x = "y";
  }, TypeError);
  assert.deepEqual(decoder.timestampFields, TIMESTAMPS);
});
