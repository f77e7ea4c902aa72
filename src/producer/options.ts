/**
 * Insert options and their normalisation into the row shape both insert paths write.
 * @module
 */
import type { JobInput } from "../storage/enqueue.ts";
import { ValidationError } from "../errors.ts";
import {
  checkJson,
  checkKind,
  checkMaxAttempts,
  checkPriority,
  checkQueue,
  checkStates,
  checkTags,
  DEFAULT_UNIQUE_STATES,
  type JobDefinition,
  runValidator,
} from "../job.ts";
import { type JobState, orderingKeyHash64, stateMaskBits, uniqueKeyHex } from "../hash.ts";
import {
  checkDate,
  checkInt64,
  checkInteger,
  checkOptions,
  checkText,
  describe,
} from "../validate.ts";

/** Uniqueness of a job: its key (Algorithm U, src/hash.ts) and the states it holds in. */
export interface UniqueOptions {
  /** Fold the args into the key. Default true. */
  byArgs?: boolean;
  /** Fold the queue name into the key. Default false. */
  byQueue?: boolean;
  /**
   * Fold a period bucket into the key: a signed 64-bit integer you choose, conventionally
   * `Math.floor(epochSeconds / periodSeconds)` (see {@link periodBucket}).
   */
  byPeriod?: number | bigint;
  /** States in which the key stays claimed. Default scheduled, available, running, completed, retryable. */
  states?: JobState[];
}

/** Options of one insert. Unset fields fall back to the job definition's defaults. */
export interface InsertOptions {
  /** Queue name (1-59 bytes). Default: the definition's queue, else `"default"`. */
  queue?: string;
  /** 1 (most urgent) to 4. Default 2. */
  priority?: number;
  /** 1 to 1000. Default 25. */
  maxAttempts?: number;
  /** When to run. A future time makes the job `scheduled`; default now. */
  runAt?: Date;
  /** Up to 20 tags. */
  tags?: string[];
  /** JSON object stored with the job; keys starting with `awa:` are reserved. */
  metadata?: Record<string, unknown>;
  /** Make the job unique (BLAKE3 key over kind and the chosen components). */
  unique?: UniqueOptions;
  /** On a unique conflict: throw `UniqueConflictError` (default) or skip the job. */
  onConflict?: "error" | "skip";
  /** Route to an enqueue shard by key; jobs with one key run in insert order. */
  orderingKey?: string | Uint8Array;
  /**
   * Concurrency key (1-200 characters): jobs of one queue with one key share that key's
   * fleet-wide limit (the queue's, else the definition's `concurrency.perKey`). Default: the
   * definition's `concurrencyKey(args)`, else none. See docs/concurrency-keys.md.
   */
  concurrencyKey?: string;
  /** Awa schema. Default `"awa"`. */
  schema?: string;
}

/** Per-job options in {@link insertMany}; the batch options supply what a job leaves unset. */
export type ManyJobOptions = Omit<InsertOptions, "schema" | "onConflict">;

/** Upper bound on serialized args + metadata of one job: 1 MiB. */
export const MAX_PAYLOAD_BYTES = 1 << 20;

const utf8 = new TextEncoder();

/** A validated job ready to be written: what `insert_job` takes, plus the ordering-key hash. */
export interface NormalizedJob extends JobInput {
  /** Algorithm H of the ordering key, as a decimal string. */
  orderingKeyHash: string | null;
  /** The job's concurrency key (also in its metadata as `awa:concurrency_key`), or null. */
  concurrencyKey: string | null;
}

/** Bucket of the current (or given) time for `unique.byPeriod`: whole periods since the epoch. */
export function periodBucket(periodSeconds: number, at: Date = new Date()): number {
  checkInteger(periodSeconds, "periodSeconds", 1, Number.MAX_SAFE_INTEGER);
  const t = checkDate(at, "at");
  return Math.floor(t.getTime() / 1000 / periodSeconds);
}

function checkRunAt(runAt: unknown, field: string): Date | null {
  if (runAt === undefined || runAt === null) return null;
  return checkDate(runAt, field);
}

/** Check job metadata: a plain JSON object without `awa:` keys; returns its JSON text. */
export function checkMetadata(metadata: unknown, field: string): string {
  if (metadata === undefined) return "{}";
  if (typeof metadata !== "object" || metadata === null || Array.isArray(metadata)) {
    throw new ValidationError(field, `must be a plain JSON object, got ${describe(metadata)}`);
  }
  for (const key of Object.keys(metadata)) {
    if (key.startsWith("awa:")) {
      throw new ValidationError(`${field}.${key}`, "keys starting with awa: are reserved");
    }
  }
  return checkJson(metadata, field);
}

function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Option keys of one job (insert options minus `schema` and `onConflict`). */
export const JOB_OPTION_KEYS: ReadonlySet<string> = new Set([
  "queue",
  "priority",
  "maxAttempts",
  "runAt",
  "tags",
  "metadata",
  "unique",
  "orderingKey",
  "concurrencyKey",
]);

const UNIQUE_KEYS: ReadonlySet<string> = new Set(["byArgs", "byQueue", "byPeriod", "states"]);

/** Validate args and options of one job and compute its derived keys. Writes nothing. */
export function normalizeJob<A>(
  def: JobDefinition<A>,
  args: A,
  opts: ManyJobOptions,
  field: string,
): NormalizedJob {
  if (
    typeof def !== "object" || def === null || typeof def.kind !== "string" ||
    typeof def.defaults !== "object" || def.defaults === null
  ) {
    throw new ValidationError("job", "expected a job definition from defineJob()");
  }
  // A definition built by hand (not through defineJob) must meet the same rules.
  checkKind(def.kind);
  checkOptions(opts, field, JOB_OPTION_KEYS);
  const argsField = field === "opts" ? "args" : `${field}.args`;
  if (args === undefined) {
    throw new ValidationError(argsField, "args are required (use {} for none)");
  }
  const argsJson = checkJson(args, argsField);
  runValidator(def, args, argsField);
  const queue = checkQueue(opts.queue ?? def.defaults.queue ?? "default", `${field}.queue`);
  const priority = checkPriority(opts.priority ?? def.defaults.priority ?? 2, `${field}.priority`);
  const maxAttempts = checkMaxAttempts(
    opts.maxAttempts ?? def.defaults.maxAttempts ?? 25,
    `${field}.maxAttempts`,
  );
  const runAt = checkRunAt(opts.runAt, `${field}.runAt`);
  const tags = checkTags(opts.tags ?? def.defaults.tags ?? [], `${field}.tags`);
  const concurrencyKey = keyOf(def, args, opts.concurrencyKey, field);
  const metadataJson = withConcurrencyKey(
    checkMetadata(opts.metadata, `${field}.metadata`),
    concurrencyKey,
    def.defaults.concurrency?.perKey,
  );
  // UTF-16 length ≤ UTF-8 length ≤ 3 × UTF-16 length: count bytes only when it can matter.
  const chars = argsJson.length + metadataJson.length;
  if (
    chars > MAX_PAYLOAD_BYTES ||
    (chars * 3 > MAX_PAYLOAD_BYTES &&
      utf8.encode(argsJson).length + utf8.encode(metadataJson).length > MAX_PAYLOAD_BYTES)
  ) {
    throw new ValidationError(
      argsField,
      `args and metadata serialize to more than ${MAX_PAYLOAD_BYTES} bytes; store large ` +
        "payloads elsewhere and pass a reference",
    );
  }

  let uniqueKey: string | null = null;
  let uniqueStates: string | null = null;
  if (opts.unique !== undefined) {
    const u = checkOptions<UniqueOptions>(opts.unique, `${field}.unique`, UNIQUE_KEYS);
    if (u.byArgs !== undefined && typeof u.byArgs !== "boolean") {
      throw new ValidationError(`${field}.unique.byArgs`, "must be a boolean");
    }
    if (u.byQueue !== undefined && typeof u.byQueue !== "boolean") {
      throw new ValidationError(`${field}.unique.byQueue`, "must be a boolean");
    }
    const byPeriod = u.byPeriod === undefined
      ? undefined
      : checkInt64(u.byPeriod, `${field}.unique.byPeriod`);
    const states = u.states === undefined
      ? [...DEFAULT_UNIQUE_STATES]
      : checkStates(u.states, `${field}.unique.states`);
    try {
      uniqueKey = uniqueKeyHex({
        kind: def.kind,
        queue: u.byQueue ? queue : undefined,
        args: u.byArgs === false ? undefined : args,
        periodBucket: byPeriod,
      });
    } catch (err) {
      // uniqueKeyHex names fields from its own root ("args.x", "unique.byPeriod"); re-root them
      // at this job ("jobs[3].args.x") so batch errors say which job is wrong.
      if (!(err instanceof ValidationError)) throw err;
      const local = err.field.startsWith("args")
        ? argsField + err.field.slice(4)
        : `${field}.${err.field}`;
      throw new ValidationError(local, err.message.slice(err.field.length + 2), { cause: err });
    }
    uniqueStates = stateMaskBits(states);
  }

  let orderingKeyHex: string | null = null;
  let orderingKeyHash: string | null = null;
  if (opts.orderingKey !== undefined) {
    const k = opts.orderingKey;
    if (typeof k !== "string" && !(k instanceof Uint8Array)) {
      throw new ValidationError(
        `${field}.orderingKey`,
        `must be a string or Uint8Array, got ${describe(k)}`,
      );
    }
    const bytes = typeof k === "string" ? utf8.encode(checkText(k, `${field}.orderingKey`)) : k;
    if (bytes.length > 1024) {
      throw new ValidationError(`${field}.orderingKey`, "must be at most 1024 bytes");
    }
    orderingKeyHex = toHex(bytes);
    orderingKeyHash = orderingKeyHash64(bytes).toString();
  }

  return {
    kind: def.kind,
    argsJson,
    queue,
    priority,
    maxAttempts,
    runAt,
    tags,
    metadataJson,
    uniqueKeyHex: uniqueKey,
    uniqueStates,
    orderingKeyHex,
    orderingKeyHash,
    concurrencyKey,
  };
}

/** The job's concurrency key: the insert's, else the definition's `concurrencyKey(args)`. */
function keyOf<A>(
  def: JobDefinition<A>,
  args: A,
  own: unknown,
  field: string,
): string | null {
  if (own !== undefined) return checkConcurrencyKey(own, `${field}.concurrencyKey`);
  const derive = def.defaults.concurrencyKey;
  if (derive === undefined) return null;
  let key: unknown;
  try {
    key = derive(args);
  } catch (err) {
    const msg = err instanceof Error ? err.message : describe(err);
    throw new ValidationError("job.defaults.concurrencyKey", msg, { cause: err });
  }
  return checkConcurrencyKey(key, "job.defaults.concurrencyKey(args)");
}

function checkConcurrencyKey(v: unknown, field: string): string {
  if (typeof v !== "string" || v.length === 0 || v.length > 200) {
    throw new ValidationError(field, `must be a string of 1-200 characters, got ${describe(v)}`);
  }
  return checkText(v, field, 200);
}

/** Record the key (and the kind's own per-key limit) in the metadata, where SQL reads them. */
function withConcurrencyKey(
  metadataJson: string,
  key: string | null,
  perKey: number | undefined,
): string {
  if (key === null) return metadataJson;
  const meta = JSON.parse(metadataJson) as Record<string, unknown>;
  meta["awa:concurrency_key"] = key;
  if (perKey !== undefined) meta["awa:per_key"] = perKey;
  return JSON.stringify(meta);
}
