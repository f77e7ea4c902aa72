/**
 * Job definitions and the validation every producer path runs before it writes anything.
 * @module
 */
import { ValidationError } from "./errors.ts";
import type { FollowUps } from "./flows/types.ts";
import { checkStates, DEFAULT_UNIQUE_STATES } from "./hash.ts";
import {
  checkInteger,
  checkJson,
  checkOptions,
  checkText,
  describe,
  MAX_KIND_LENGTH,
  MAX_QUEUE_BYTES,
  NAME_RE,
} from "./validate.ts";

/**
 * Validator for job args; throw (any error) to reject, or return nothing to accept. It must be
 * synchronous: an `async` function is refused by {@link defineJob}, and a validator that returns
 * a promise fails the insert with a `ValidationError`.
 */
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
  /**
   * Derive each job's concurrency key from its args (an insert's `concurrencyKey` wins). Jobs
   * with one key share the key's fleet-wide limit (docs/concurrency-keys.md). Must be
   * synchronous and return a string of 1-200 characters.
   */
  concurrencyKey?: (args: A) => string;
  /** Fleet-wide concurrency of keyed jobs of this kind; a queue limit set by the admin wins. */
  concurrency?: ConcurrencyOptions;
  /** Jobs to enqueue when a job of this kind completes, fails for good or is cancelled. */
  followUps?: FollowUps;
}

/** Fleet-wide concurrency of a job kind's keyed jobs. */
export interface ConcurrencyOptions {
  /** At most this many jobs of one concurrency key run at once, fleet-wide (1 to 100 000). */
  perKey?: number;
}

/**
 * A job kind with its args type `A` and result type `R` (what its handler returns, stored with
 * the completed job); shared by producers, the worker handler and `insertAndWait`.
 */
export interface JobDefinition<A, R = unknown> {
  /** The kind name jobs of this definition carry. */
  readonly kind: string;
  /** Insert defaults and the args validator, as given to `defineJob`. */
  readonly defaults: Readonly<JobDefaults<A>>;
  /** Phantom field carrying the args type; never set at runtime. */
  readonly __args?: A;
  /** Phantom field carrying the result type; never set at runtime. */
  readonly __result?: R;
}

/** Extract the args type of a job definition. */
export type ArgsOf<D> = D extends JobDefinition<infer A, infer _R> ? A : never;

/** Extract the result type of a job definition. */
export type ResultOf<D> = D extends JobDefinition<infer _A, infer R> ? R : never;

const encoder = new TextEncoder();

/** Validate a job kind name: 1-200 characters matching {@link NAME_RE}. */
export function checkKind(kind: unknown, field = "kind"): string {
  if (
    typeof kind !== "string" || kind.length === 0 || kind.length > MAX_KIND_LENGTH ||
    !NAME_RE.test(kind)
  ) {
    throw new ValidationError(
      field,
      `must be 1-${MAX_KIND_LENGTH} characters of letters, digits, _ . : - (starting with a ` +
        `letter, digit or _), got ${describe(kind)}`,
    );
  }
  return kind;
}

/** Validate a queue name: it becomes a NOTIFY channel, which caps it at 59 bytes. */
export function checkQueue(queue: unknown, field = "queue"): string {
  if (typeof queue !== "string" || queue.length === 0 || !NAME_RE.test(queue)) {
    throw new ValidationError(
      field,
      `must be letters, digits, _ . : - (starting with a letter, digit or _), got ${
        describe(queue)
      }`,
    );
  }
  if (encoder.encode(queue).length > MAX_QUEUE_BYTES) {
    throw new ValidationError(
      field,
      `queue ${describe(queue)} is longer than ${MAX_QUEUE_BYTES} bytes; Postgres NOTIFY ` +
        "channel names are limited to 63 bytes",
    );
  }
  return queue;
}

/** Validate a priority (1 most urgent .. 4 bulk). */
export function checkPriority(priority: unknown, field = "priority"): number {
  return checkInteger(priority, field, 1, 4);
}

/** Validate max attempts (1..1000). */
export function checkMaxAttempts(n: unknown, field = "maxAttempts"): number {
  return checkInteger(n, field, 1, 1000);
}

/** Validate tags: at most 20 non-empty strings of at most 200 characters. */
export function checkTags(tags: unknown, field = "tags"): string[] {
  if (!Array.isArray(tags) || tags.length > 20) {
    throw new ValidationError(field, "must be an array of at most 20 strings");
  }
  for (let i = 0; i < tags.length; i++) {
    const t = checkText(tags[i], `${field}[${i}]`, 200);
    if (t.length === 0) throw new ValidationError(`${field}[${i}]`, "must not be empty");
  }
  return tags as string[];
}

export { checkJson };

const DEFAULT_KEYS: ReadonlySet<string> = new Set([
  "queue",
  "priority",
  "maxAttempts",
  "tags",
  "validate",
  "concurrencyKey",
  "concurrency",
  "followUps",
]);

const CONCURRENCY_KEYS: ReadonlySet<string> = new Set(["perKey"]);

function isAsyncFunction(f: unknown): boolean {
  return typeof f === "function" &&
    (f.constructor?.name === "AsyncFunction" || f.constructor?.name === "AsyncGeneratorFunction");
}

/**
 * Run a definition's `validate` on `args`; a throw or a returned promise becomes a
 * {@link ValidationError} on `field`.
 */
export function runValidator<A>(def: JobDefinition<A>, args: A, field: string): void {
  const validate = def.defaults.validate;
  if (validate === undefined) return;
  let out: unknown;
  try {
    out = validate(args);
  } catch (err) {
    const msg = err instanceof Error ? err.message : describe(err);
    throw new ValidationError(field, msg, { cause: err });
  }
  if (typeof (out as PromiseLike<unknown>)?.then === "function") {
    // Observe the promise so its rejection cannot surface as an unhandled rejection.
    Promise.resolve(out).catch(() => {});
    throw new ValidationError(
      "job.defaults.validate",
      "returned a promise; validators must be synchronous (check async rules before insert)",
    );
  }
}

/**
 * Define a job kind once; its args type `A` then flows into `insert`, `insertMany` and the
 * worker handler, and its result type `R` (default `unknown`) into the handler's return type,
 * `insertAndWait`, `waitForJob` and `getJobResult`. Defaults (queue, priority, maxAttempts, tags) apply to every insert of the kind.
 * Throws {@link ValidationError} for a bad kind, bad defaults, unknown default keys or an
 * `async` validator.
 */
export function defineJob<A, R = unknown>(
  kind: string,
  defaults: JobDefaults<A> = {},
): JobDefinition<A, R> {
  checkKind(kind);
  const d = checkOptions<JobDefaults<A>>(defaults, "defaults", DEFAULT_KEYS);
  if (d.queue !== undefined) checkQueue(d.queue, "defaults.queue");
  if (d.priority !== undefined) checkPriority(d.priority, "defaults.priority");
  if (d.maxAttempts !== undefined) checkMaxAttempts(d.maxAttempts, "defaults.maxAttempts");
  if (d.tags !== undefined) checkTags(d.tags, "defaults.tags");
  if (d.followUps !== undefined && (typeof d.followUps !== "object" || d.followUps === null)) {
    throw new ValidationError("defaults.followUps", "must be an object of followUp() lists");
  }
  if (d.validate !== undefined) {
    if (typeof d.validate !== "function") {
      throw new ValidationError("defaults.validate", "must be a function");
    }
    if (isAsyncFunction(d.validate)) {
      throw new ValidationError(
        "defaults.validate",
        "must be synchronous; an async validator cannot reject an insert in time",
      );
    }
  }
  if (d.concurrencyKey !== undefined) {
    if (typeof d.concurrencyKey !== "function" || isAsyncFunction(d.concurrencyKey)) {
      throw new ValidationError(
        "defaults.concurrencyKey",
        "must be a synchronous function from args to a string key",
      );
    }
  }
  if (d.concurrency !== undefined) {
    const c = checkOptions<ConcurrencyOptions>(
      d.concurrency,
      "defaults.concurrency",
      CONCURRENCY_KEYS,
    );
    if (c.perKey !== undefined) checkInteger(c.perKey, "defaults.concurrency.perKey", 1, 100_000);
  }
  return Object.freeze({ kind, defaults: Object.freeze({ ...d }) });
}

export { checkStates, DEFAULT_UNIQUE_STATES };
