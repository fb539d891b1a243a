/**
 * reznet-ws-entities: entity references (docs/protocol.md, section 3.4).
 *
 * An event frame with a table, `{"_v":2,"e":EVENT,"t":[[REF,OBJ],...],"d":DATA}`, carries
 * objects the application declared as entities by reference: each `{"~": REF}` in DATA stands
 * for an object, found in the frame's table or, when the table does not define it, among the
 * entities earlier frames of the connection defined. A row `[REF, null, OPS]` changes the value
 * held with the operations of section 3.2. After resolving, the table's definitions
 * are stored in order; the one defined longest ago is forgotten when more than `max` are held.
 * The server keeps the same table per connection, so it never refers to an entity this client
 * no longer holds. The client never forgets an entity on its own.
 *
 * @module reznet-ws-entities
 */

import { DeltaError, applyDelta } from "./reznet-ws-delta.js";

/** The member of a reference object. */
export const REF_KEY = "~";
/** The member of an event frame with the entity definitions. */
export const TABLE_KEY = "t";
/** The `connection_established` feature with the table size. */
export const ENTITY_FEATURE = "entity_refs";

/** A reference the client cannot resolve, or a malformed table. */
export class EntityError extends Error {
  /** @param {string} message */
  constructor(message) {
    super(message);
    this.name = "EntityError";
  }
}

function isObject(value) {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

// JSON may carry a "__proto__" key; plain assignment would set the prototype instead.
function setMember(target, key, value) {
  if (key === "__proto__") {
    Object.defineProperty(target, key, { value, writable: true, enumerable: true, configurable: true });
  } else {
    target[key] = value;
  }
}

// A deep copy of a parsed JSON value that keeps -0 and "__proto__" members (JSON text would not).
function copy(value) {
  if (Array.isArray(value)) return value.map(copy);
  if (value === null || typeof value !== "object") return value;
  const out = {};
  for (const key of Object.keys(value)) setMember(out, key, copy(value[key]));
  return out;
}

function isRow(row) {
  if (!Array.isArray(row) || typeof row[0] !== "string") return false;
  return (row.length === 2 && row[1] !== null) || (row.length === 3 && row[1] === null && Array.isArray(row[2]));
}

/** Whether a parsed frame is an event frame with an entity table. */
export function isEntityFrame(obj) {
  return isObject(obj) && Object.hasOwn(obj, TABLE_KEY) && Object.hasOwn(obj, "e") && Object.hasOwn(obj, "d");
}

/** The entities one connection defined: REF -> DATA value, at most `max`, oldest first. */
export class EntityTable {
  /** @param {number} [max] the server's `entity_refs` (a server that refers announces it) */
  constructor(max = 256) {
    this.max = Number.isInteger(max) && max > 0 ? max : 256;
    /** @type {Map<string, any>} */
    this.items = new Map();
    this.stats = { frames: 0, refs: 0, defined: 0, changed: 0, evicted: 0, missing: 0 };
  }

  /**
   * Resolves the references of an entity frame, stores its table, and returns the frame as an
   * ordinary event frame (`t` left out, `d` resolved). Throws {@link EntityError} for a
   * reference neither defined nor held (the table is stored all the same).
   *
   * @param {any} frame a parsed frame for which {@link isEntityFrame} holds
   * @returns {any}
   */
  resolve(frame) {
    const table = frame[TABLE_KEY];
    if (!Array.isArray(table) || !table.every(isRow)) {
      throw new EntityError("an entity table is an array of [REF, OBJ] and [REF, null, OPS]");
    }
    this.stats.frames += 1;
    // [REF, null, OPS]: the value defined before in this table or held, changed by OPS.
    const local = new Map();
    const failed = [];
    for (const [ref, obj, ops] of table) {
      if (obj !== null) {
        local.set(ref, obj);
        continue;
      }
      const base = local.has(ref) ? local.get(ref) : this.items.get(ref);
      try {
        if (base === undefined) throw new DeltaError(`no entity ${JSON.stringify(ref)} to change`);
        local.set(ref, applyDelta(copy(base), ops));
        this.stats.changed += 1;
      } catch (error) {
        if (!(error instanceof DeltaError)) throw error;
        failed.push(ref);
        local.delete(ref); // neither the value before nor after: the server's is lost
      }
    }
    let data;
    try {
      if (failed.length) throw new EntityError(`entity changes that do not apply: ${JSON.stringify(failed)}`);
      data = this._resolve(frame.d, local);
    } finally {
      for (const ref of failed) this.items.delete(ref); // never keep a value the server no longer has
      this.store(table.filter(([ref]) => local.has(ref)).map(([ref]) => [ref, local.get(ref)]));
    }
    const { [TABLE_KEY]: _table, ...rest } = frame;
    return { ...rest, d: data };
  }

  /** Stores definitions `[[REF, value], ...]` in order, forgetting the oldest beyond `max`. */
  store(rows) {
    for (const [ref, value] of rows) {
      this.items.delete(ref);
      this.items.set(ref, value);
      this.stats.defined += 1;
    }
    while (this.items.size > this.max) {
      this.items.delete(this.items.keys().next().value);
      this.stats.evicted += 1;
    }
  }

  _resolve(value, local) {
    if (Array.isArray(value)) return value.map((item) => this._resolve(item, local));
    if (!isObject(value)) return value;
    const keys = Object.keys(value);
    if (keys.length === 1 && keys[0] === REF_KEY && typeof value[REF_KEY] === "string") {
      const ref = value[REF_KEY];
      this.stats.refs += 1;
      if (local.has(ref)) return copy(local.get(ref));
      if (this.items.has(ref)) return copy(this.items.get(ref));
      this.stats.missing += 1;
      throw new EntityError(`unknown entity reference ${JSON.stringify(ref)}`);
    }
    const out = {};
    for (const key of keys) setMember(out, key, this._resolve(value[key], local));
    return out;
  }
}
