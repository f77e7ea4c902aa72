/**
 * Producer API: `insert` (one job, through the public SQL contract `awa.insert_job`) and
 * `insertMany` (one COPY, or one multi-row INSERT, per batch).
 * @module
 */
import { type Db, type Executor, toExecutor } from "../db/executor.ts";
import { pgErrorInfo } from "../db/classify.ts";
import { AwaError, UniqueConflictError, ValidationError } from "../errors.ts";
import { toDatabaseError } from "../db/classify.ts";
import type { JobDefinition } from "../job.ts";
import { mapMissingSchema, requireSchema } from "../migrate.ts";
import { checkSchema } from "../schema.ts";
import {
  type BulkField,
  type BulkReservation,
  enqueueSmallBatch,
  type InsertedRow,
  insertJob,
  type LaneGroup,
  reserveBulkEnqueue,
  writeDeferredJobs,
  writeReadyEntries,
} from "../storage/enqueue.ts";
import { insertKeyedJobs } from "../storage/flow.ts";
import { type Store, storeOf } from "../storage/store.ts";
import { followUpNodes, insertFollowUps } from "../flows/follow_ups.ts";
import type { FollowUps } from "../flows/types.ts";
import { checkInteger, checkOptions, describe } from "../validate.ts";
import {
  type InsertOptions,
  JOB_OPTION_KEYS,
  type ManyJobOptions,
  type NormalizedJob,
  normalizeJob,
} from "./options.ts";

/** A job as it was inserted. */
export interface InsertedJob {
  /** The job's id. */
  id: number;
  /** The job's kind. */
  kind: string;
  /** The queue it was inserted into. */
  queue: string;
  /** `available` (runs now) or `scheduled` (runAt in the future). */
  state: "available" | "scheduled";
  /** Priority, 1 (first) to 4. */
  priority: number;
  /** Attempts allowed in all. */
  maxAttempts: number;
  /** When the job becomes due. */
  runAt: Date;
  /** When the job was inserted (the database's clock). */
  createdAt: Date;
  /** Hex of the unique key, or null. */
  uniqueKey: string | null;
  /** Enqueue shard the job was appended to; null for scheduled jobs. */
  enqueueShard: number | null;
}

/** Turn a database id (bigint text) into a number, refusing values beyond 2^53. */
export function toId(value: unknown): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw new RangeError(`job id ${value} exceeds 2^53`);
  return n;
}

/**
 * Map a Postgres unique violation on Awa's claim index to {@link UniqueConflictError} (naming the
 * row of an insertMany batch when the server says which one clashed), and an `awa:` field check
 * to {@link ValidationError}.
 */
export function mapInsertError(
  err: unknown,
  uniqueKey?: string | null,
  at: { index?: number; batchStart?: number } = {},
): unknown {
  if (err instanceof AwaError) return err;
  const info = pgErrorInfo(err);
  if (info.code === "23505" && info.constraint === "idx_awa_jobs_unique") {
    let key = uniqueKey ?? undefined;
    let index = at.index;
    if (info.detail?.startsWith("{")) {
      try {
        // reserve_bulk_enqueue names the first clashing row of its batch.
        const d = JSON.parse(info.detail) as { index?: unknown; key?: unknown };
        if (typeof d.index === "number") index = (at.batchStart ?? 0) + d.index;
        if (typeof d.key === "string") key = d.key;
      } catch {
        // A DETAIL from elsewhere: keep what the caller knows.
      }
    }
    return new UniqueConflictError(key, { cause: err, index });
  }
  if ((info.code === "23514" || info.code === "22023") && info.message.startsWith("awa: ")) {
    return new ValidationError("job", info.message.slice(5), { cause: err });
  }
  return err;
}

/** Final mapping of a producer failure: typed errors pass, anything else is a DatabaseError. */
function producerError(err: unknown, ex: Executor, schema: string, what: string): AwaError {
  return toDatabaseError(mapMissingSchema(err, ex, schema), what);
}

function toDate(v: Date | string): Date {
  return v instanceof Date ? v : new Date(v);
}

function toInserted(row: InsertedRow): InsertedJob {
  return {
    id: toId(row.id),
    kind: row.kind,
    queue: row.queue,
    state: row.state as InsertedJob["state"],
    priority: Number(row.priority),
    maxAttempts: Number(row.max_attempts),
    runAt: toDate(row.run_at),
    createdAt: toDate(row.created_at),
    uniqueKey: row.unique_key,
    enqueueShard: row.enqueue_shard === null ? null : Number(row.enqueue_shard),
  };
}

/** Insert one normalized job through `insert_job`; null when `skip` dropped a duplicate. */
export async function insertOne(
  store: Store,
  job: NormalizedJob,
  onConflict: "error" | "skip",
): Promise<InsertedJob | null> {
  try {
    const row = await insertJob(store, job, onConflict);
    return row === null ? null : toInserted(row);
  } catch (err) {
    throw mapInsertError(err, job.uniqueKeyHex);
  }
}

function checkOnConflict(v: unknown): "error" | "skip" {
  if (v === undefined) return "error";
  if (v !== "error" && v !== "skip") {
    throw new ValidationError("opts.onConflict", `must be "error" or "skip", got ${describe(v)}`);
  }
  return v;
}

const INSERT_KEYS: ReadonlySet<string> = new Set([
  ...JOB_OPTION_KEYS,
  "schema",
  "onConflict",
  "followUps",
]);

/** Options of {@link insert}: those of every job, plus its follow-ups (docs/flows.md). */
export interface SingleInsertOptions extends InsertOptions {
  /** Jobs to enqueue when this one completes, fails for good or is cancelled. */
  followUps?: FollowUps;
}

/**
 * Insert one job. With a transaction handle (`sql.begin(tx => insert(tx, ...))`) the job exists
 * only if that transaction commits. Validates everything before writing; throws
 * {@link ValidationError} or {@link UniqueConflictError}. With `onConflict: "skip"` a duplicate
 * resolves to `null`.
 */
export function insert<A>(
  db: Db,
  job: JobDefinition<A>,
  args: A,
  opts?: SingleInsertOptions & { onConflict?: "error" },
): Promise<InsertedJob>;
/** Insert one job, resolving to `null` when `onConflict: "skip"` dropped a duplicate. */
export function insert<A>(
  db: Db,
  job: JobDefinition<A>,
  args: A,
  opts: SingleInsertOptions,
): Promise<InsertedJob | null>;
export async function insert<A>(
  db: Db,
  job: JobDefinition<A>,
  args: A,
  opts: SingleInsertOptions = {},
): Promise<InsertedJob | null> {
  const o = checkOptions<SingleInsertOptions>(opts, "opts", INSERT_KEYS);
  const schema = checkSchema(o.schema, "opts.schema");
  const onConflict = checkOnConflict(o.onConflict);
  const { schema: _s, onConflict: _c, followUps, ...jobOpts } = o;
  const normalized = normalizeJob(job, args, jobOpts, "opts");
  const followUpSpecs = followUpNodes(job.defaults.followUps, followUps);
  const ex = toExecutor(db);
  try {
    await requireSchema(ex, schema);
    const store = storeOf(ex, schema);
    if (followUpSpecs === null) return await insertOne(store, normalized, onConflict);
    // The parent and its follow-ups commit together.
    return await store.atomic("insert", async (tx) => {
      const row = await insertOne(tx, normalized, onConflict);
      if (row !== null) await insertFollowUps(tx, row.id, row.kind, followUpSpecs);
      return row;
    });
  } catch (err) {
    throw producerError(err, ex, schema, "insert");
  }
}

/** One job of an {@link insertMany} batch: its args plus options that differ from the batch's. */
export interface ManyJob<A> extends ManyJobOptions {
  /** The job's arguments. */
  args: A;
}

/** Result of {@link insertMany}. */
export interface InsertManyResult {
  /** Jobs written. */
  count: number;
  /** Ids in input order; `null` where a duplicate was skipped (`onConflict: "skip"`). */
  ids: (number | null)[];
}

/** Options of a whole {@link insertMany} call; they apply to every job that does not set its own. */
export type InsertManyOptions = Omit<InsertOptions, "unique" | "orderingKey"> & {
  /** Rows per batch: one COPY, or one multi-row INSERT. Default 20 000. */
  batchSize?: number;
};

const MANY_KEYS: ReadonlySet<string> = new Set([
  ...[...JOB_OPTION_KEYS].filter((k) => k !== "unique" && k !== "orderingKey"),
  "schema",
  "onConflict",
  "batchSize",
]);

const MANY_JOB_KEYS: ReadonlySet<string> = new Set([...JOB_OPTION_KEYS, "args"]);

const MAX_GROUP = 65536;

/** A Postgres array literal of `tags`. */
function arrayLiteral(tags: string[]): string {
  return "{" + tags.map((t) => '"' + t.replace(/["\\]/g, (c) => "\\" + c) + '"').join(",") + "}";
}

function expandIds(ranges: [string, string][]): number[] {
  const out: number[] = [];
  for (const [lo, hi] of ranges) {
    for (let v = toId(lo); v < toId(hi); v++) out.push(v);
  }
  return out;
}

/**
 * Jobs with a concurrency key enter their key one by one in SQL (admitted to a lane, or parked
 * until the key has room), in one round trip; the rest of the batch takes the bulk path.
 */
async function insertBatch(
  store: Store,
  jobs: NormalizedJob[],
  onConflict: "error" | "skip",
): Promise<(number | null)[]> {
  if (!jobs.some((j) => j.concurrencyKey !== null)) return insertBulk(store, jobs, onConflict);
  const keyed: number[] = [];
  const plain: number[] = [];
  jobs.forEach((j, i) => (j.concurrencyKey === null ? plain : keyed).push(i));
  const ids: (number | null)[] = new Array(jobs.length).fill(null);
  if (plain.length > 0) {
    const got = await insertBulk(store, plain.map((i) => jobs[i]), onConflict);
    plain.forEach((i, k) => (ids[i] = got[k]));
  }
  const byIdx = await insertKeyedJobs(
    store,
    keyed.map((i) => {
      const j = jobs[i];
      return {
        idx: i,
        kind: j.kind,
        args: JSON.parse(j.argsJson),
        queue: j.queue,
        priority: j.priority,
        max_attempts: j.maxAttempts,
        run_at: j.runAt?.toISOString() ?? null,
        metadata: JSON.parse(j.metadataJson),
        tags: j.tags,
        unique_key: j.uniqueKeyHex,
        unique_states: j.uniqueStates,
        ordering_key: j.orderingKeyHex,
      };
    }),
    onConflict,
  );
  for (const i of keyed) {
    const id = byIdx.get(i);
    ids[i] = id === undefined || id === null ? null : toId(id);
  }
  return ids;
}

/** Lane groups, unique claims and the jobs that run later, as both bulk paths send them. */
interface BulkPlan {
  groups: (LaneGroup & { idx: number[] })[];
  unique: { key: string; index: number }[];
  /** Lane group of each job, or -1 for a job that runs later (it takes no lane lock). */
  groupOf: number[];
}

function planBulk(jobs: NormalizedJob[]): BulkPlan {
  // Group immediate jobs per lane request; deferred jobs take no lane lock.
  const groups: (LaneGroup & { idx: number[] })[] = [];
  const groupOf: number[] = [];
  const byLane = new Map<string, number>();
  const now = Date.now();
  jobs.forEach((j, i) => {
    groupOf.push(-1);
    if (j.runAt !== null && j.runAt.getTime() > now) return;
    const laneKey = `${j.queue}\0${j.priority}\0${j.orderingKeyHash ?? ""}`;
    let g = byLane.get(laneKey);
    if (g === undefined || groups[g].idx.length >= MAX_GROUP) {
      g = groups.length;
      groups.push({
        group: g,
        queue: j.queue,
        priority: j.priority,
        key_hash: j.orderingKeyHash,
        idx: [],
      });
      byLane.set(laneKey, g);
    }
    groups[g].idx.push(i);
    groupOf[i] = g;
  });
  const unique = jobs.flatMap((j, i) =>
    j.uniqueKeyHex !== null &&
      // The claim is taken only if the job's initial state is in its mask.
      j.uniqueStates![groupOf[i] < 0 ? 0 : 1] === "1"
      ? [{ key: j.uniqueKeyHex, index: i }]
      : []
  );
  return { groups, unique, groupOf };
}

/** Batches up to this many jobs (and {@link SMALL_BATCH_MAX_BYTES}) take one statement. */
const SMALL_BATCH_MAX = 100;
/** Serialized args and metadata of a one-statement batch, at most, in UTF-16 units. */
const SMALL_BATCH_MAX_BYTES = 256 * 1024;

/** Whether `jobs` (no keyed ones) is small enough to go in one statement. */
function isSmallBatch(jobs: NormalizedJob[]): boolean {
  if (jobs.length > SMALL_BATCH_MAX) return false;
  let bytes = 0;
  for (const j of jobs) bytes += j.argsJson.length + j.metadataJson.length;
  return bytes <= SMALL_BATCH_MAX_BYTES;
}

/**
 * A small batch in one statement (`enqueue_small_batch`): the same rows as {@link insertBulk}
 * writes with a reservation and a COPY, without the round trips of a transaction of its own.
 */
async function insertSmallBatch(
  store: Store,
  jobs: NormalizedJob[],
  onConflict: "error" | "skip",
): Promise<(number | null)[]> {
  const plan = planBulk(jobs);
  const text = (v: string | null) => (v === null ? "null" : JSON.stringify(v));
  let json = "[";
  jobs.forEach((j, i) => {
    const g = plan.groupOf[i];
    json += `${i === 0 ? "" : ","}[${g < 0 ? "null" : g},${JSON.stringify(j.queue)},${j.priority},${
      JSON.stringify(j.kind)
    },${j.argsJson},${j.maxAttempts},${JSON.stringify(j.tags)},${j.metadataJson},${
      text(j.uniqueKeyHex)
    },${text(j.uniqueStates)},${text(j.runAt?.toISOString() ?? null)}]`;
  });
  const ids = await enqueueSmallBatch(store, {
    groups: plan.groups.map(({ idx: _idx, ...lane }) => lane),
    unique: plan.unique,
    onConflict,
    kinds: [...new Set(jobs.map((j) => j.kind))],
    queues: [...new Set(jobs.map((j) => j.queue))],
  }, json + "]");
  return ids.map((id) => (id === null ? null : toId(id)));
}

async function insertBulk(
  store: Store,
  jobs: NormalizedJob[],
  onConflict: "error" | "skip",
): Promise<(number | null)[]> {
  const { groups, unique } = planBulk(jobs);

  // The server checks the batch's names with the rules insert_job applies (COPY bypasses it).
  const res: BulkReservation = await reserveBulkEnqueue(store, {
    groups: groups.map(({ idx: _idx, ...lane }) => lane),
    total: jobs.length,
    unique,
    onConflict,
    kinds: [...new Set(jobs.map((j) => j.kind))],
    queues: [...new Set(jobs.map((j) => j.queue))],
  });
  const ids = expandIds(res.ids);
  const skipped = new Set(res.conflicts);
  const serverNow = res.now;

  // Lane positions as decimal strings; block bases stay far below 2^53 in practice, but the
  // BigInt path keeps them exact if a sequence ever gets there.
  const laneOf = new Map<number, { shard: number; seq: string }>();
  for (const lane of res.lanes) {
    const idx = groups[lane.group].idx;
    const base = BigInt(lane.base);
    const exact = base + BigInt(idx.length) <= BigInt(Number.MAX_SAFE_INTEGER);
    let k = 0;
    for (const i of idx) {
      if (skipped.has(i)) continue;
      const seq = exact ? String(Number(base) + k) : (base + BigInt(k)).toString();
      k++;
      laneOf.set(i, { shard: lane.shard, seq });
    }
  }
  const commonOf = (j: NormalizedJob): BulkField[] => [
    j.kind,
    j.argsJson,
    j.maxAttempts,
    arrayLiteral(j.tags),
    j.metadataJson,
    j.uniqueKeyHex === null ? null : "\\x" + j.uniqueKeyHex,
    j.uniqueStates,
    0,
    0,
  ];
  // Built lazily: a COPY streams 64 KiB chunks, so the server parses one chunk while the next
  // is being built.
  function* readyRows(): Generator<BulkField[]> {
    for (let i = 0; i < jobs.length; i++) {
      // laneOf holds only immediate jobs that were not skipped.
      const lane = laneOf.get(i);
      if (!lane) continue;
      const j = jobs[i];
      yield [
        res.slot,
        res.generation,
        j.queue,
        j.priority,
        lane.shard,
        lane.seq,
        ids[i],
        ...commonOf(j),
        j.runAt?.toISOString() ?? serverNow,
        serverNow,
      ];
    }
  }
  const deferredRows: BulkField[][] = [];
  for (let i = 0; i < jobs.length; i++) {
    if (skipped.has(i) || laneOf.has(i)) continue;
    const j = jobs[i];
    deferredRows.push([
      ids[i],
      "scheduled",
      j.runAt!.toISOString(),
      j.queue,
      j.priority,
      ...commonOf(j),
      serverNow,
    ]);
  }

  if (laneOf.size > 0) await writeReadyEntries(store, res.slot, readyRows());
  if (deferredRows.length > 0) await writeDeferredJobs(store, deferredRows);
  return ids.map((id, i) => (skipped.has(i) ? null : id));
}

/**
 * Insert many jobs of one kind, writing each batch with one COPY (postgres.js) or one multi-row
 * INSERT (drivers that cannot COPY): never one statement per job. A call of up to 100 jobs
 * (256 KiB of args and metadata) without concurrency keys is a single statement, which on a
 * postgres.js pool needs no transaction of its own: one round trip. Per-job options (queue,
 * priority, runAt, orderingKey, tags, metadata, unique, maxAttempts) override the batch options.
 * Everything is validated before anything is written, and the call is atomic: in the caller's
 * transaction when given one, else in its own. Create postgres.js pools with
 * `withNoDelay()`: otherwise each COPY waits ~80 ms for TCP delayed ACKs.
 */
export async function insertMany<A>(
  db: Db,
  job: JobDefinition<A>,
  jobs: ManyJob<A>[],
  opts: InsertManyOptions = {},
): Promise<InsertManyResult> {
  const o = checkOptions<InsertManyOptions>(opts, "opts", MANY_KEYS);
  const schema = checkSchema(o.schema, "opts.schema");
  const onConflict = checkOnConflict(o.onConflict);
  const batchSize = o.batchSize === undefined
    ? 20_000
    : checkInteger(o.batchSize, "opts.batchSize", 1, 1_000_000);
  if (!Array.isArray(jobs)) {
    throw new ValidationError("jobs", `must be an array, got ${describe(jobs)}`);
  }
  const { schema: _s, onConflict: _c, batchSize: _b, ...defaults } = o;
  if (job?.defaults?.followUps !== undefined) {
    throw new ValidationError(
      "job.defaults.followUps",
      "insertMany cannot write follow-ups; insert such jobs with insert() or insertBatch()",
    );
  }
  const normalized: NormalizedJob[] = [];
  for (let i = 0; i < jobs.length; i++) {
    const j = i in jobs ? jobs[i] : undefined;
    if (typeof j !== "object" || j === null || Array.isArray(j)) {
      throw new ValidationError(`jobs[${i}]`, `must be an object with args, got ${describe(j)}`);
    }
    checkOptions(j, `jobs[${i}]`, MANY_JOB_KEYS);
    const { args, ...own } = j;
    normalized.push(normalizeJob(job, args, { ...defaults, ...own }, `jobs[${i}]`));
  }
  if (normalized.length === 0) return { count: 0, ids: [] };

  const ex = toExecutor(db);
  try {
    await requireSchema(ex, schema);
    const store = storeOf(ex, schema);
    if (
      normalized.length <= batchSize && isSmallBatch(normalized) &&
      !normalized.some((j) => j.concurrencyKey !== null)
    ) {
      const small = (s: Store) =>
        insertSmallBatch(s, normalized, onConflict).catch((err) => {
          throw mapInsertError(err, null, { batchStart: 0 });
        });
      // On a pool one statement is its own transaction; elsewhere (a caller's transaction,
      // a session) it still goes in a savepoint or transaction, so a failure undoes only it.
      const ids = ex.autocommit ? await small(store) : await store.atomic("insertMany", small);
      return { count: ids.filter((id) => id !== null).length, ids };
    }
    return await store.atomic("insertMany", async (tx) => {
      const ids: (number | null)[] = [];
      for (let start = 0; start < normalized.length; start += batchSize) {
        const batch = normalized.slice(start, start + batchSize);
        try {
          ids.push(...await insertBatch(tx, batch, onConflict));
        } catch (err) {
          throw mapInsertError(err, null, { batchStart: start });
        }
      }
      return { count: ids.filter((id) => id !== null).length, ids };
    });
  } catch (err) {
    throw producerError(mapInsertError(err), ex, schema, "insertMany");
  }
}
