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
  /** Jobs to enqueue when a job of this kind completes, fails for good or is cancelled. */
  followUps?: FollowUps;
}

/** A job kind with its args type; shared by producers and the worker handler. */
export interface JobDefinition<A> {
  /** The kind name jobs of this definition carry. */
  readonly kind: string;
  /** Insert defaults and the args validator, as given to `defineJob`. */
  readonly defaults: Readonly<JobDefaults<A>>;
  /** Phantom field carrying the args type; never set at runtime. */
  readonly __args?: A;
}

/** Extract the args type of a job definition. */
export type ArgsOf<D> = D extends JobDefinition<infer A> ? A : never;

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
  "followUps",
]);

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
 * Define a job kind once; its args type then flows into `insert`, `insertMany` and the worker
 * handler. Defaults (queue, priority, maxAttempts, tags) apply to every insert of the kind.
 * Throws {@link ValidationError} for a bad kind, bad defaults, unknown default keys or an
 * `async` validator.
 */
export function defineJob<A>(kind: string, defaults: JobDefaults<A> = {}): JobDefinition<A> {
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
  return Object.freeze({ kind, defaults: Object.freeze({ ...d }) });
}

export { checkStates, DEFAULT_UNIQUE_STATES };
