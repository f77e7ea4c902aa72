/**
 * Hash derivations shared with every Awa implementation: Algorithm U (unique keys) and Algorithm
 * H (ordering keys and partitions). These must
 * match byte for byte across languages; the vectors in tests/producer/hash_test.ts pin them.
 * @module
 */
import { blake3 } from "@noble/hashes/blake3.js";
import { bytesToHex } from "@noble/hashes/utils.js";
import { ValidationError } from "./errors.ts";
import {
  checkInt64,
  checkInteger,
  checkOptions,
  checkText,
  describe,
  MAX_JSON_DEPTH,
} from "./validate.ts";

const encoder = new TextEncoder();
const MASK64 = (1n << 64n) - 1n;

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    if (a[i] !== b[i]) return a[i] - b[i];
  }
  return a.length - b.length;
}

function hasLoneSurrogate(s: string): boolean {
  return !s.isWellFormed();
}

/**
 * Canonical JSON of `value`: object keys sorted by their UTF-8 bytes, no whitespace, integers
 * only. Throws {@link ValidationError} for values the other implementations would render
 * differently (non-integral or unsafe numbers, lone surrogates) or cannot represent.
 */
export function canonicalJson(value: unknown, field = "args"): string {
  return canonical(value, field, 1, field);
}

function canonical(value: unknown, field: string, depth: number, root: string): string {
  if (value === null) return "null";
  switch (typeof value) {
    case "boolean":
      return value ? "true" : "false";
    case "number":
      if (!Number.isSafeInteger(value)) {
        throw new ValidationError(
          field,
          `number ${value} is not a safe integer; unique keys over args accept only integers ` +
            "within ±2^53 (encode other numbers as strings)",
        );
      }
      return Object.is(value, -0) ? "0" : String(value);
    case "string":
      if (hasLoneSurrogate(value)) {
        throw new ValidationError(field, "string contains a lone UTF-16 surrogate");
      }
      return JSON.stringify(value);
    case "object": {
      if (depth > MAX_JSON_DEPTH) {
        throw new ValidationError(root, `nests deeper than ${MAX_JSON_DEPTH} levels`);
      }
      if (Array.isArray(value)) {
        const parts: string[] = [];
        for (let i = 0; i < value.length; i++) {
          if (!(i in value) || value[i] === undefined) {
            throw new ValidationError(`${field}[${i}]`, "undefined or a hole is not JSON");
          }
          parts.push(canonical(value[i], `${field}[${i}]`, depth + 1, root));
        }
        return "[" + parts.join(",") + "]";
      }
      const entries = Object.entries(value as Record<string, unknown>)
        .filter(([, v]) => v !== undefined)
        .map(([k, v]) => ({ k, bytes: encoder.encode(k), v }));
      entries.sort((a, b) => compareBytes(a.bytes, b.bytes));
      return "{" +
        entries.map((e) => {
          if (hasLoneSurrogate(e.k)) {
            throw new ValidationError(field, `key ${JSON.stringify(e.k)} has a lone surrogate`);
          }
          return JSON.stringify(e.k) + ":" + canonical(e.v, `${field}.${e.k}`, depth + 1, root);
        }).join(",") + "}";
    }
    default:
      throw new ValidationError(field, `${describe(value)} (a ${typeof value}) is not JSON`);
  }
}

/** What a unique key folds in (Algorithm U). */
export interface UniqueKeyInput {
  /** The job's kind. */
  kind: string;
  /** Queue name; folded in only when given. */
  queue?: string;
  /** Job args; folded in (as canonical JSON) only when given. */
  args?: unknown;
  /** Caller-supplied period bucket, e.g. `Math.floor(epochSeconds / 3600)`. */
  periodBucket?: number | bigint;
}

const UNIQUE_INPUT_KEYS: ReadonlySet<string> = new Set(["kind", "queue", "args", "periodBucket"]);

/** Algorithm U: the 16-byte BLAKE3 unique key, as lowercase hex. */
export function uniqueKeyHex(input: UniqueKeyInput): string {
  if (input === undefined) throw new ValidationError("input", "is required");
  const u = checkOptions<UniqueKeyInput>(input, "input", UNIQUE_INPUT_KEYS);
  const kind = checkText(u.kind, "kind");
  const h = blake3.create();
  h.update(encoder.encode(kind));
  if (u.queue !== undefined) {
    h.update(new Uint8Array([0]));
    h.update(encoder.encode(checkText(u.queue, "queue")));
  }
  if (u.args !== undefined) {
    h.update(new Uint8Array([0]));
    h.update(encoder.encode(canonicalJson(u.args)));
  }
  if (u.periodBucket !== undefined) {
    const bucket = checkInt64(u.periodBucket, "unique.byPeriod");
    const buf = new Uint8Array(8);
    new DataView(buf.buffer).setBigInt64(0, bucket, true);
    h.update(new Uint8Array([0]));
    h.update(buf);
  }
  return bytesToHex(h.digest().subarray(0, 16));
}

/** The bytes of an ordering key; strings must be well-formed (no lone surrogate). */
function orderingKeyBytes(key: unknown, field: string): Uint8Array {
  if (key instanceof Uint8Array) return key;
  if (typeof key === "string") return encoder.encode(checkText(key, field));
  throw new ValidationError(field, `must be a string or Uint8Array, got ${describe(key)}`);
}

/** Algorithm H: the base ordering-key hash (multiply, then add each byte, mod 2^64). */
export function orderingKeyHash64(key: string | Uint8Array): bigint {
  const bytes = orderingKeyBytes(key, "key");
  let h = 14695981039346656037n;
  for (const b of bytes) h = (h * 1099511628211n + BigInt(b)) & MASK64;
  return h;
}

/** Algorithm P: domain-separated partition hash of an ordering key. */
export function partitionHash64(key: string | Uint8Array): bigint {
  let v = orderingKeyHash64(key) ^ 0x9d4d1b2f53a70c91n;
  v ^= v >> 30n;
  v = (v * 0xbf58476d1ce4e5b9n) & MASK64;
  v ^= v >> 27n;
  v = (v * 0x94d049bb133111ebn) & MASK64;
  return v ^ (v >> 31n);
}

/** Partition index of an ordering key among `n` partitions (0 and 1 both give partition 0). */
export function partitionForOrderingKey(key: string | Uint8Array, n: number): number {
  checkInteger(n, "n", 0, Number.MAX_SAFE_INTEGER);
  const hash = partitionHash64(key);
  if (n <= 1) return 0;
  return Number(hash % BigInt(n));
}

/** Job states in unique-mask bit order (bit 0 = scheduled). */
export const JOB_STATES = [
  "scheduled",
  "available",
  "running",
  "completed",
  "retryable",
  "failed",
  "cancelled",
  "waiting_external",
] as const;

/** A job's lifecycle state. */
export type JobState = typeof JOB_STATES[number];

/** Validate a list of job states (for unique masks). */
export function checkStates(states: unknown, field: string): JobState[] {
  const bad = () =>
    new ValidationError(field, `must be an array of states from ${JOB_STATES.join(", ")}`);
  if (!Array.isArray(states)) throw bad();
  for (let i = 0; i < states.length; i++) {
    if (!(i in states) || !(JOB_STATES as readonly unknown[]).includes(states[i])) throw bad();
  }
  return states as JobState[];
}

/** Wire form of a state mask: a `bit(8)` literal whose leftmost character is bit 0. */
export function stateMaskBits(states: readonly JobState[]): string {
  checkStates(states, "states");
  return JOB_STATES.map((s) => (states.includes(s) ? "1" : "0")).join("");
}

/** Default unique states: scheduled, available, running, completed, retryable. */
export const DEFAULT_UNIQUE_STATES: readonly JobState[] = [
  "scheduled",
  "available",
  "running",
  "completed",
  "retryable",
];
