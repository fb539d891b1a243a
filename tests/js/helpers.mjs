// Helpers shared by the client's tests (not a test file: `node --test tests/js/` runs only the
// files named *.test.mjs). A fake WebSocket, a wait for the client's promise chains, vector files,
// a seeded PRNG.
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";

/** The bytes of a base64 string. */
export const bytes = (b64) => new Uint8Array(Buffer.from(b64, "base64"));

/**
 * tests/vectors/<name>, parsed, and the test option `skip`: the reason while the file is missing,
 * except in CI (CI=true), where nothing may be skipped (a missing file fails the run).
 */
export function vectorFile(name) {
  const url = new URL(`../vectors/${name}`, import.meta.url);
  const file = existsSync(url) || process.env.CI === "true" ? JSON.parse(readFileSync(url, "utf8")) : null;
  return { file, skip: file === null ? `tests/vectors/${name} not generated yet` : false };
}

/** A WebSocket the test opens and feeds by hand; every instance is kept in `instances`. */
export class FakeSocket {
  static instances = [];
  constructor(url, protocols) {
    this.url = url;
    this.protocols = protocols;
    this.readyState = 0;
    this.sent = [];
    this.protocol = "";
    FakeSocket.instances.push(this);
  }
  send(data) {
    this.sent.push(data);
  }
  close() {
    this.readyState = 3;
  }
  open(protocol) {
    this.protocol = protocol;
    this.readyState = 1;
    this.onopen?.();
  }
  receive(data) {
    this.onmessage?.({ data });
  }
}

// mulberry32: a small seeded PRNG, so a failure reproduces from its seed.
export function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Let the client's pending promise chains run. */
export async function settle() {
  for (let i = 0; i < 5; i += 1) await new Promise((resolve) => setImmediate(resolve));
}

/**
 * Decode one session of tests/vectors/stream*.json with `decoder` (a StreamDecoder): each frame
 * is a stream frame and gives its text or is refused with its error code.
 */
export async function decodeSession(decoder, session, isStreamFrame) {
  for (const [i, frame] of session.frames.entries()) {
    const data = bytes(frame.bytes);
    assert.ok(isStreamFrame(data));
    if (frame.error) {
      await assert.rejects(decoder.decode(data), (error) => error.code === frame.error, `frame ${i}`);
    } else {
      assert.equal(await decoder.decode(data), frame.text, `frame ${i}`);
    }
  }
  decoder.close();
}
