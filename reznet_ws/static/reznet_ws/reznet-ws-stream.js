/**
 * Group streams (reznet protocol section 3.3): the receiver of stream frames.
 *
 * A stream frame is a binary frame `0xA5 stream epoch seq DATA` (the first frame of an epoch) or
 * `0xA4 stream seq DATA` (every other frame), the numbers as unsigned LEB128 varints. `DATA` is
 * raw deflate, one sync-flushed chunk per frame without its trailing `00 00 ff ff`, of the
 * frame's text followed by `\n`. A stream is inflated in order, with one inflater per epoch:
 * `DecompressionStream("deflate-raw")` where the platform has it, node's zlib elsewhere.
 *
 * No dependency, no build step: an ES module imported by reznet-ws.js.
 */

/** The `reznet_features` value with which a client says it inflates group streams. */
export const STREAM_FEATURE = "stream";
/** The event a client sends to leave a stream it could not decode: `{stream: id}`. */
export const RESYNC_EVENT = "reznet_stream_resync";
/** First byte of an epoch's first frame, and of every other stream frame. */
export const EPOCH_START = 0xa5;
export const IN_EPOCH = 0xa4;

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
  return bytes.byteLength > 0 && (bytes[0] === EPOCH_START || bytes[0] === IN_EPOCH);
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
 * @returns {{stream: number, epoch: number | null, seq: number, offset: number}}
 */
export function parseStreamHeader(bytes) {
  if (!isStreamFrame(bytes)) throw new StreamError("invalid_frame", "not a stream frame");
  const state = { pos: 1 };
  const stream = readVarint(bytes, state);
  const epoch = bytes[0] === EPOCH_START ? readVarint(bytes, state) : null;
  const seq = readVarint(bytes, state);
  return { stream, epoch, seq, offset: state.pos };
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
  if (out.indexOf(NEWLINE) !== total - 1) {
    throw new StreamError("decompression_failed", "a stream frame is not one message");
  }
  return out.subarray(0, total - 1);
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

/** One epoch's inflater on the platform's streaming DecompressionStream("deflate-raw"). */
class NativeInflater {
  constructor(Stream) {
    const stream = new Stream("deflate-raw");
    this.writer = stream.writable.getWriter();
    this.reader = stream.readable.getReader();
  }

  async inflate(chunk, maxBytes) {
    // Not awaited first: the write completes only as the readable side is drained. The server
    // ends every frame's data with a whole message, so reading until its newline ends.
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
      if (value[value.byteLength - 1] === NEWLINE) {
        await write;
        return oneLine(chunks, total);
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

  async inflate(chunk, maxBytes) {
    let written = false;
    this.inflater.write(chunk, () => {
      written = true;
      this._wake();
    });
    for (;;) {
      if (this.failure) throw this.failure;
      if (this.total > maxBytes + 1) throw new StreamError("too_large", `a stream message inflates past ${maxBytes} bytes`);
      const last = this.chunks.at(-1);
      if (last && last[last.byteLength - 1] === NEWLINE) {
        const line = oneLine(this.chunks, this.total);
        this.chunks = [];
        this.total = 0;
        return line;
      }
      if (written) {
        await tick();
        if (this.chunks.at(-1)?.at(-1) !== NEWLINE && !this.failure) {
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

let nodeZlib = null;

async function createInflater(native) {
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
   */
  constructor({ maxInflatedBytes, native } = {}) {
    this.maxInflatedBytes = maxInflatedBytes ?? DEFAULT_MAX_INFLATED_BYTES;
    this.native = native;
    this._streams = new Map();
  }

  /**
   * @param {Uint8Array} bytes a stream frame
   * @returns {Promise<string>} the text it carries (an ordinary frame's text)
   * @throws {StreamError}
   */
  async decode(bytes) {
    const header = parseStreamHeader(bytes);
    let state = this._streams.get(header.stream);
    if (header.epoch !== null) {
      state?.inflater?.close();
      state = { inflater: await createInflater(this.native), nextSeq: header.seq };
      this._streams.set(header.stream, state);
    }
    if (!state || state.inflater === null || header.seq !== state.nextSeq) {
      state?.inflater?.close();
      this._streams.set(header.stream, { inflater: null, nextSeq: 0 });
      throw new StreamError("stream_gap", `stream ${header.stream}: frame ${header.seq} does not follow`, header.stream);
    }
    const body = bytes.subarray(header.offset);
    const chunk = new Uint8Array(body.byteLength + TAIL.byteLength);
    chunk.set(body, 0);
    chunk.set(TAIL, body.byteLength);
    let line;
    try {
      line = await state.inflater.inflate(chunk, this.maxInflatedBytes);
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
