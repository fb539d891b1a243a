// Property-style tests: decodeData(encodeData(x)) equals x for seeded random JSON values whose
// keys collide with full names, short names and "~" escapes, and whose strings are often
// timestamps in every format (protocol section 4's guarantee).
import assert from "node:assert/strict";
import { test } from "node:test";

import { Decoder, formatTimestamp, parseTimestamp } from "../../reznet_ws/static/reznet_ws/reznet-ws.js";
import { prng } from "./helpers.mjs";

const FIELD_MAP = {
  message_id: "mid",
  content: "c",
  created_at: "ts",
  updated_at: "uts",
  timestamp: "tms",
  metadata: "m",
  id: "id", // a name that is its own short name
  name: "n",
};
const TIMESTAMPS = ["created_at", "updated_at", "timestamp", "c", "~x"];
const RUNS = 3000;

function generator(random) {
  const int = (n) => Math.floor(random() * n);
  const pick = (items) => items[int(items.length)];
  const fulls = Object.keys(FIELD_MAP);
  const shorts = Object.values(FIELD_MAP);
  const keys = () =>
    pick([
      () => pick(fulls),
      () => pick(shorts),
      () => `~${pick([...fulls, ...shorts, "", "~", "x"])}`,
      () => pick(["", "~", "~~", "__proto__", "constructor", "toString", "0", "12", "é", "😀", "x y"]),
      () => pick(TIMESTAMPS),
      () => randomString(),
    ])();
  const randomString = () => {
    const alphabet = ["a", "b", "~", "-", ":", "T", "Z", "0", "1", "é", "\u2028", "\ud83d\ude00", '"', "\\", "\n"];
    return Array.from({ length: int(6) }, () => pick(alphabet)).join("");
  };
  const timestamp = () => {
    const ms = Math.round(-62135596800000 + 86400000 + random() * 3.15e14);
    const text = formatTimestamp(ms, int(3), pick([null, false, 0, int(1439), -int(1439)]));
    // Near misses of a timestamp must stay strings.
    return pick([
      () => text,
      () => text,
      () => text.toLowerCase(),
      () => `${text} `,
      () => text.replace(/(\.\d{3})/, "$1456"),
      () => text.replace("Z", "+00:00"),
      () => text.replace("Z", "-00:00"),
    ])();
  };
  const scalar = () =>
    pick([
      () => null,
      () => random() < 0.5,
      () => int(2 ** 31) - 2 ** 30,
      () => Math.round(random() * 2e15),
      () => (random() - 0.5) * 1e6,
      () => pick([0, 1, -1, 0.5, 1e21, 1e-7, Number.MAX_SAFE_INTEGER]),
      () => randomString(),
      () => timestamp(),
      () => timestamp(),
    ])();
  const value = (depth) => {
    if (depth > 3 || random() < 0.4) return scalar();
    if (random() < 0.35) return Array.from({ length: int(4) }, () => value(depth + 1));
    const out = {};
    for (let i = int(6); i > 0; i--) {
      const key = keys();
      const item = TIMESTAMPS.includes(key) && random() < 0.6 ? timestamp() : value(depth + 1);
      Object.defineProperty(out, key, { value: item, enumerable: true, writable: true, configurable: true });
    }
    return out;
  };
  return value;
}

// A value as it travels: JSON text (so -0, key order of integer keys etc. are normalized).
function viaJson(value) {
  return JSON.parse(JSON.stringify(value));
}

test(`decodeData(encodeData(x)) equals x for ${RUNS} random values`, () => {
  const decoder = new Decoder({ fieldMap: FIELD_MAP, timestampFields: TIMESTAMPS });
  for (let seed = 1; seed <= RUNS; seed++) {
    const x = viaJson(generator(prng(seed))(0));
    const encoded = viaJson(decoder.encodeData(x));
    assert.deepStrictEqual(decoder.decodeData(encoded), x, `seed ${seed}`);
  }
});

test("encoding actually abbreviates and converts", () => {
  const decoder = new Decoder({ fieldMap: FIELD_MAP, timestampFields: TIMESTAMPS });
  let converted = 0;
  let escaped = 0;
  const walk = (value) => {
    if (Array.isArray(value)) value.forEach(walk);
    else if (value !== null && typeof value === "object") {
      for (const [key, item] of Object.entries(value)) {
        if (key.startsWith("~")) escaped++;
        if (["ts", "uts", "tms"].includes(key) && (typeof item === "number" || item?.length === 3)) converted++;
        walk(item);
      }
    }
  };
  for (let seed = 1; seed <= 300; seed++) walk(decoder.encodeData(viaJson(generator(prng(seed))(0))));
  assert.ok(converted > 20, `only ${converted} timestamps converted`);
  assert.ok(escaped > 20, `only ${escaped} keys escaped`);
});

test("with dates: true, converted timestamps decode to the same instants", () => {
  const strings = new Decoder({ fieldMap: FIELD_MAP, timestampFields: TIMESTAMPS });
  const dates = new Decoder({ fieldMap: FIELD_MAP, timestampFields: TIMESTAMPS, dates: true });
  let checked = 0;
  for (let seed = 1; seed <= 500; seed++) {
    const random = prng(seed);
    const text = formatTimestamp(Math.round((random() - 0.3) * 2e14), Math.floor(random() * 3), random() < 0.5 ? null : 60);
    const encoded = strings.encodeData({ created_at: text }).ts;
    const expected = parseTimestamp(text);
    if (expected === null) continue;
    const ms = typeof expected === "number" ? expected : expected[0];
    assert.deepStrictEqual(dates.decodeData({ ts: encoded }), { created_at: new Date(ms) });
    checked++;
  }
  assert.ok(checked > 400);
});

test("an empty map still escapes ~ keys and converts timestamps", () => {
  const decoder = new Decoder({ timestampFields: ["t"] });
  for (let seed = 1; seed <= 500; seed++) {
    const x = viaJson(generator(prng(seed))(0));
    const wrapped = { t: x, "~t": x };
    assert.deepStrictEqual(decoder.decodeData(viaJson(decoder.encodeData(wrapped))), wrapped, `seed ${seed}`);
  }
});
