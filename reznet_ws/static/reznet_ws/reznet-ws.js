/**
 * reznet-ws: the JavaScript client for the reznet wire protocol (docs/protocol.md).
 *
 * An ES module with no dependencies and no build step. It runs in browsers and in Node 20:
 * it uses `WebSocket`, `localStorage` and `DecompressionStream` from `globalThis` when they are
 * present, and takes a WebSocket constructor and a storage object as options so tests (and
 * other runtimes) can inject their own.
 *
 * @module reznet-ws
 */

import { DELTA_FEATURE, HAVE_PARAM, KeyedCache, RESYNC_EVENT, isKeyedFrame } from "./reznet-ws-delta.js";
import { ENTITY_FEATURE, EntityError, EntityTable, isEntityFrame } from "./reznet-ws-entities.js";

export { DELTA_FEATURE, DeltaError, KeyedCache, applyDelta, isKeyedFrame } from "./reznet-ws-delta.js";
export { EntityError, EntityTable, isEntityFrame } from "./reznet-ws-entities.js";

import {
  RESYNC_EVENT as STREAM_RESYNC_EVENT,
  STREAM_FEATURE,
  STREAM_ZSTD_FEATURE,
  StreamDecoder,
  isStreamFrame,
  parseStreamHeader,
} from "./reznet-ws-stream.js";

export {
  STREAM_FEATURE,
  STREAM_ZSTD_FEATURE,
  StreamDecoder,
  StreamError,
  isStreamFrame,
  parseStreamHeader,
} from "./reznet-ws-stream.js";

/** The protocol version this client implements; equals "Protocol version" in docs/protocol.md. */
export const PROTOCOL_VERSION = 2;

/** The WebSocket subprotocol a client offers to get v2 frames (protocol section 1). */
export const SUBPROTOCOL = "reznet.v2";

/**
 * The subprotocol of the MessagePack encoding of v2 (protocol section 7): the same frames as
 * binary MessagePack messages, decoded by the codec passed as the `msgpack` option.
 */
export const MSGPACK_SUBPROTOCOL = "reznet.v2.msgpack";

// Whether a negotiated subprotocol is v2, in either encoding.
function isV2Protocol(protocol) {
  return protocol === SUBPROTOCOL || protocol === MSGPACK_SUBPROTOCOL;
}

/**
 * The query parameter, and its value, with which a client says it decodes content frames
 * (protocol sections 1 and 3.1): `?reznet_features=content`.
 */
export const FEATURES_PARAM = "reznet_features";
export const CONTENT_FEATURE = "content";

const DEFAULT_MAX_INFLATED_BYTES = 16 * 1024 * 1024;
const STORAGE_PREFIX = "reznet_ws:map:";
const STORAGE_LAST = "reznet_ws:map:last";
const CLOSE_TOO_MANY_ERRORS = 4008;
/**
 * The names of the server's control events (protocol section 5, "Reserved event names"). On a
 * v2 connection they are control events only in raw frames (`"r":1`).
 */
export const CONTROL_EVENTS = Object.freeze(["connection_established", "error", "stats_response"]);
const CONTROL = new Set(CONTROL_EVENTS);
// Our own close code when the server relied on a cached map this client no longer has.
const CLOSE_MAP_UNAVAILABLE = 4000;
const MIN_LOCAL_MS = -62135596800000; // 0001-01-01T00:00:00
const MAX_LOCAL_MS = 253402300799999; // 9999-12-31T23:59:59.999
const TIMESTAMP_RE =
  /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{3}|\.\d{6})?(Z|[+-]\d{2}:\d{2})?$/;

/**
 * An error in a received frame. `code` is one of the error codes of protocol section 5
 * (`malformed_json`, `unexpected_binary`, `too_large`, `unknown_version`,
 * `decompression_failed`, `invalid_frame`) or `map_unavailable` (the server omitted the field
 * map and this client has no cached copy of it).
 */
export class ReznetProtocolError extends Error {
  /**
   * @param {string} code a protocol error code
   * @param {string} message what went wrong
   * @param {{cause?: unknown}} [options]
   */
  constructor(code, message, options) {
    super(message, options);
    this.name = "ReznetProtocolError";
    this.code = code;
  }
}

/**
 * The server's `error` control event (protocol section 5), delivered to `error` handlers of a
 * ReznetSocket so that every `error` handler receives an Error. `code` and `detail` are those of
 * the event's data; `data` is the data itself.
 */
export class ReznetServerError extends Error {
  /** @param {unknown} data the data of the server's `error` event */
  constructor(data) {
    const fields = isPlainObject(data) ? data : {};
    const code = typeof fields.code === "string" ? fields.code : undefined;
    const detail = typeof fields.detail === "string" ? fields.detail : undefined;
    super(`server error${code ? ` ${code}` : ""}${detail ? `: ${detail}` : ""}`);
    this.name = "ReznetServerError";
    this.code = code;
    this.detail = detail;
    this.data = data;
  }
}

// ---------------------------------------------------------------------------------------------
// Timestamps (protocol section 4.2)

function pad(number, width) {
  return String(number).padStart(width, "0");
}

function checkTimestampArgs(ms, frac, tz) {
  if (!Number.isSafeInteger(ms)) throw new RangeError(`timestamp ms must be an integer, got ${ms}`);
  if (frac !== 0 && frac !== 1 && frac !== 2) {
    throw new RangeError(`timestamp frac must be 0, 1 or 2, got ${frac}`);
  }
  const tzValid = tz === null || tz === false || (Number.isInteger(tz) && Math.abs(tz) < 1440);
  if (!tzValid) throw new RangeError(`timestamp tz must be null, false or |minutes| < 1440, got ${tz}`);
}

/**
 * Writes an instant the way protocol section 4.2 defines `format(ms, frac, tz)`.
 *
 * @param {number} ms the instant in Unix milliseconds (UTC), an integer
 * @param {0|1|2} [frac] 0: `.sss` only when the milliseconds are not 0; 1: always `.sss`;
 *   2: `.ssssss` (milliseconds then `000`) only when the milliseconds are not 0
 * @param {number|null|false} [tz] `null`: `Z`; minutes east of UTC (`|tz| < 1440`): `+HH:MM` /
 *   `-HH:MM`, the local time shifted by that offset; `false`: no suffix (a naive timestamp)
 * @returns {string} e.g. `formatTimestamp(1761393600000)` is `"2025-10-25T12:00:00Z"`
 * @throws {RangeError} on invalid arguments or a local year outside 0001-9999
 */
export function formatTimestamp(ms, frac = 0, tz = null) {
  checkTimestampArgs(ms, frac, tz);
  const local = ms + (typeof tz === "number" ? tz : 0) * 60000;
  if (local < MIN_LOCAL_MS || local > MAX_LOCAL_MS) {
    throw new RangeError(`timestamp ${ms} (tz ${tz}) is outside years 0001-9999`);
  }
  const d = new Date(local);
  let text =
    `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1, 2)}-${pad(d.getUTCDate(), 2)}` +
    `T${pad(d.getUTCHours(), 2)}:${pad(d.getUTCMinutes(), 2)}:${pad(d.getUTCSeconds(), 2)}`;
  const millis = d.getUTCMilliseconds();
  if (frac === 1 || (frac === 0 && millis !== 0)) text += `.${pad(millis, 3)}`;
  else if (frac === 2 && millis !== 0) text += `.${pad(millis, 3)}000`;
  if (tz === null) return `${text}Z`;
  if (tz === false) return text;
  const abs = Math.abs(tz);
  return `${text}${tz < 0 ? "-" : "+"}${pad(Math.floor(abs / 60), 2)}:${pad(abs % 60, 2)}`;
}

/**
 * Parses an ISO-8601 string into its protocol encoding (section 4.2): the integer `ms` when
 * `format(ms, 0, null)` reproduces the string exactly, else `[ms, frac, tz]` for the first
 * `frac` (0, 1, 2) whose format reproduces it exactly, else `null` (the string is not a
 * timestamp the protocol encodes, and stays a string).
 *
 * @param {string} encoded an ISO-8601 timestamp string
 * @returns {number | [number, 0|1|2, number|null|false] | null}
 */
export function parseTimestamp(encoded) {
  if (typeof encoded !== "string") return null;
  const m = TIMESTAMP_RE.exec(encoded);
  if (m === null) return null;
  let tz = false;
  if (m[8] === "Z") tz = null;
  else if (m[8] !== undefined) {
    const minutes = Number(m[8].slice(1, 3)) * 60 + Number(m[8].slice(4, 6));
    tz = m[8][0] === "-" ? -minutes : minutes;
    if (Math.abs(tz) >= 1440) return null;
  }
  const date = new Date(0);
  date.setUTCFullYear(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
  const millis = m[7] === undefined ? 0 : Number(m[7].slice(1, 4));
  date.setUTCHours(Number(m[4]), Number(m[5]), Number(m[6]), millis);
  const ms = date.getTime() - (typeof tz === "number" ? tz : 0) * 60000;
  if (!Number.isSafeInteger(ms)) return null;
  for (const frac of [0, 1, 2]) {
    let text;
    try {
      text = formatTimestamp(ms, frac, tz);
    } catch {
      return null; // outside years 0001-9999
    }
    if (text === encoded) return frac === 0 && tz === null ? ms : [ms, frac, tz];
  }
  return null;
}

// ---------------------------------------------------------------------------------------------
// DATA (protocol section 4)

function isPlainObject(value) {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

// JSON may carry a "__proto__" key; plain assignment would set the prototype instead.
function setKey(target, key, value) {
  if (key === "__proto__") {
    Object.defineProperty(target, key, { value, writable: true, enumerable: true, configurable: true });
  } else {
    target[key] = value;
  }
}

function toBytes(data) {
  if (data instanceof Uint8Array) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return null;
}

function isBlob(data) {
  return typeof Blob !== "undefined" && data instanceof Blob;
}

async function inflateGzip(bytes, maxBytes) {
  const Stream = globalThis.DecompressionStream;
  if (typeof Stream !== "function") {
    throw new ReznetProtocolError(
      "decompression_failed",
      "received a gzip frame but this environment has no DecompressionStream",
    );
  }
  const stream = new Stream("gzip");
  const writer = stream.writable.getWriter();
  // Not awaited: the writes complete only as the readable side below is drained.
  writer.write(bytes).catch(() => {});
  writer.close().catch(() => {});
  const reader = stream.readable.getReader();
  const chunks = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > maxBytes) {
        reader.cancel().catch(() => {});
        throw new ReznetProtocolError("too_large", `gzip frame inflates past ${maxBytes} bytes`);
      }
      chunks.push(value);
    }
  } catch (error) {
    if (error instanceof ReznetProtocolError) throw error;
    throw new ReznetProtocolError("decompression_failed", "gzip frame does not inflate", { cause: error });
  }
  const out = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

function parseJson(text) {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ReznetProtocolError("malformed_json", "frame is not valid JSON", { cause: error });
  }
}

function invalidFrame(message) {
  return new ReznetProtocolError("invalid_frame", message);
}

/**
 * Decodes (and encodes) v2 frames with one field map. Instances are immutable: a ReznetSocket
 * makes a new Decoder when `connection_established` brings (or confirms) the server's map.
 */
export class Decoder {
  /**
   * @param {object} [options]
   * @param {Record<string, string>} [options.fieldMap] full name → short name (a bijection;
   *   short names are unique, non-empty and never start with `~`)
   * @param {Iterable<string>} [options.timestampFields] full names whose values are timestamps
   * @param {boolean} [options.dates] decode encoded timestamps to `Date` objects, not strings
   * @param {number} [options.maxInflatedBytes] cap on the inflated size of a gzip frame
   *   (default 16 MiB); a larger frame fails with code `too_large`
   * @param {{encode(value: unknown): Uint8Array, decode(bytes: Uint8Array): unknown} | null}
   *   [options.msgpack] a MessagePack codec (e.g. `@msgpack/msgpack`): binary frames that are
   *   not gzip members are decoded with it (protocol section 7)
   * @throws {TypeError} when the field map is not a valid bijection
   */
  constructor({ fieldMap = {}, timestampFields = [], dates = false, maxInflatedBytes, msgpack = null } = {}) {
    this._toShort = new Map();
    this._toFull = new Map();
    for (const [full, short] of Object.entries(fieldMap ?? {})) {
      if (typeof short !== "string" || short === "" || short.startsWith("~")) {
        throw new TypeError(`invalid short name ${JSON.stringify(short)} for ${JSON.stringify(full)}`);
      }
      if (this._toFull.has(short)) throw new TypeError(`short name ${JSON.stringify(short)} is used twice`);
      this._toShort.set(full, short);
      this._toFull.set(short, full);
    }
    this._timestamps = new Set(timestampFields ?? []);
    /** @readonly full name → short name */
    this.fieldMap = Object.freeze(Object.fromEntries(this._toShort));
    /** @readonly */
    this.timestampFields = Object.freeze([...this._timestamps]);
    /** @readonly */
    this.dates = Boolean(dates);
    /** @readonly */
    this.maxInflatedBytes = maxInflatedBytes ?? DEFAULT_MAX_INFLATED_BYTES;
    /** @readonly the MessagePack codec, or null */
    this.msgpack = msgpack ?? null;
  }

  /**
   * Decodes DATA (protocol section 4): keys back to full names, encoded timestamps back to
   * ISO-8601 strings (or `Date` objects with `dates: true`).
   *
   * @param {unknown} value a JSON value as received
   * @returns {any} the value v1 would have delivered
   * @throws {ReznetProtocolError} `invalid_frame` for an encoded timestamp that is not valid
   */
  decodeData(value) {
    if (Array.isArray(value)) return value.map((item) => this.decodeData(item));
    if (value === null || typeof value !== "object") return value;
    const out = {};
    for (const key of Object.keys(value)) {
      let full = key;
      if (key.charCodeAt(0) === 126) full = key.slice(1); // "~"
      else if (this._toFull.has(key)) full = this._toFull.get(key);
      const item = value[key];
      setKey(out, full, this._timestamps.has(full) ? this._decodeTimestamp(item) : this.decodeData(item));
    }
    return out;
  }

  _decodeTimestamp(value) {
    if (typeof value === "number" && Number.isInteger(value)) return this._timestamp(value, 0, null);
    if (Array.isArray(value) && value.length === 3) return this._timestamp(value[0], value[1], value[2]);
    if (Array.isArray(value) && value.length === 1) return this.decodeData(value[0]);
    return this.decodeData(value);
  }

  _timestamp(ms, frac, tz) {
    try {
      const text = formatTimestamp(ms, frac, tz);
      return this.dates ? new Date(ms) : text;
    } catch (error) {
      throw new ReznetProtocolError("invalid_frame", `invalid encoded timestamp: ${error.message}`, { cause: error });
    }
  }

  /**
   * Encodes DATA for the client→server direction with the same rules as the server's encoder:
   * the value is first normalized as `JSON.stringify` would (so `Date`s become ISO strings),
   * then keys are abbreviated and timestamp fields encoded.
   *
   * @param {unknown} value any value `JSON.stringify` accepts
   * @returns {any} the encoded JSON value (`undefined` when `JSON.stringify` gives nothing)
   */
  encodeData(value) {
    const text = JSON.stringify(value);
    return text === undefined ? undefined : this._encode(JSON.parse(text));
  }

  _encode(value) {
    if (Array.isArray(value)) return value.map((item) => this._encode(item));
    if (value === null || typeof value !== "object") return value;
    const out = {};
    for (const key of Object.keys(value)) {
      let written = key;
      if (this._toShort.has(key)) written = this._toShort.get(key);
      else if (this._toFull.has(key) || key.charCodeAt(0) === 126) written = `~${key}`;
      const item = value[key];
      setKey(out, written, this._timestamps.has(key) ? this._encodeTimestamp(item) : this._encode(item));
    }
    return out;
  }

  _encodeTimestamp(value) {
    if (typeof value === "string") return parseTimestamp(value) ?? value;
    if (typeof value === "number" || Array.isArray(value)) return [this._encode(value)];
    return this._encode(value);
  }

  /**
   * Decodes a parsed v2 frame object (event, raw event or batch) into its events.
   *
   * @param {unknown} obj the parsed frame; it must carry `"_v": 2`
   * @returns {Array<{event: string, data: any}>} the events, in order
   * @throws {ReznetProtocolError} `unknown_version` for another `_v` (or none),
   *   `invalid_frame` for a malformed frame
   */
  decodeFrameObject(obj) {
    if (!isPlainObject(obj)) throw invalidFrame("a v2 frame must be a JSON object");
    if (obj._v !== PROTOCOL_VERSION) {
      const version = Object.hasOwn(obj, "_v") ? JSON.stringify(obj._v) : "missing";
      throw new ReznetProtocolError("unknown_version", `unknown protocol version _v=${version}`);
    }
    if (Object.hasOwn(obj, "c")) throw invalidFrame("a content frame holds no events: use decodeContentFrame");
    const hasEvent = Object.hasOwn(obj, "e");
    if (hasEvent === Object.hasOwn(obj, "b")) throw invalidFrame('a v2 frame needs exactly one of "e" and "b"');
    if (hasEvent) {
      if (typeof obj.e !== "string" || !Object.hasOwn(obj, "d")) {
        throw invalidFrame('a v2 event frame needs a string "e" and a "d"');
      }
      // An absent or null "r" means an encoded frame, as in the Python codec.
      if (obj.r !== undefined && obj.r !== null && obj.r !== 1) throw invalidFrame('"r" must be 1');
      return [{ event: obj.e, data: obj.r === 1 ? obj.d : this.decodeData(obj.d) }];
    }
    if (!Array.isArray(obj.b)) throw invalidFrame('"b" must be an array');
    return obj.b.map((entry) => {
      if (!Array.isArray(entry) || entry.length !== 2 || typeof entry[0] !== "string") {
        throw invalidFrame("a batch entry must be [EVENT, DATA]");
      }
      return { event: entry[0], data: this.decodeData(entry[1]) };
    });
  }

  /**
   * Decodes a parsed content frame `{"_v":2,"c":DATA}` (protocol section 3.1): the content an
   * application sent with `send_json`, as the parse of its v1 text `json.dumps(content)` gives.
   *
   * @param {unknown} obj the parsed frame; it must carry `"_v": 2` and `c`
   * @returns {any} the decoded content (any JSON value)
   * @throws {ReznetProtocolError} `unknown_version` for another `_v`, `invalid_frame` for a
   *   frame without `c`, with `e` or `b` as well, or with an invalid encoded timestamp
   */
  decodeContentFrame(obj) {
    if (!isPlainObject(obj) || !Object.hasOwn(obj, "c")) throw invalidFrame('a content frame needs "c"');
    if (obj._v !== PROTOCOL_VERSION) {
      throw new ReznetProtocolError("unknown_version", `unknown protocol version _v=${JSON.stringify(obj._v)}`);
    }
    if (Object.hasOwn(obj, "e") || Object.hasOwn(obj, "b")) throw invalidFrame('a content frame has no "e" or "b"');
    return this.decodeData(obj.c);
  }

  /**
   * Decodes one WebSocket message: a string is parsed as JSON; binary data (ArrayBuffer, a
   * typed array or a Blob) must be a gzip member and is inflated (at most `maxInflatedBytes`)
   * with `DecompressionStream("gzip")` before parsing.
   *
   * @param {string | ArrayBuffer | ArrayBufferView | Blob} data the message as received
   * @returns {Promise<{legacy: false, events: Array<{event: string, data: any}>} |
   *   {legacy: true, payload: any}>} a plain message comes back as `payload`: a v1 frame (no
   *   `_v`) untouched, a content frame decoded to the value of its v1 text
   * @throws {ReznetProtocolError} see the `code` for what was wrong
   */
  async decodeMessage(data) {
    const parsed = await this._parseMessage(data);
    if (!isPlainObject(parsed) || !Object.hasOwn(parsed, "_v")) return { legacy: true, payload: parsed };
    if (Object.hasOwn(parsed, "c")) return { legacy: true, payload: this.decodeContentFrame(parsed) };
    return { legacy: false, events: this.decodeFrameObject(parsed) };
  }

  // The JSON value of one WebSocket message: text parsed, binary inflated first.
  async _parseMessage(data) {
    let text = data;
    if (typeof data !== "string") {
      let bytes = isBlob(data) ? new Uint8Array(await data.arrayBuffer()) : toBytes(data);
      if (bytes === null) throw new TypeError("decodeMessage expects a string, ArrayBuffer, typed array or Blob");
      const gzip = bytes.byteLength >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
      if (!gzip && this.msgpack !== null) return this._unpack(bytes);
      if (!gzip) throw new ReznetProtocolError("unexpected_binary", "binary frame is not a gzip member");
      bytes = await inflateGzip(bytes, this.maxInflatedBytes);
      try {
        text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
      } catch (error) {
        throw new ReznetProtocolError("malformed_json", "gzip frame is not valid UTF-8", { cause: error });
      }
    }
    return parseJson(text);
  }

  // A binary frame of the MessagePack encoding (protocol section 7), through the codec.
  _unpack(bytes) {
    try {
      return this.msgpack.decode(bytes);
    } catch (error) {
      throw new ReznetProtocolError("malformed_json", "binary frame is not valid MessagePack", { cause: error });
    }
  }
}

const defaultDecoder = new Decoder();

/**
 * The decoder function of the original frontend guide, for code that already has a parsed
 * frame: a v2 frame (`data._v === 2`) is decoded, anything without `_v` is returned untouched.
 *
 * @param {any} data a parsed frame
 * @param {Decoder} [decoder] the decoder holding the server's field map (e.g.
 *   `socket.decoder`); without it only raw frames and unabbreviated keys decode meaningfully
 * @returns {any} `{event, data}` for an event frame, an array of them for a batch frame, the
 *   decoded content for a content frame, or `data` itself for a v1 frame
 * @throws {ReznetProtocolError} `unknown_version` when `_v` is present but not 2
 */
export function decodePayload(data, decoder = defaultDecoder) {
  if (!isPlainObject(data) || !Object.hasOwn(data, "_v")) return data;
  if (Object.hasOwn(data, "c")) return decoder.decodeContentFrame(data);
  const events = decoder.decodeFrameObject(data);
  return Object.hasOwn(data, "b") ? events : events[0];
}

// ---------------------------------------------------------------------------------------------
// ReznetSocket

function utf8Length(text) {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) bytes += 1;
    else if (code < 0x800) bytes += 2;
    else if (code >= 0xd800 && code <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        bytes += 4;
        i++;
      } else bytes += 3;
    } else bytes += 3;
  }
  return bytes;
}

function wireSize(data) {
  if (typeof data === "string") return utf8Length(data);
  if (isBlob(data)) return data.size;
  return data?.byteLength ?? 0;
}

function defaultStorage() {
  try {
    return globalThis.localStorage ?? null; // the getter throws in some sandboxed iframes
  } catch {
    return null;
  }
}

function withQuery(url, name, value) {
  const hash = url.indexOf("#");
  const base = hash === -1 ? url : url.slice(0, hash);
  const separator = base.includes("?") ? (/[?&]$/.test(base) ? "" : "&") : "?";
  return `${base}${separator}${name}=${encodeURIComponent(value)}${hash === -1 ? "" : url.slice(hash)}`;
}

function reportHandlerError(error) {
  // What EventTarget does with a throwing listener: report it, keep dispatching.
  if (typeof globalThis.reportError === "function") globalThis.reportError(error);
  else {
    setTimeout(() => {
      throw error;
    }, 0);
  }
}

const RECONNECT_DEFAULTS = Object.freeze({
  initialDelay: 250,
  maxDelay: 10000,
  factor: 2,
  jitter: 0.5,
  minUptime: 5000,
  maxAttempts: Infinity,
  retryOn4008: false,
});

/**
 * A WebSocket connection speaking the reznet protocol: it offers `reznet.v2`, caches the
 * server's field map, decodes every frame (v1 or v2, text or gzip) into `{event, data}` events
 * for its handlers, and reconnects with exponential backoff after an abnormal close.
 *
 * Handlers are registered with `on(event, handler)`. Server events are dispatched by name with
 * their decoded data; the lifecycle events are `open`, `close`, `reconnecting` and `error`
 * (`error` handlers always receive an Error, including a {@link ReznetServerError} for the
 * server's `error` event). The `*` handlers receive every server event as `(data, event)`.
 *
 * A plain message (a v1 frame, or a content frame: the server's `send_json(content)`) is
 * delivered as v1 delivers it: `{"event": name, "data": data}` goes to the handlers of `name`
 * with `data`, anything else to the `*` handlers with `event` `null` and the whole content.
 *
 * The control events (`connection_established`, `error`, `stats_response`) are honoured only in
 * raw frames (`"r":1`) on a v2 connection, and in v1 frames on a v1 connection. Any other frame
 * carrying one of these names reaches the `*` handlers only: it cannot replace the field map,
 * close the connection or look like a server error.
 */
export class ReznetSocket {
  /**
   * @param {string} url the WebSocket URL (`ws://` or `wss://`)
   * @param {object} [options]
   * @param {string[]} [options.protocols] subprotocols to offer (default `["reznet.v2"]`, or
   *   `["reznet.v2.msgpack", "reznet.v2"]` with `msgpack`)
   * @param {{encode(value: unknown): Uint8Array, decode(bytes: Uint8Array): unknown}} [options.msgpack]
   *   a MessagePack codec such as `@msgpack/msgpack` (`{encode, decode}`): the client then offers
   *   `reznet.v2.msgpack`, and on such a connection decodes binary frames and sends optimized
   *   frames with it (protocol section 7)
   * @param {boolean} [options.legacy] connect without a subprotocol (v1) and without the
   *   `reznet_map` parameter
   * @param {typeof WebSocket} [options.WebSocket] the constructor (default
   *   `globalThis.WebSocket`)
   * @param {Storage | null} [options.storage] where field maps are cached (default
   *   `localStorage` when available; `null` disables caching)
   * @param {boolean} [options.dates] decode timestamps to `Date` objects
   * @param {boolean} [options.optimize] default of `send()`'s `optimize` option
   * @param {boolean} [options.streams] announce that this client inflates group streams
   *   (`reznet_features=stream`), so broadcasts reach it compressed once per group with a 32 KiB
   *   window (default true; protocol section 3.3)
   * @param {Function} [options.zstd] a zstd push decoder factory, e.g.
   *   `(ondata) => new fzstd.Decompress(ondata)`: the client then also asks for zstd streams
   *   (`stream-zstd`)
   * @param {boolean} [options.contentFrames] announce that this client decodes content frames
   *   (`reznet_features=content`), so the server's `send_json` reaches it smaller (default true)
   * @param {number} [options.maxInflatedBytes] cap on an inflated gzip frame (16 MiB)
   * @param {false | object} [options.reconnect] `false` to never reconnect, or overrides of
   *   `{initialDelay: 250, maxDelay: 10000, factor: 2, jitter: 0.5, minUptime: 5000,
   *   maxAttempts: Infinity, retryOn4008: false}` (milliseconds)
   */
  constructor(url, options = {}) {
    this.url = String(url);
    this._legacy = Boolean(options.legacy);
    this._msgpack = options.msgpack ?? null;
    const offered = this._msgpack ? [MSGPACK_SUBPROTOCOL, SUBPROTOCOL] : [SUBPROTOCOL];
    this._protocols = this._legacy ? [] : [...(options.protocols ?? offered)];
    this._WebSocket = options.WebSocket ?? globalThis.WebSocket;
    if (typeof this._WebSocket !== "function") {
      throw new TypeError("no WebSocket implementation: pass the WebSocket option");
    }
    this._storage = options.storage === undefined ? defaultStorage() : options.storage;
    this._dates = Boolean(options.dates);
    this._optimize = Boolean(options.optimize);
    this._contentFrames = options.contentFrames ?? true;
    this._groupStreams = options.streams ?? true;
    this._zstd = options.zstd ?? null;
    this._deltas = options.deltas ?? true;
    /** The objects of keyed events, kept across reconnections (see `state()`). */
    this.keyed = new KeyedCache(options.keyedCache ?? {});
    /** The entities the current connection defined (protocol section 3.4), or null. */
    this.entities = null;
    this._maxInflatedBytes = options.maxInflatedBytes;
    this._reconnect = options.reconnect === false ? null : { ...RECONNECT_DEFAULTS, ...options.reconnect };
    /** Test seams: replace to control jitter and uptime measurement. */
    this.random = Math.random;
    this.now = Date.now;
    this._handlers = new Map();
    this._stats = { messages: 0, frames: 0, bytes: 0 };
    this._conn = null;
    this._attempt = 0;
    this._timer = null;
    this._closedByUser = false;
    this._connect();
  }

  /** The negotiated subprotocol of the current connection: `"reznet.v2"`, or `""` for v1. */
  get protocol() {
    return this._conn?.ws.protocol ?? "";
  }

  /** The `readyState` of the current WebSocket (3, CLOSED, between connections). */
  get readyState() {
    return this._conn?.ws.readyState ?? 3;
  }

  /** The Decoder of the current connection (it holds the server's field map once known). */
  get decoder() {
    return this._conn?.decoder ?? defaultDecoder;
  }

  /**
   * Counters since construction, across reconnections: `frames` and `bytes` received on the
   * wire (UTF-8 length of text frames, byteLength of binary ones), `messages` the events
   * decoded from them (a batch counts one per event).
   *
   * @returns {{messages: number, frames: number, bytes: number}} a copy
   */
  get stats() {
    return { ...this._stats };
  }

  /**
   * Registers a handler.
   *
   * @param {string} event a server event name, `open`, `close`, `reconnecting`, `error` or `*`
   * @param {(data: any, event: string) => void} handler
   * @returns {() => void} a function that removes this registration
   */
  on(event, handler) {
    return this._add(event, handler, false);
  }

  /**
   * Registers a handler that runs at most once.
   *
   * @param {string} event
   * @param {(data: any, event: string) => void} handler
   * @returns {() => void} a function that removes this registration
   */
  once(event, handler) {
    return this._add(event, handler, true);
  }

  /**
   * Removes every registration of `handler` for `event`.
   *
   * @param {string} event
   * @param {Function} handler
   */
  off(event, handler) {
    const list = this._handlers.get(event);
    if (list) this._handlers.set(event, list.filter((entry) => entry.handler !== handler));
  }

  /**
   * Sends an event. The plain form `{"event": e, "data": d}` is valid on v1 and v2; with
   * `optimize` (and a v2 connection whose field map is known) it sends the v2 frame
   * `{"_v":2,"e":e,"d":encodeData(d)}` instead.
   *
   * @param {string} event
   * @param {any} [data]
   * @param {{optimize?: boolean}} [options]
   * @throws {Error} when the socket is not open
   */
  send(event, data = null, { optimize = this._optimize } = {}) {
    const conn = this._conn;
    if (conn === null || conn.ws.readyState !== 1) throw new Error("ReznetSocket.send: the socket is not open");
    const v2 = optimize && isV2Protocol(conn.ws.protocol) && conn.mapKnown;
    const frame = v2
      ? { _v: PROTOCOL_VERSION, e: event, d: conn.decoder.encodeData(data) ?? null }
      : { event, data: data === undefined ? null : data };
    // On reznet.v2.msgpack an optimized frame goes packed; the plain form stays JSON text.
    if (v2 && conn.ws.protocol === MSGPACK_SUBPROTOCOL) conn.ws.send(this._msgpack.encode(frame));
    else conn.ws.send(JSON.stringify(frame));
  }

  /**
   * Closes the connection for good: no reconnection follows.
   *
   * @param {number} [code] a close code (1000 or 3000-4999; default 1000)
   * @param {string} [reason]
   */
  close(code = 1000, reason) {
    this._closedByUser = true;
    clearTimeout(this._timer);
    this._timer = null;
    const ws = this._conn?.ws;
    if (ws && ws.readyState < 2) ws.close(code, reason);
  }

  _add(event, handler, once) {
    if (typeof handler !== "function") throw new TypeError("handler must be a function");
    const entry = { handler, once };
    this._handlers.set(event, [...(this._handlers.get(event) ?? []), entry]);
    return () => {
      const list = this._handlers.get(event);
      if (list) this._handlers.set(event, list.filter((item) => item !== entry));
    };
  }

  _emit(event, data, name = event, meta = undefined) {
    const list = this._handlers.get(event);
    if (!list) return;
    for (const entry of list) {
      if (entry.once) this._handlers.set(event, this._handlers.get(event).filter((item) => item !== entry));
      try {
        if (meta === undefined) entry.handler(data, name);
        else entry.handler(data, name, meta);
      } catch (error) {
        reportHandlerError(error);
      }
    }
  }

  _emitProtocolError(error) {
    // A dropped frame must not go unnoticed when the app has no error handler.
    if (!this._handlers.get("error")?.length) console.error("reznet-ws: dropped a frame:", error);
    this._emit("error", error);
  }

  // `control`: whether the frame may carry a control event (see _handle). A reserved name in
  // any other frame reaches the `*` handlers only, never the control handling.
  /**
   * The current object of a keyed event (protocol section 3.2), as last handed to the
   * handlers, or `undefined` when this client holds no version of `key`.
   *
   * @param {string} key
   * @returns {any}
   */
  state(key) {
    return this.keyed.get(key);
  }

  // An event frame with entity references (protocol section 3.4) becomes the plain event frame.
  // A reference this client cannot resolve cannot happen while both tables are in step; should
  // it, the frame is reported as an error and the server is told to define every entity again.
  _entityFrame(conn, parsed) {
    conn.entities ??= this.entities = new EntityTable();
    try {
      return conn.entities.resolve(parsed);
    } catch (error) {
      if (!(error instanceof EntityError)) throw error;
      if (conn.ws.readyState === 1) {
        conn.ws.send(JSON.stringify({ _v: PROTOCOL_VERSION, e: RESYNC_EVENT, r: 1, d: { keys: [], entities: true } }));
      }
      throw new ReznetProtocolError("invalid_frame", error.message, { cause: error });
    }
  }

  // A keyed frame: applied to the object held, or, after a gap, the server is asked for the
  // full object and nothing is dispatched.
  _keyedFrame(conn, parsed) {
    let result;
    try {
      result = this.keyed.receive(parsed, conn.decoder);
    } catch (error) {
      if (error instanceof ReznetProtocolError) throw error;
      throw new ReznetProtocolError("invalid_frame", error.message, { cause: error });
    }
    if (result.gap !== undefined) {
      // Asked once per key until its full object comes: a fast stream must not flood the server.
      conn.resyncs ??= new Set();
      if (conn.ws.readyState === 1 && !conn.resyncs.has(result.gap)) {
        conn.resyncs.add(result.gap);
        this.keyed.stats.resyncs += 1;
        conn.ws.send(JSON.stringify({ _v: PROTOCOL_VERSION, e: RESYNC_EVENT, r: 1, d: { keys: [result.gap] } }));
      }
      return;
    }
    if (!result.meta.delta) conn.resyncs?.delete(result.meta.key);
    this._stats.messages += 1;
    if (!CONTROL.has(result.event)) this._emit(result.event, result.data, result.meta);
    this._emit("*", result.data, result.event, result.meta);
  }

  _dispatch(event, data, control) {
    this._stats.messages += 1;
    if (typeof event === "string" && (control || !CONTROL.has(event))) {
      this._emit(event, event === "error" ? new ReznetServerError(data) : data);
    }
    this._emit("*", data, event);
  }

  _cachedHash() {
    try {
      return this._storage?.getItem(STORAGE_LAST) ?? null;
    } catch {
      return null;
    }
  }

  _connect() {
    const hash = this._legacy ? null : this._cachedHash();
    let url = this.url;
    const features = [];
    if (!this._legacy && this._contentFrames) features.push(CONTENT_FEATURE);
    if (!this._legacy && this._deltas) features.push(DELTA_FEATURE);
    if (!this._legacy && this._groupStreams) features.push(STREAM_FEATURE);
    if (!this._legacy && this._groupStreams && this._zstd) features.push(STREAM_ZSTD_FEATURE);
    if (features.length) url = withQuery(url, FEATURES_PARAM, features.join(","));
    const have = !this._legacy && this._deltas ? this.keyed.held() : [];
    if (have.length) url = withQuery(url, HAVE_PARAM, JSON.stringify(have));
    if (hash) url = withQuery(url, "reznet_map", hash);
    const ws = new this._WebSocket(url, this._protocols);
    ws.binaryType = "arraybuffer";
    const conn = {
      ws,
      url,
      decoder: new Decoder({ dates: this._dates, maxInflatedBytes: this._maxInflatedBytes, msgpack: this._msgpack }),
      mapKnown: false,
      broken: false,
      openedAt: null,
      queue: Promise.resolve(),
      streams: new StreamDecoder({ maxInflatedBytes: this._maxInflatedBytes, zstd: this._zstd }),
      resyncing: new Set(),
    };
    this._conn = conn;
    ws.onopen = () => {
      if (this._conn !== conn) return;
      conn.openedAt = this.now();
      this._emit("open", { protocol: ws.protocol ?? "", url });
    };
    ws.onmessage = (message) => this._receive(conn, message.data);
    ws.onerror = (event) => {
      if (this._conn !== conn) return;
      const error = new Error("WebSocket error");
      error.event = event;
      this._emit("error", error);
    };
    ws.onclose = (event) => this._closed(conn, event);
  }

  _receive(conn, data) {
    if (this._conn !== conn) return;
    this._stats.frames += 1;
    this._stats.bytes += wireSize(data);
    // Decoding a binary frame is asynchronous: chain so events keep their wire order.
    conn.queue = conn.queue.then(() => this._handle(conn, data)).catch((error) => this._emitProtocolError(error));
  }

  // A group-stream frame (protocol section 3.3) becomes the text it carries; other data passes.
  // A frame that cannot be decoded asks the server to take this connection out of its stream.
  async _unstream(conn, data) {
    const bytes = typeof data === "string" ? null : toBytes(data);
    if (bytes === null || !isStreamFrame(bytes)) return data;
    try {
      // reznet.v2.msgpack: the stream carries its binary frames (protocol section 7).
      const text = await conn.streams.decode(bytes, { msgpack: conn.ws.protocol === MSGPACK_SUBPROTOCOL });
      const header = parseStreamHeader(bytes);
      if (header.epoch !== null) conn.resyncing.delete(header.stream);
      return text;
    } catch (error) {
      const stream = error.stream ?? null;
      // One request per break: the frames still on their way fail as gaps without asking again.
      if (stream !== null && !conn.resyncing.has(stream) && conn.ws.readyState === 1 && this._conn === conn) {
        conn.resyncing.add(stream);
        conn.ws.send(JSON.stringify({ event: STREAM_RESYNC_EVENT, data: { stream } }));
      }
      throw new ReznetProtocolError(error.code ?? "decompression_failed", error.message, { cause: error });
    }
  }

  async _handle(conn, data) {
    if (conn.broken) return;
    let parsed;
    let events;
    let content = false;
    try {
      parsed = await conn.decoder._parseMessage(await this._unstream(conn, data));
      if (isKeyedFrame(parsed) && parsed._v === PROTOCOL_VERSION && isV2Protocol(conn.ws.protocol)) {
        this._keyedFrame(conn, parsed);
        return;
      }
      if (isEntityFrame(parsed) && parsed._v === PROTOCOL_VERSION && isV2Protocol(conn.ws.protocol)) {
        parsed = this._entityFrame(conn, parsed);
      }
      if (isPlainObject(parsed) && Object.hasOwn(parsed, "c") && Object.hasOwn(parsed, "_v")) {
        parsed = conn.decoder.decodeContentFrame(parsed);
        content = true;
      } else if (isPlainObject(parsed) && Object.hasOwn(parsed, "_v")) {
        events = conn.decoder.decodeFrameObject(parsed);
      }
    } catch (error) {
      this._emitProtocolError(error);
      return;
    }
    if (events === undefined) {
      // A plain message, delivered as v1 delivers it. A control event only in a v1 frame on a
      // v1 connection, where no frame is raw; a content frame is never one.
      const control = !content && !isV2Protocol(conn.ws.protocol);
      if (isPlainObject(parsed) && typeof parsed.event === "string") this._dispatch(parsed.event, parsed.data, control);
      else this._dispatch(null, parsed, control);
      return;
    }
    // Control events come in raw frames only (protocol section 5): an encoded frame or a batch
    // entry named connection_established must not replace the field map or close the socket.
    const control = Object.hasOwn(parsed, "e") && parsed.r === 1;
    for (const { event, data: eventData } of events) {
      if (control && event === "connection_established") {
        conn.entities = this.entities = new EntityTable(eventData?.features?.[ENTITY_FEATURE]);
      }
      if (control && event === "connection_established" && !this._useMap(conn, eventData)) return;
      this._dispatch(event, eventData, control);
    }
  }

  // Installs the field map of connection_established; false when the cached map is missing.
  _useMap(conn, data) {
    if (!isPlainObject(data)) return true;
    const hash = typeof data.map_hash === "string" ? data.map_hash : null;
    const sent = isPlainObject(data.field_map);
    if (!sent && hash === null) return true; // a server without field abbreviation
    const map = sent
      ? { field_map: data.field_map, timestamp_fields: Array.isArray(data.timestamp_fields) ? data.timestamp_fields : [] }
      : this._loadMap(hash);
    const decoder = map === null ? null : this._decoderFor(map);
    if (decoder === null && sent) {
      this._emitProtocolError(new ReznetProtocolError("invalid_frame", "connection_established has an invalid field map"));
      return true;
    }
    if (decoder === null) {
      // Frames on this connection cannot be decoded: reconnect without reznet_map.
      conn.broken = true;
      this._forgetMap();
      this._emitProtocolError(new ReznetProtocolError("map_unavailable", `no cached field map ${hash}`));
      if (this._conn === conn) conn.ws.close(CLOSE_MAP_UNAVAILABLE, "field map unavailable");
      return false;
    }
    if (sent && hash !== null) this._storeMap(hash, map);
    conn.decoder = decoder;
    conn.mapKnown = true;
    return true;
  }

  _decoderFor(map) {
    try {
      return new Decoder({
        fieldMap: map.field_map,
        timestampFields: map.timestamp_fields,
        dates: this._dates,
        maxInflatedBytes: this._maxInflatedBytes,
        msgpack: this._msgpack,
      });
    } catch {
      return null; // not a bijection
    }
  }

  _loadMap(hash) {
    try {
      const map = JSON.parse(this._storage?.getItem(STORAGE_PREFIX + hash) ?? "null");
      return isPlainObject(map) && isPlainObject(map.field_map) && Array.isArray(map.timestamp_fields) ? map : null;
    } catch {
      return null;
    }
  }

  _storeMap(hash, map) {
    if (!this._storage) return;
    try {
      const previous = this._storage.getItem(STORAGE_LAST);
      // One map per origin is kept: maps of earlier deployments would pile up forever.
      if (previous && previous !== hash) this._storage.removeItem(STORAGE_PREFIX + previous);
      this._storage.setItem(STORAGE_PREFIX + hash, JSON.stringify(map));
      this._storage.setItem(STORAGE_LAST, hash);
    } catch {
      // A full or disabled storage only costs the cache.
    }
  }

  _forgetMap() {
    try {
      this._storage?.removeItem(STORAGE_LAST);
    } catch {
      // nothing cached then
    }
  }

  _closed(conn, event) {
    conn.streams.close();
    if (this._conn !== conn) return;
    const code = event?.code ?? 1005;
    // A connection that stayed up long enough proves the server healthy: start over.
    if (conn.openedAt !== null && this.now() - conn.openedAt >= (this._reconnect?.minUptime ?? 0)) {
      this._attempt = 0;
    }
    const willReconnect = this._shouldReconnect(code);
    this._emit("close", { code, reason: event?.reason ?? "", wasClean: Boolean(event?.wasClean), willReconnect });
    if (willReconnect) this._scheduleReconnect(code);
  }

  _shouldReconnect(code) {
    const options = this._reconnect;
    if (this._closedByUser || options === null || code === 1000) return false;
    if (code === CLOSE_TOO_MANY_ERRORS && !options.retryOn4008) return false;
    return this._attempt < options.maxAttempts;
  }

  _scheduleReconnect(code) {
    this._attempt += 1;
    const { initialDelay, maxDelay, factor, jitter } = this._reconnect;
    const base = Math.min(maxDelay, initialDelay * factor ** (this._attempt - 1));
    const delay = Math.round(base * (1 - jitter * this.random()));
    this._emit("reconnecting", { attempt: this._attempt, delay, code });
    this._timer = setTimeout(() => {
      this._timer = null;
      if (this._closedByUser) return;
      try {
        this._connect();
      } catch (error) {
        // The constructor threw (e.g. an invalid URL): report it and keep backing off.
        this._emit("error", error);
        if (this._attempt < this._reconnect.maxAttempts) this._scheduleReconnect(1006);
      }
    }, delay);
  }
}
