/**
 * Job definitions and the validation every producer path runs before it writes anything.
 * @module
 */
import { ValidationError } from "./errors.ts";
import { DEFAULT_UNIQUE_STATES, JOB_STATES, type JobState } from "./hash.ts";

/** Validator for job args; throw (any error) to reject, or return nothing to accept. */
export type ArgsValidator<A> = (args: A) => void;

/** Defaults applied to every insert of a job kind. */
export interface JobDefaults<A> {
  /** Queue name. Default `"default"`. */
  queue?: string;
  /** 1 (most urgent) to 4. Default 2. */
  priority?: number;
  /** Attempts before the job fails, 1 to 1000. Default 25. */
  maxAttempts?: number;
  /** Tags for operators (at most 20). */
  tags?: string[];
  /** Optional runtime validation of args, run at insert time and before the handler. */
  validate?: ArgsValidator<A>;
}

/** A job kind with its args type; shared by producers and the worker handler. */
export interface JobDefinition<A> {
  readonly kind: string;
  readonly defaults: Readonly<JobDefaults<A>>;
  /** Phantom field carrying the args type; never set at runtime. */
  readonly __args?: A;
}

/** Extract the args type of a job definition. */
export type ArgsOf<D> = D extends JobDefinition<infer A> ? A : never;

const NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9_.:\-]*$/;
const encoder = new TextEncoder();

/** Validate a job kind name. */
export function checkKind(kind: unknown, field = "kind"): string {
  if (typeof kind !== "string" || kind.length === 0 || kind.length > 200 || !NAME_RE.test(kind)) {
    throw new ValidationError(
      field,
      `must be 1-200 characters of letters, digits, _ . : - (starting with a letter, digit or _), ` +
        `got ${JSON.stringify(kind)}`,
    );
  }
  return kind;
}

/** Validate a queue name: it becomes a NOTIFY channel `awa:<queue>`, which caps it at 59 bytes. */
export function checkQueue(queue: unknown, field = "queue"): string {
  if (typeof queue !== "string" || queue.length === 0 || !NAME_RE.test(queue)) {
    throw new ValidationError(
      field,
      `must be letters, digits, _ . : - (starting with a letter, digit or _), got ${
        JSON.stringify(queue)
      }`,
    );
  }
  if (encoder.encode(queue).length > 59) {
    throw new ValidationError(
      field,
      `queue ${JSON.stringify(queue)} is longer than 59 bytes; Postgres NOTIFY channel names ` +
        "(awa:<queue>) are limited to 63 bytes",
    );
  }
  return queue;
}

/** Validate a priority (1 most urgent .. 4 bulk). */
export function checkPriority(priority: unknown, field = "priority"): number {
  if (!Number.isInteger(priority) || (priority as number) < 1 || (priority as number) > 4) {
    throw new ValidationError(
      field,
      `must be an integer from 1 (most urgent) to 4, got ${priority}`,
    );
  }
  return priority as number;
}

/** Validate max attempts (1..1000). */
export function checkMaxAttempts(n: unknown, field = "maxAttempts"): number {
  if (!Number.isInteger(n) || (n as number) < 1 || (n as number) > 1000) {
    throw new ValidationError(field, `must be an integer from 1 to 1000, got ${n}`);
  }
  return n as number;
}

/** Validate tags: at most 20 non-empty strings of at most 200 characters. */
export function checkTags(tags: unknown, field = "tags"): string[] {
  if (!Array.isArray(tags) || tags.length > 20) {
    throw new ValidationError(field, "must be an array of at most 20 strings");
  }
  for (const [i, t] of tags.entries()) {
    if (typeof t !== "string" || t.length === 0 || t.length > 200 || t.includes("\u0000")) {
      throw new ValidationError(
        `${field}[${i}]`,
        "must be a non-empty string of at most 200 chars",
      );
    }
  }
  return tags as string[];
}

/**
 * Check that `value` survives a JSON round trip unchanged and holds nothing Postgres jsonb
 * rejects. Returns its serialized form.
 */
export function checkJson(value: unknown, field: string): string {
  const seen = new Set<object>();
  const walk = (v: unknown, path: string): void => {
    if (v === null || typeof v === "boolean") return;
    if (typeof v === "string") {
      if (v.includes("\u0000")) throw new ValidationError(path, "strings must not contain \\u0000");
      if (!v.isWellFormed()) throw new ValidationError(path, "string has a lone UTF-16 surrogate");
      return;
    }
    if (typeof v === "number") {
      if (!Number.isFinite(v)) throw new ValidationError(path, `${v} is not valid JSON`);
      return;
    }
    if (typeof v !== "object") {
      throw new ValidationError(path, `a ${typeof v} is not JSON-serialisable`);
    }
    if (seen.has(v)) throw new ValidationError(path, "contains a circular reference");
    seen.add(v);
    if (Array.isArray(v)) {
      v.forEach((x, i) => {
        if (x === undefined) throw new ValidationError(`${path}[${i}]`, "undefined is not JSON");
        walk(x, `${path}[${i}]`);
      });
    } else {
      const proto = Object.getPrototypeOf(v);
      if (proto !== Object.prototype && proto !== null) {
        throw new ValidationError(
          path,
          `a ${proto?.constructor?.name ?? "non-plain"} object is not plain JSON; convert it first`,
        );
      }
      for (const [k, x] of Object.entries(v)) {
        if (k.includes("\u0000")) throw new ValidationError(path, "keys must not contain \\u0000");
        if (x !== undefined) walk(x, `${path}.${k}`);
      }
    }
    seen.delete(v);
  };
  walk(value, field);
  return JSON.stringify(value);
}

/** Validate a unique-states list. */
export function checkStates(states: unknown, field: string): JobState[] {
  if (!Array.isArray(states) || states.some((s) => !JOB_STATES.includes(s))) {
    throw new ValidationError(field, `must be an array of states from ${JOB_STATES.join(", ")}`);
  }
  return states as JobState[];
}

/**
 * Define a job kind once; its args type then flows into `insert`, `insertMany` and the worker
 * handler. Defaults (queue, priority, maxAttempts, tags) apply to every insert of the kind.
 */
export function defineJob<A>(kind: string, defaults: JobDefaults<A> = {}): JobDefinition<A> {
  checkKind(kind);
  if (defaults.queue !== undefined) checkQueue(defaults.queue, "defaults.queue");
  if (defaults.priority !== undefined) checkPriority(defaults.priority, "defaults.priority");
  if (defaults.maxAttempts !== undefined) {
    checkMaxAttempts(defaults.maxAttempts, "defaults.maxAttempts");
  }
  if (defaults.tags !== undefined) checkTags(defaults.tags, "defaults.tags");
  if (defaults.validate !== undefined && typeof defaults.validate !== "function") {
    throw new ValidationError("defaults.validate", "must be a function");
  }
  return Object.freeze({ kind, defaults: Object.freeze({ ...defaults }) });
}

export { DEFAULT_UNIQUE_STATES };
