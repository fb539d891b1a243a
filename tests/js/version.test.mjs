// The spec's version and the JS constant must agree (the Python side has the mirror test).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { PROTOCOL_VERSION, SUBPROTOCOL } from "../../reznet_ws/static/reznet_ws/reznet-ws.js";

const SPEC = new URL("../../docs/protocol.md", import.meta.url);

test("PROTOCOL_VERSION equals 'Protocol version' in docs/protocol.md", () => {
  const match = /^Protocol version: \*\*(\d+)\*\*$/m.exec(readFileSync(SPEC, "utf8"));
  assert.ok(match, "docs/protocol.md has no 'Protocol version: **N**' line");
  assert.equal(PROTOCOL_VERSION, Number(match[1]));
});

test("SUBPROTOCOL is reznet.v<version> and is the one the spec names", () => {
  assert.equal(SUBPROTOCOL, `reznet.v${PROTOCOL_VERSION}`);
  assert.match(readFileSync(SPEC, "utf8"), new RegExp(`\`${SUBPROTOCOL.replace(".", "\\.")}\``));
});
