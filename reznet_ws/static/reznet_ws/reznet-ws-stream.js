/**
 * Group streams (reznet protocol section 3.3): the receiver of stream frames.
 *
 * A stream frame is a binary frame `0xA5 stream epoch seq DATA` (the first frame of an epoch) or
 * `0xA4 stream seq DATA` (every other frame), the numbers as unsigned LEB128 varints. `DATA` is
 * raw deflate, one sync-flushed chunk per frame without its trailing `00 00 ff ff`, of the
 * frame's text followed by `\n`. A stream is inflated in order, with one inflater per epoch:
 * `DecompressionStream("deflate-raw")` where the platform has it, node's zlib elsewhere.
 *
 * zstd streams (`0xA7` / `0xA6`, asked for with `stream-zstd`) carry one block-flushed chunk of
 * an endless zstd frame per message; they need a zstd decoder given as the `zstd` option, e.g.
 * fzstd's: `zstd: (ondata) => new fzstd.Decompress(ondata)`.
 *
 * No dependency, no build step: an ES module imported by reznet-ws.js.
 */

/** The `reznet_features` value with which a client says it inflates group streams. */
export const STREAM_FEATURE = "stream";
/** Added to `stream` when the client decodes zstd streams (given a `zstd` decoder). */
export const STREAM_ZSTD_FEATURE = "stream-zstd";
/** The event a client sends to leave a stream it could not decode: `{stream: id}`. */
export const RESYNC_EVENT = "reznet_stream_resync";
/** First byte of an epoch's first frame, and of every other stream frame. */
export const EPOCH_START = 0xa5;
export const IN_EPOCH = 0xa4;
/** The same two first bytes in a zstd stream. */
export const ZSTD_EPOCH_START = 0xa7;
export const ZSTD_IN_EPOCH = 0xa6;
const KINDS = new Map([
  [EPOCH_START, ["deflate", true]],
  [IN_EPOCH, ["deflate", false]],
  [ZSTD_EPOCH_START, ["zstd", true]],
  [ZSTD_IN_EPOCH, ["zstd", false]],
]);

const DEFAULT_MAX_INFLATED_BYTES = 16 * 1024 * 1024;
const TAIL = new Uint8Array([0x00, 0x00, 0xff, 0xff]);
const NEWLINE = 0x0a;

/**
 * An error decoding a stream frame. `code` is `stream_gap` (the frame does not follow the last
 * one decoded of its stream), `too_large`, `decompression_failed`, `malformed_json` or
 * `invalid_frame`; `stream` the stream id when the header could be read.
 */
export class StreamError extends Error {
  constructor(code, message, stream = null) {
    super(message);
    this.name = "StreamError";
    this.code = code;
    this.stream = stream;
  }
}

/**
 * @param {Uint8Array} bytes a binary message
 * @returns {boolean} whether it is a stream frame (gzip members start with 0x1f)
 */
export function isStreamFrame(bytes) {
  return bytes.byteLength > 0 && KINDS.has(bytes[0]);
}

function readVarint(bytes, state) {
  let value = 0;
  let scale = 1;
  for (;;) {
    if (state.pos >= bytes.byteLength || scale > 2 ** 49) {
      throw new StreamError("invalid_frame", "truncated stream frame header");
    }
    const byte = bytes[state.pos++];
    value += (byte & 0x7f) * scale;
    if (byte < 0x80) return value;
    scale *= 128;
  }
}

/**
 * @param {Uint8Array} bytes a stream frame
 * @returns {{stream: number, epoch: number | null, seq: number, offset: number, codec: string}}
 */
export function parseStreamHeader(bytes) {
  if (!isStreamFrame(bytes)) throw new StreamError("invalid_frame", "not a stream frame");
  const [codec, starts] = KINDS.get(bytes[0]);
  const state = { pos: 1 };
  const stream = readVarint(bytes, state);
  const epoch = starts ? readVarint(bytes, state) : null;
  const seq = readVarint(bytes, state);
  return { stream, epoch, seq, offset: state.pos, codec };
}

function concat(chunks, total) {
  const out = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

// The bytes of one message out of an inflater's output chunks: exactly one line.
function oneLine(chunks, total) {
  const out = concat(chunks, total);
  if (total === 0 || out.indexOf(NEWLINE) !== total - 1) {
    throw new StreamError("decompression_failed", "a stream frame is not one message");
  }
  return out.subarray(0, total - 1);
}

// -- message framing inside a stream (protocol 3.3 and 7) -----------------------------------
// JSON connections: each frame inflates to one line (text + "\n"). reznet.v2.msgpack: to a
// varint length L and L bytes, the binary message (or, starting with "{", a JSON text frame).
const LINES = {
  done: (chunks) => chunks.at(-1)?.at(-1) === NEWLINE,
  message: oneLine,
};

// [L, bytes of the varint] once the varint is complete, else null.
function lengthPrefix(chunks) {
  let value = 0;
  let scale = 1;
  let pos = 0;
  for (const chunk of chunks) {
    for (const byte of chunk) {
      pos += 1;
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) return [value, pos];
      scale *= 128;
      if (pos >= 8) throw new StreamError("decompression_failed", "a stream message length is malformed");
    }
  }
  return null;
}

const LENGTH_PREFIXED = {
  done(chunks, total) {
    const prefix = lengthPrefix(chunks);
    return prefix !== null && total >= prefix[0] + prefix[1];
  },
  message(chunks, total) {
    const prefix = lengthPrefix(chunks);
    if (prefix === null || total !== prefix[0] + prefix[1] || prefix[0] === 0) {
      throw new StreamError("decompression_failed", "a stream frame is not one message");
    }
    return concat(chunks, total).subarray(prefix[1]);
  },
};
// -- end message framing ---------------------------------------------------------------------

const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

/** One epoch's inflater on the platform's streaming DecompressionStream("deflate-raw"). */
class NativeInflater {
  constructor(Stream) {
    const stream = new Stream("deflate-raw");
    this.writer = stream.writable.getWriter();
    this.reader = stream.readable.getReader();
  }

  async inflate(chunk, maxBytes, framing = LINES) {
    // Not awaited first: the write completes only as the readable side is drained. The server
    // ends every frame's data with a whole message, so reading until its end ends.
    const write = this.writer.write(chunk);
    write.catch(() => {});
    const chunks = [];
    let total = 0;
    for (;;) {
      const { done, value } = await this.reader.read();
      if (done) throw new StreamError("decompression_failed", "the inflater closed");
      total += value.byteLength;
      if (total > maxBytes + 1) throw new StreamError("too_large", `a stream message inflates past ${maxBytes} bytes`);
      chunks.push(value);
      if (framing.done(chunks, total)) {
        await write;
        return framing.message(chunks, total);
      }
    }
  }

  close() {
    this.reader.cancel().catch(() => {});
    this.writer.abort().catch(() => {});
  }
}

/** One epoch's inflater on node's zlib (where DecompressionStream lacks "deflate-raw"). */
class NodeInflater {
  constructor(zlib) {
    this.inflater = zlib.createInflateRaw();
    this.chunks = [];
    this.total = 0;
    this.waiter = null;
    this.failure = null;
    this.inflater.on("data", (data) => {
      this.chunks.push(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
      this.total += data.byteLength;
      this._wake();
    });
    this.inflater.on("error", (error) => {
      this.failure = new StreamError("decompression_failed", `stream frame does not inflate: ${error.message}`);
      this._wake();
    });
  }

  _wake() {
    const waiter = this.waiter;
    this.waiter = null;
    waiter?.();
  }

  async inflate(chunk, maxBytes, framing = LINES) {
    let written = false;
    this.inflater.write(chunk, () => {
      written = true;
      this._wake();
    });
    for (;;) {
      if (this.failure) throw this.failure;
      if (this.total > maxBytes + 1) throw new StreamError("too_large", `a stream message inflates past ${maxBytes} bytes`);
      if (this.chunks.length && framing.done(this.chunks, this.total)) {
        const line = framing.message(this.chunks, this.total);
        this.chunks = [];
        this.total = 0;
        return line;
      }
      if (written) {
        await tick();
        if (!framing.done(this.chunks, this.total) && !this.failure) {
          throw new StreamError("decompression_failed", "a stream frame ends no message");
        }
        continue;
      }
      await new Promise((resolve) => {
        this.waiter = resolve;
      });
    }
  }

  close() {
    this.inflater.destroy();
  }
}

/**
 * One epoch's zstd decoder, on the push decoder the `zstd` option makes: `zstd(ondata)` returns
 * an object whose `push(chunk)` decodes synchronously, calling `ondata(bytes)` with the output.
 * Output is counted as it comes, so a frame stops decoding once past the cap.
 */
class ZstdInflater {
  constructor(factory) {
    this.chunks = [];
    this.total = 0;
    this.limit = 0;
    this.decoder = factory((data) => {
      this.total += data.byteLength;
      if (this.total > this.limit) throw new StreamError("too_large", "a stream message inflates past the cap");
      this.chunks.push(data.slice()); // the decoder may reuse its buffer
    });
  }

  async inflate(chunk, maxBytes, framing = LINES) {
    this.chunks = [];
    this.total = 0;
    this.limit = maxBytes + 1;
    try {
      this.decoder.push(chunk);
    } catch (error) {
      if (error instanceof StreamError) throw error;
      throw new StreamError("decompression_failed", `zstd stream frame does not decode: ${error?.message ?? error}`);
    }
    return framing.message(this.chunks, this.total);
  }

  close() {
    this.decoder = null;
  }
}

let nodeZlib = null;

async function createInflater(native, codec, zstd) {
  if (codec === "zstd") {
    if (typeof zstd !== "function") {
      throw new StreamError("decompression_failed", "a zstd stream frame, but no zstd decoder was given");
    }
    return new ZstdInflater(zstd);
  }
  const Stream = globalThis.DecompressionStream;
  if (native !== false && typeof Stream === "function") {
    try {
      return new NativeInflater(Stream);
    } catch {
      // no "deflate-raw" here: fall through to node's zlib
    }
  }
  try {
    nodeZlib ??= await import("node:zlib");
  } catch {
    throw new StreamError("decompression_failed", "this environment cannot inflate deflate-raw streams");
  }
  return new NodeInflater(nodeZlib);
}

/**
 * A connection's state for every group stream it receives. `decode()` returns the text of a
 * stream frame; frames must be given in the order they arrived. A frame that does not follow the
 * last one of its stream, does not inflate, or inflates past `maxInflatedBytes` throws a
 * StreamError and breaks its stream: later frames of it throw `stream_gap` until the next epoch
 * start. Nothing is ever decoded out of order.
 */
export class StreamDecoder {
  /**
   * @param {object} [options]
   * @param {number} [options.maxInflatedBytes] cap on one inflated message (16 MiB)
   * @param {boolean} [options.native] false: use node's zlib even where DecompressionStream exists
   * @param {(ondata: (bytes: Uint8Array) => void) => {push(chunk: Uint8Array): void}} [options.zstd]
   *   a zstd push decoder for zstd streams, e.g. `(ondata) => new fzstd.Decompress(ondata)`
   */
  constructor({ maxInflatedBytes, native, zstd } = {}) {
    this.maxInflatedBytes = maxInflatedBytes ?? DEFAULT_MAX_INFLATED_BYTES;
    this.native = native;
    this.zstd = zstd ?? null;
    this._streams = new Map();
  }

  /**
   * @param {Uint8Array} bytes a stream frame
   * @param {{msgpack?: boolean}} [options] `msgpack: true` on a reznet.v2.msgpack connection:
   *   messages come length-prefixed, binary MessagePack frames or JSON text
   * @returns {Promise<string | Uint8Array>} the text it carries (an ordinary frame's text), or
   *   with `msgpack` the bytes of a binary frame
   * @throws {StreamError}
   */
  async decode(bytes, { msgpack = false } = {}) {
    const header = parseStreamHeader(bytes);
    let state = this._streams.get(header.stream);
    if (header.epoch !== null) {
      state?.inflater?.close();
      state = { inflater: null, nextSeq: header.seq, codec: header.codec };
      this._streams.set(header.stream, state);
      try {
        state.inflater = await createInflater(this.native, header.codec, this.zstd);
      } catch (error) {
        error.stream = header.stream;
        throw error;
      }
    }
    if (!state || state.inflater === null || header.seq !== state.nextSeq || header.codec !== state.codec) {
      state?.inflater?.close();
      this._streams.set(header.stream, { inflater: null, nextSeq: 0, codec: header.codec });
      throw new StreamError("stream_gap", `stream ${header.stream}: frame ${header.seq} does not follow`, header.stream);
    }
    const body = bytes.subarray(header.offset);
    let chunk = body;
    if (header.codec === "deflate") {
      chunk = new Uint8Array(body.byteLength + TAIL.byteLength);
      chunk.set(body, 0);
      chunk.set(TAIL, body.byteLength);
    }
    let line;
    try {
      line = await state.inflater.inflate(chunk, this.maxInflatedBytes, msgpack ? LENGTH_PREFIXED : LINES);
    } catch (error) {
      state.inflater.close();
      state.inflater = null;
      if (error instanceof StreamError) {
        error.stream = header.stream;
        throw error;
      }
      throw new StreamError("decompression_failed", `stream frame does not inflate: ${error}`, header.stream);
    }
    state.nextSeq += 1;
    if (msgpack && line[0] !== 0x7b) return line; // a binary frame ("{": JSON text)
    try {
      return new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(line);
    } catch {
      throw new StreamError("malformed_json", "a stream message is not UTF-8", header.stream);
    }
  }

  /** @returns {number[]} the streams waiting for an epoch start after an error */
  broken() {
    return [...this._streams].filter(([, state]) => state.inflater === null).map(([id]) => id);
  }

  /** Drops every stream's state (the connection is gone). */
  close() {
    for (const state of this._streams.values()) state.inflater?.close();
    this._streams.clear();
  }
}
