/**
 * reznet-ws-delta: keyed events and structural deltas (docs/protocol.md, section 3.2).
 *
 * A keyed frame carries a live object under an application key: `{"_v":2,"e":EVENT,"k":KEY,
 * "n":N,"s":EPOCH,"d":DATA}` (the full object, version N) or `{"_v":2,"e":EVENT,"k":KEY,"n":N,
 * "x":OPS}` (what changed since version N-1). Deltas apply to the DATA as sent (abbreviated keys,
 * encoded timestamps), and the result is decoded as a whole, so the object handed over equals
 * what decoding the full frame would give. A delta that does not follow the version held is
 * never applied: the key is dropped and the caller asks the server for the full object.
 *
 * @module reznet-ws-delta
 */

/** The `reznet_features` value announcing that a client decodes keyed and delta frames. */
export const DELTA_FEATURE = "delta";
/** The raw event a client sends to ask for full objects of keys it cannot continue. */
export const RESYNC_EVENT = "reznet.resync";
/** The query parameter with the versions a reconnecting client holds. */
export const HAVE_PARAM = "reznet_have";

/** A delta that does not apply to the value it is applied to. */
export class DeltaError extends Error {
  /** @param {string} message */
  constructor(message) {
    super(message);
    this.name = "DeltaError";
  }
}

function isObject(value) {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function hasOwn(value, key) {
  return Object.prototype.hasOwnProperty.call(value, key);
}

// JSON may carry a "__proto__" key; plain assignment would set the prototype instead.
function setMember(target, key, value) {
  if (key === "__proto__" && !hasOwn(target, key)) {
    Object.defineProperty(target, key, { value, writable: true, enumerable: true, configurable: true });
  } else {
    target[key] = value;
  }
}

function walk(value, path, end) {
  for (let i = 0; i < end; i++) {
    const step = path[i];
    if (isObject(value) && typeof step === "string" && hasOwn(value, step)) value = value[step];
    else if (Array.isArray(value) && Number.isInteger(step) && step >= 0 && step < value.length) value = value[step];
    else throw new DeltaError(`path step ${JSON.stringify(step)} does not exist`);
  }
  return value;
}

/**
 * Applies delta operations to a JSON value (changed in place) and returns the result.
 *
 * @param {any} value the DATA value held (as parsed from its frame)
 * @param {any[]} ops `[PATH, VALUE]` set, `[PATH]` remove a member, `[PATH, I, N, ITEMS]` splice;
 *   a PATH is an array of member names and indexes, or one member name
 * @returns {any} the new value (a new root for `[[], VALUE]`)
 * @throws {DeltaError} when an operation is malformed or does not fit; the value may then be
 *   half changed and must be dropped
 */
export function applyDelta(value, ops) {
  if (!Array.isArray(ops)) throw new DeltaError("a delta is an array of operations");
  for (const op of ops) {
    if (!Array.isArray(op) || ![1, 2, 4].includes(op.length) || !(Array.isArray(op[0]) || typeof op[0] === "string")) {
      throw new DeltaError("an operation is [PATH], [PATH, VALUE] or [PATH, I, N, ITEMS]");
    }
    const path = typeof op[0] === "string" ? [op[0]] : op[0];
    if (op.length === 2 && path.length === 0) {
      value = op[1];
    } else if (op.length === 4) {
      splice(walk(value, path, path.length), op[1], op[2], op[3]);
    } else if (path.length === 0) {
      throw new DeltaError("cannot remove the whole value");
    } else {
      setAt(walk(value, path, path.length - 1), path[path.length - 1], op);
    }
  }
  return value;
}

function setAt(parent, step, op) {
  if (isObject(parent) && typeof step === "string") {
    if (op.length === 2) setMember(parent, step, op[1]);
    else if (hasOwn(parent, step)) delete parent[step];
    else throw new DeltaError(`no member ${JSON.stringify(step)} to remove`);
  } else if (Array.isArray(parent) && Number.isInteger(step) && step >= 0 && step < parent.length) {
    if (op.length !== 2) throw new DeltaError("array items are removed with a splice");
    parent[step] = op[1];
  } else {
    throw new DeltaError(`cannot set ${JSON.stringify(step)} here`);
  }
}

function splice(target, start, count, items) {
  if (!Array.isArray(target) || !Array.isArray(items)) throw new DeltaError("a splice needs arrays");
  if (!Number.isInteger(start) || !Number.isInteger(count)) throw new DeltaError("a splice needs integer I and N");
  if (start < 0 || count < 0 || start + count > target.length) throw new DeltaError("a splice outside the array");
  target.splice(start, count, ...items);
}

/**
 * Whether a parsed v2 frame is a keyed frame (it has `k`).
 *
 * @param {unknown} obj
 * @returns {boolean}
 */
export function isKeyedFrame(obj) {
  return isObject(obj) && hasOwn(obj, "_v") && hasOwn(obj, "k");
}

/**
 * The objects of keyed events a client holds: per key the DATA as sent, its version and stream,
 * and the decoded object. Bounded by `maxKeys` and (approximately) `maxBytes` of DATA text,
 * least recently updated first out; counters in `stats`.
 */
export class KeyedCache {
  /**
   * @param {{maxKeys?: number, maxBytes?: number}} [options] defaults: 1000 keys, 8 MiB
   */
  constructor({ maxKeys = 1000, maxBytes = 8 * 1024 * 1024 } = {}) {
    this.maxKeys = maxKeys;
    this.maxBytes = maxBytes;
    this.bytes = 0;
    this._items = new Map();
    this.stats = { full: 0, delta: 0, gaps: 0, evicted: 0, resyncs: 0 };
  }

  /** @returns {number} the number of keys held */
  get size() {
    return this._items.size;
  }

  /**
   * The decoded object of `key`, or `undefined`.
   *
   * @param {string} key
   */
  get(key) {
    return this._items.get(key)?.data;
  }

  /**
   * What is held of `key`: its event, version and stream, or `undefined`.
   *
   * @param {string} key
   * @returns {{event: string, version: number, stream: string} | undefined}
   */
  info(key) {
    const item = this._items.get(key);
    return item && { event: item.event, version: item.version, stream: item.epoch };
  }

  /**
   * Up to `limit` `[key, epoch, version]` triples, the most recently updated first.
   *
   * @param {number} [limit]
   * @returns {Array<[string, string, number]>}
   */
  held(limit = 32) {
    const out = [];
    for (const [key, item] of [...this._items].reverse()) {
      if (out.length >= limit) break;
      if (item.epoch) out.push([key, item.epoch, item.version]);
    }
    return out;
  }

  /**
   * Applies a parsed keyed frame.
   *
   * @param {any} frame a keyed frame (see {@link isKeyedFrame})
   * @param {{decodeData: (value: any) => any}} decoder the connection's Decoder
   * @returns {{event: string, data: any, meta: {event: string, key: string, version: number,
   *   delta: boolean}} | {gap: string}} the event, or the key that needs a full object
   * @throws {Error} a frame with a malformed `k`, `n` or `e` (the caller reports invalid_frame)
   */
  receive(frame, decoder) {
    const { k: key, n: version } = frame;
    const full = hasOwn(frame, "d");
    // A delta frame may leave "e" out: the event is that of the version it follows.
    const named = full || hasOwn(frame, "e");
    if (typeof key !== "string" || !Number.isSafeInteger(version) || (named && typeof frame.e !== "string")) {
      throw new DeltaError('a keyed frame needs a string "k" and "e" and an integer "n"');
    }
    if (full === hasOwn(frame, "x")) throw new DeltaError('a keyed frame has exactly one of "d" and "x"');
    let item = this._items.get(key);
    if (full) {
      const size = JSON.stringify(frame.d)?.length ?? 4;
      const epoch = typeof frame.s === "string" ? frame.s : "";
      item = { epoch, version, value: frame.d, size, data: undefined, event: frame.e };
      this.stats.full += 1;
    } else {
      if (item === undefined || item.version !== version - 1) return this._gap(key);
      if (named) item.event = frame.e;
      try {
        item.value = applyDelta(item.value, frame.x);
      } catch {
        return this._gap(key);
      }
      item.version = version;
      item.size += JSON.stringify(frame.x).length;
      this.stats.delta += 1;
    }
    let data;
    try {
      data = decoder.decodeData(item.value);
    } catch (error) {
      this._drop(key);
      throw error;
    }
    item.data = data;
    this._store(key, item);
    const event = item.event;
    return { event, data, meta: { event, key, version, delta: !full, toString: () => event } };
  }

  /**
   * Forgets `key` (the application no longer needs it).
   *
   * @param {string} key
   */
  delete(key) {
    this._drop(key);
  }

  _gap(key) {
    this._drop(key);
    this.stats.gaps += 1;
    return { gap: key };
  }

  _drop(key) {
    const item = this._items.get(key);
    if (item !== undefined) {
      this.bytes -= item.size;
      this._items.delete(key);
    }
  }

  _store(key, item) {
    this._drop(key);
    if (item.size > this.maxBytes) return;
    this._items.set(key, item);
    this.bytes += item.size;
    for (const [oldest] of this._items) {
      if (this._items.size <= this.maxKeys && this.bytes <= this.maxBytes) break;
      this._drop(oldest);
      this.stats.evicted += 1;
    }
  }
}
