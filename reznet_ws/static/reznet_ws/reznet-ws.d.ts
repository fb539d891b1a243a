// Type declarations for reznet-ws.js, the JavaScript client of the reznet wire protocol
// (docs/protocol.md). Keep in step with reznet-ws.js.

/** The protocol version this client implements; equals "Protocol version" in docs/protocol.md. */
export declare const PROTOCOL_VERSION: 2;

/** The WebSocket subprotocol a client offers to get v2 frames. */
export declare const SUBPROTOCOL: "reznet.v2";

/** The subprotocol of the MessagePack encoding of v2 (binary frames, protocol section 7). */
export declare const MSGPACK_SUBPROTOCOL: "reznet.v2.msgpack";

/**
 * A MessagePack codec, such as the `@msgpack/msgpack` module (`{encode, decode}`). `decode` must
 * give 64-bit integers as numbers (its default), maps as plain objects.
 */
export interface MsgpackCodec {
  encode(value: unknown): Uint8Array;
  decode(bytes: Uint8Array): unknown;
}

/** The query parameter listing the optional frame kinds a client decodes. */
export declare const FEATURES_PARAM: "reznet_features";
/** The value of {@link FEATURES_PARAM} announcing that a client decodes content frames. */
export declare const CONTENT_FEATURE: "content";

/**
 * The names of the server's control events (protocol section 5, "Reserved event names"). On a
 * v2 connection they are control events only in raw frames (`"r":1`); in any other frame they
 * reach the `*` handlers only.
 */
export declare const CONTROL_EVENTS: readonly ["connection_established", "error", "stats_response"];

/** The error codes of protocol section 5 that a client can meet, plus `map_unavailable`. */
export type ReznetErrorCode =
  | "malformed_json"
  | "invalid_number"
  | "not_an_object"
  | "unexpected_binary"
  | "too_large"
  | "too_deep"
  | "unknown_version"
  | "decompression_failed"
  | "invalid_frame"
  | "missing_event"
  | "batch_too_large"
  | "rate_limited"
  | "map_unavailable"
  | "stream_gap";

/** An error in a received frame (or a missing cached field map). */
export declare class ReznetProtocolError extends Error {
  constructor(code: ReznetErrorCode | string, message: string, options?: { cause?: unknown });
  readonly name: "ReznetProtocolError";
  readonly code: ReznetErrorCode | string;
}

/** The server's `error` control event, as delivered to a ReznetSocket's `error` handlers. */
export declare class ReznetServerError extends Error {
  constructor(data: unknown);
  readonly name: "ReznetServerError";
  /** `data.code` when it is a string (one of the protocol's error codes for control errors). */
  readonly code: string | undefined;
  /** `data.detail` when it is a string. */
  readonly detail: string | undefined;
  /** The data of the server's `error` event, untouched. */
  readonly data: unknown;
}

/** Any JSON value. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** `frac` of protocol section 4.2: 0 `.sss` when not 0, 1 always `.sss`, 2 `.ssssss` when not 0. */
export type TimestampFrac = 0 | 1 | 2;

/** `tz` of protocol section 4.2: `null` (`Z`), minutes east of UTC (`|tz| < 1440`), `false` (naive). */
export type TimestampZone = number | null | false;

/** An encoded timestamp: integer Unix milliseconds, or `[ms, frac, tz]`. */
export type EncodedTimestamp = number | [ms: number, frac: TimestampFrac, tz: TimestampZone];

/**
 * Writes `format(ms, frac, tz)` of protocol section 4.2, e.g.
 * `formatTimestamp(1761393600000)` is `"2025-10-25T12:00:00Z"`.
 * @throws {RangeError} on invalid arguments or a local year outside 0001-9999
 */
export declare function formatTimestamp(ms: number, frac?: TimestampFrac, tz?: TimestampZone): string;

/**
 * Parses an ISO-8601 string into its encoding: integer `ms`, `[ms, frac, tz]`, or `null` when
 * no format reproduces the string exactly (it then stays a string).
 */
export declare function parseTimestamp(encoded: string): EncodedTimestamp | null;

/** One decoded event. */
export interface ReznetEvent<T = any> {
  event: string;
  data: T;
}

export interface DecoderOptions {
  /** Full name → short name; a bijection of non-empty short names not starting with `~`. */
  fieldMap?: Record<string, string>;
  /** Full names whose values are timestamps. */
  timestampFields?: Iterable<string>;
  /** Decode encoded timestamps to `Date` objects instead of ISO strings. Default false. */
  dates?: boolean;
  /** Cap on the inflated size of a gzip frame, in bytes. Default 16 MiB. */
  maxInflatedBytes?: number;
  /** Decodes binary frames that are not gzip members as MessagePack. Default null. */
  msgpack?: MsgpackCodec | null;
}

/**
 * The result of {@link Decoder.decodeMessage}: events, or a plain message (`legacy: true`), that
 * is a v1 frame untouched or a content frame decoded to the value of its v1 text.
 */
export type DecodedMessage =
  | { legacy: false; events: ReznetEvent[] }
  | { legacy: true; payload: any };

/** Decodes (and encodes) v2 frames with one field map. Immutable. */
export declare class Decoder {
  /** @throws {TypeError} when the field map is not a valid bijection */
  constructor(options?: DecoderOptions);
  readonly fieldMap: Readonly<Record<string, string>>;
  readonly timestampFields: readonly string[];
  readonly dates: boolean;
  readonly maxInflatedBytes: number;
  readonly msgpack: MsgpackCodec | null;
  /**
   * Decodes DATA: keys back to full names, encoded timestamps to ISO strings (or Dates).
   * @throws {ReznetProtocolError} `invalid_frame` for an invalid encoded timestamp
   */
  decodeData(value: unknown): any;
  /** Encodes DATA (normalized as `JSON.stringify` would) with the server's rules. */
  encodeData(value: unknown): JsonValue | undefined;
  /**
   * Decodes a parsed v2 event, raw event or batch frame into its events, in order.
   * @throws {ReznetProtocolError} `unknown_version` or `invalid_frame`
   */
  decodeFrameObject(obj: unknown): ReznetEvent[];
  /**
   * Decodes a parsed content frame `{"_v":2,"c":DATA}` (the server's `send_json(content)`) to
   * the content, equal to the parse of its v1 text `json.dumps(content)`.
   * @throws {ReznetProtocolError} `unknown_version` or `invalid_frame`
   */
  decodeContentFrame(obj: unknown): any;
  /**
   * Decodes one WebSocket message (text, or binary gzip inflated with DecompressionStream).
   * @throws {ReznetProtocolError} with the protocol error code of what was wrong
   */
  decodeMessage(data: string | ArrayBuffer | ArrayBufferView | Blob): Promise<DecodedMessage>;
}

/**
 * The decoder of the original frontend guide: a v2 frame (`_v === 2`) is decoded to
 * `{event, data}` (an array of them for a batch), a content frame to its content; a frame
 * without `_v` is returned untouched.
 * @throws {ReznetProtocolError} `unknown_version` when `_v` is present but not 2
 */
export declare function decodePayload(data: unknown, decoder?: Decoder): any;

/** The minimal storage a ReznetSocket caches field maps in (`localStorage` fits). */
export interface ReznetStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/** The part of the WebSocket interface a ReznetSocket uses. */
export interface WebSocketLike {
  readonly protocol: string;
  readonly readyState: number;
  binaryType: string;
  onopen: ((event: any) => void) | null;
  onmessage: ((event: { data: any }) => void) | null;
  onerror: ((event: any) => void) | null;
  onclose: ((event: { code?: number; reason?: string; wasClean?: boolean }) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

export interface WebSocketConstructorLike {
  new (url: string, protocols?: string | string[]): WebSocketLike;
}

export interface ReconnectOptions {
  /** Delay before the first reconnection attempt, in ms. Default 250. */
  initialDelay?: number;
  /** Upper bound of the delay, in ms. Default 10000. */
  maxDelay?: number;
  /** Growth of the delay per attempt. Default 2. */
  factor?: number;
  /** Fraction of the delay removed at random (0: none, 1: "full jitter"). Default 0.5. */
  jitter?: number;
  /** A connection open at least this long (ms) resets the backoff. Default 5000. */
  minUptime?: number;
  /** Give up after this many consecutive attempts. Default Infinity. */
  maxAttempts?: number;
  /** Also reconnect after close code 4008 (too many protocol errors). Default false. */
  retryOn4008?: boolean;
}

export interface ReznetSocketOptions {
  /** Subprotocols to offer. Default `["reznet.v2"]`, or `["reznet.v2.msgpack", "reznet.v2"]` with `msgpack`. */
  protocols?: string[];
  /**
   * A MessagePack codec: the client offers `reznet.v2.msgpack` too, and on such a connection
   * decodes binary frames and sends optimized frames with it. Default none.
   */
  msgpack?: MsgpackCodec;
  /** Connect without a subprotocol (v1) and without `reznet_map`. Default false. */
  legacy?: boolean;
  /** The WebSocket constructor. Default `globalThis.WebSocket`. */
  WebSocket?: WebSocketConstructorLike;
  /** Where field maps are cached; `null` disables caching. Default `localStorage` if available. */
  storage?: ReznetStorage | null;
  /** Decode timestamps to `Date` objects. Default false. */
  dates?: boolean;
  /** Default of `send()`'s `optimize` option. Default false. */
  optimize?: boolean;
  /**
   * Announce that this client decodes content frames (`reznet_features=content` in the URL),
   * so the server's `send_json` reaches it smaller. Default true.
   */
  contentFrames?: boolean;
  /**
   * Announce that this client inflates group streams (`reznet_features=stream`): broadcasts
   * then arrive compressed once per group (protocol section 3.3). Default true.
   */
  streams?: boolean;
  /**
   * A zstd push decoder factory for zstd group streams, e.g.
   * `(ondata) => new fzstd.Decompress(ondata)`; given, the client also asks for them
   * (`stream-zstd`). Default none.
   */
  zstd?: ZstdDecoderFactory;
  /** Cap on an inflated gzip frame, in bytes. Default 16 MiB. */
  maxInflatedBytes?: number;
  /**
   * Announce that this client decodes keyed and delta frames (`delta` in `reznet_features`), so
   * keyed events arrive as deltas. Default true.
   */
  deltas?: boolean;
  /** Bounds of the objects of keyed events kept. Default 1000 keys, 8 MiB. */
  keyedCache?: KeyedCacheOptions;
  /** `false` never reconnects; otherwise overrides of the backoff settings. */
  reconnect?: false | ReconnectOptions;
}

/** What a keyed event's handlers receive besides the full object (protocol section 3.2). */
export interface KeyedMeta {
  event: string;
  /** The application's key (`send_event(..., key=)` on the server). */
  key: string;
  /** The version of the object in its stream. */
  version: number;
  /** Whether the frame was a delta (true) or the full object (false). */
  delta: boolean;
  /** The event name, so handlers that read the second argument as the name keep working. */
  toString(): string;
}

export interface KeyedCacheOptions {
  maxKeys?: number;
  maxBytes?: number;
}

/** The `reznet_features` value announcing keyed and delta frames. */
export declare const DELTA_FEATURE: "delta";

/** A delta that does not apply to the value it is applied to. */
export declare class DeltaError extends Error {}

/**
 * Applies delta operations (`[PATH, VALUE]`, `[PATH]`, `[PATH, I, N, ITEMS]`) to a JSON value,
 * in place, and returns the result.
 * @throws {DeltaError}
 */
export declare function applyDelta(value: any, ops: unknown): any;

/** Whether a parsed frame is a keyed frame (it has `_v` and `k`). */
export declare function isKeyedFrame(obj: unknown): boolean;

/** A reference the client cannot resolve, or a malformed entity table. */
export declare class EntityError extends Error {}

/** Whether a parsed frame is an event frame with an entity table (protocol section 3.4). */
export declare function isEntityFrame(obj: unknown): boolean;

/** The entities one connection defined: REF -> DATA value, at most `max`, oldest first out. */
export declare class EntityTable {
  constructor(max?: number);
  readonly max: number;
  readonly items: Map<string, any>;
  readonly stats: { frames: number; refs: number; defined: number; evicted: number; missing: number };
  /** Resolves an entity frame's references, stores its table, returns the plain event frame. */
  resolve(frame: any): any;
  /** Stores definitions `[[REF, value], ...]` in order, forgetting the oldest beyond `max`. */
  store(rows: Array<[string, any]>): void;
}

/** The objects of keyed events a client holds, bounded in keys and bytes. */
export declare class KeyedCache {
  constructor(options?: KeyedCacheOptions);
  readonly size: number;
  readonly bytes: number;
  maxKeys: number;
  maxBytes: number;
  readonly stats: { full: number; delta: number; gaps: number; evicted: number; resyncs: number };
  /** The decoded object of `key`, or `undefined`. */
  get(key: string): any;
  /** What is held of `key`: its event, version and stream, or `undefined`. */
  info(key: string): { event: string; version: number; stream: string } | undefined;
  /** Up to `limit` `[key, epoch, version]`, the most recently updated first. */
  held(limit?: number): Array<[string, string, number]>;
  receive(
    frame: unknown,
    decoder: Decoder,
  ): { event: string; data: any; meta: KeyedMeta } | { gap: string };
  delete(key: string): void;
}

export interface OpenInfo {
  /** The negotiated subprotocol: `"reznet.v2"`, or `""` for v1. */
  protocol: string;
  /**
   * The URL connected to: with `reznet_features=content` on v2 (unless `contentFrames: false`),
   * and `reznet_map` when a cached map was offered.
   */
  url: string;
}

export interface CloseInfo {
  code: number;
  reason: string;
  wasClean: boolean;
  /** Whether a reconnection is scheduled (a `reconnecting` event follows). */
  willReconnect: boolean;
}

export interface ReconnectingInfo {
  /** 1 for the first attempt after a healthy connection. */
  attempt: number;
  /** Milliseconds until the attempt. */
  delay: number;
  /** The close code that caused it. */
  code: number;
}

export interface ReznetStats {
  /** Events decoded (a batch counts one per event). */
  messages: number;
  /** WebSocket messages received. */
  frames: number;
  /** Bytes received on the wire: UTF-8 length of text frames, byteLength of binary frames. */
  bytes: number;
}

/** The `data` of `connection_established` (protocol section 5). */
export interface ConnectionEstablished {
  version: number;
  protocol?: string;
  features: Record<string, boolean>;
  map_hash?: string;
  field_map?: Record<string, string>;
  timestamp_fields?: string[];
}

export type Unsubscribe = () => void;

/**
 * A WebSocket connection speaking the reznet protocol, with field-map caching, decoding of
 * every frame into events, and reconnection with exponential backoff.
 */
export declare class ReznetSocket {
  constructor(url: string | URL, options?: ReznetSocketOptions);
  readonly url: string;
  /** The negotiated subprotocol of the current connection: `"reznet.v2"`, or `""` for v1. */
  readonly protocol: string;
  /** The readyState of the current WebSocket (3 between connections). */
  readonly readyState: number;
  /** The Decoder of the current connection (holding the server's field map once known). */
  readonly decoder: Decoder;
  /** Counters since construction, across reconnections (a copy). */
  readonly stats: ReznetStats;
  /** Test seam: the random source of the jitter. */
  random: () => number;
  /** Test seam: the clock measuring uptime. */
  now: () => number;

  on(event: "open", handler: (info: OpenInfo, event: "open") => void): Unsubscribe;
  on(event: "close", handler: (info: CloseInfo, event: "close") => void): Unsubscribe;
  on(event: "reconnecting", handler: (info: ReconnectingInfo, event: "reconnecting") => void): Unsubscribe;
  on(event: "error", handler: (error: Error, event: "error") => void): Unsubscribe;
  on(
    event: "connection_established",
    handler: (data: ConnectionEstablished, event: "connection_established") => void,
  ): Unsubscribe;
  /**
   * Every server event. A plain message (a v1 frame, or a content frame: the server's
   * `send_json(content)`) of the form `{"event": name, "data": data}` arrives as `(data, name)`
   * (and at the handlers of `name`); any other content as `(content, null)`.
   */
  on(event: "*", handler: (data: any, event: string | null, meta?: KeyedMeta) => void): Unsubscribe;
  /**
   * A server event. A keyed event's handlers get the full reconstructed object and a
   * {@link KeyedMeta} (whose `toString()` is the event name); other events the name.
   */
  on<T = any>(event: string, handler: (data: T, meta: string | KeyedMeta) => void): Unsubscribe;

  once(event: "open", handler: (info: OpenInfo, event: "open") => void): Unsubscribe;
  once(event: "close", handler: (info: CloseInfo, event: "close") => void): Unsubscribe;
  once(event: "reconnecting", handler: (info: ReconnectingInfo, event: "reconnecting") => void): Unsubscribe;
  once(event: "error", handler: (error: Error, event: "error") => void): Unsubscribe;
  once(
    event: "connection_established",
    handler: (data: ConnectionEstablished, event: "connection_established") => void,
  ): Unsubscribe;
  once(event: "*", handler: (data: any, event: string | null) => void): Unsubscribe;
  once<T = any>(event: string, handler: (data: T, event: string) => void): Unsubscribe;

  /** Removes every registration of `handler` for `event`. */
  off(event: string, handler: (...args: any[]) => void): void;

  /**
   * Sends `{"event": event, "data": data}`, or with `optimize` on a v2 connection whose map is
   * known, the v2 frame `{"_v":2,"e":event,"d":encodeData(data)}`.
   * @throws {Error} when the socket is not open
   */
  send(event: string, data?: unknown, options?: { optimize?: boolean }): void;

  /** Closes for good: no reconnection follows. */
  close(code?: number, reason?: string): void;

  /** The objects of keyed events, kept across reconnections. */
  readonly keyed: KeyedCache;
  /** The entities the current connection defined (protocol section 3.4), or null. */
  readonly entities: EntityTable | null;
  /** The current object of a keyed event, or `undefined` when no version of `key` is held. */
  state(key: string): any;
}

/** The `reznet_features` value announcing that a client inflates group streams. */
export declare const STREAM_FEATURE: "stream";
/** Added to `stream` when a client decodes zstd streams. */
export declare const STREAM_ZSTD_FEATURE: "stream-zstd";

/**
 * Makes one zstd push decoder: `push(chunk)` decodes synchronously and hands the output to
 * `ondata` (fzstd's `Decompress` has this shape).
 */
export type ZstdDecoderFactory = (ondata: (bytes: Uint8Array) => void) => {
  push(chunk: Uint8Array): void;
};

/** An error decoding a group-stream frame (protocol section 3.3). */
export declare class StreamError extends Error {
  readonly code: "stream_gap" | "too_large" | "decompression_failed" | "malformed_json" | "invalid_frame";
  /** The stream of the frame, when its header could be read. */
  stream: number | null;
}

/** Whether a binary message is a group-stream frame (first byte 0xA4-0xA7). */
export declare function isStreamFrame(bytes: Uint8Array): boolean;

/** The header of a group-stream frame; `epoch` is null inside an epoch. */
export declare function parseStreamHeader(bytes: Uint8Array): {
  stream: number;
  epoch: number | null;
  seq: number;
  offset: number;
  codec: "deflate" | "zstd";
};

/**
 * A connection's inflaters of its group streams, with
 * `DecompressionStream("deflate-raw")` (node's zlib where that is missing).
 */
export declare class StreamDecoder {
  constructor(options?: { maxInflatedBytes?: number; native?: boolean; zstd?: ZstdDecoderFactory });
  readonly maxInflatedBytes: number;
  /**
   * The text a stream frame carries; frames must be given in arrival order. With
   * `msgpack: true` (a reznet.v2.msgpack connection) a binary frame comes back as its bytes.
   */
  decode(bytes: Uint8Array, options?: { msgpack?: boolean }): Promise<string | Uint8Array>;
  /** The streams waiting for an epoch start after an error. */
  broken(): number[];
  /** Drops every stream's state. */
  close(): void;
}
