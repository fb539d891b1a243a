// The shared conformance vectors (tests/vectors/vectors.json, generated from the Python codec):
// every frame must decode to exactly the events the Python side expects.
import assert from "node:assert/strict";
import { test } from "node:test";

import { Decoder, PROTOCOL_VERSION, SUBPROTOCOL } from "../../reznet_ws/static/reznet_ws/reznet-ws.js";
import { vectorFile } from "./helpers.mjs";

const { file, skip } = vectorFile("vectors.json");

function decoderFor(vector) {
  return new Decoder({
    fieldMap: vector.field_map ?? file.field_map,
    timestampFields: vector.timestamp_fields ?? file.timestamp_fields,
  });
}

test("the vector file is for this protocol version", { skip }, () => {
  assert.equal(file.protocol_version, PROTOCOL_VERSION);
  assert.equal(file.subprotocol, SUBPROTOCOL);
  assert.ok(file.vectors.length > 0);
  const names = file.vectors.map((vector) => vector.name);
  assert.equal(new Set(names).size, names.length, "vector names are unique");
});

test("the vectors cover text, binary, batch and legacy frames", { skip }, () => {
  const has = (predicate) => file.vectors.some(predicate);
  assert.ok(has((v) => v.frame.type === "binary"), "a binary frame");
  assert.ok(has((v) => v.legacy), "a legacy frame");
  assert.ok(has((v) => v.expected.length > 1), "a batch");
});

for (const vector of file?.vectors ?? []) {
  test(`vector ${vector.name}`, { timeout: 5000 }, async () => {
    const decoder = decoderFor(vector);
    const { frame } = vector;
    const message = frame.type === "text" ? frame.data : new Uint8Array(Buffer.from(frame.base64, "base64"));
    assert.ok(frame.type === "text" || frame.type === "binary", `frame type ${frame.type}`);
    const result = await decoder.decodeMessage(message);
    if (vector.legacy) {
      assert.equal(frame.type, "text");
      assert.deepStrictEqual(result, { legacy: true, payload: vector.expected[0] });
      return;
    }
    assert.deepStrictEqual(result, { legacy: false, events: vector.expected });
    if (frame.type === "text") {
      assert.deepStrictEqual(decoder.decodeFrameObject(JSON.parse(frame.data)), vector.expected);
    }
  });
}
