/**
 * The producers' writes: `insertJob` (one job through the public SQL contract `insert_job`),
 * and the two steps of a bulk insert: `reserveBulkEnqueue` (ids, lane positions, unique claims
 * and a name check in one round trip), then `writeReadyEntries` / `writeDeferredJobs` sending
 * the rows with one COPY, or one multi-row INSERT where the driver cannot COPY.
 * @module
 */
import type { Store } from "./store.ts";

/** A validated job as `insert_job` takes it. */
export interface JobInput {
  kind: string;
  argsJson: string;
  queue: string;
  priority: number;
  maxAttempts: number;
  runAt: Date | null;
  tags: string[];
  metadataJson: string;
  uniqueKeyHex: string | null;
  /** Unique-state mask as 8 bits of text. */
  uniqueStates: string | null;
  orderingKeyHex: string | null;
}

/** A row `insert_job` returns. */
export interface InsertedRow {
  id: string;
  kind: string;
  queue: string;
  state: string;
  priority: number;
  max_attempts: number;
  run_at: Date | string;
  created_at: Date | string;
  unique_key: string | null;
  enqueue_shard: number | null;
}

const INSERT_JOB_SQL = `SELECT id::text, kind, queue, state, priority, max_attempts, run_at,
  created_at, encode(unique_key, 'hex') AS unique_key, enqueue_shard
FROM {{schema}}.insert_job($1, $2::text::jsonb, $3, $4::smallint, $5::smallint,
  $6::text::timestamptz, $7::text::jsonb, ARRAY(SELECT jsonb_array_elements_text($8::text::jsonb)),
  decode($9, 'hex'), $10::bit(8), decode($11, 'hex'), $12::text::jsonb)`;

/** Insert one job; null when `onConflict: "skip"` dropped it as a duplicate. */
export async function insertJob(
  store: Store,
  job: JobInput,
  onConflict: "error" | "skip",
): Promise<InsertedRow | null> {
  const rows = await store.run<InsertedRow>("insertJob", INSERT_JOB_SQL, [
    job.kind,
    job.argsJson,
    job.queue,
    job.priority,
    job.maxAttempts,
    job.runAt?.toISOString() ?? null,
    job.metadataJson,
    JSON.stringify(job.tags),
    job.uniqueKeyHex,
    job.uniqueStates,
    job.orderingKeyHex,
    JSON.stringify(onConflict === "skip" ? { on_conflict: "skip" } : {}),
  ]);
  return rows[0] ?? null;
}

/** A group of immediate jobs that share one lane (at most 65536 of them). */
export interface LaneGroup {
  group: number;
  queue: string;
  priority: number;
  /** Algorithm H of the ordering key, as a decimal string, or null. */
  key_hash: string | null;
}

/** What a bulk insert asks `reserve_bulk_enqueue` for. */
export interface BulkReservationRequest {
  groups: LaneGroup[];
  /** Jobs in the batch (each gets an id). */
  total: number;
  /** Batch positions of the jobs that take a unique claim, with their keys (hex). */
  unique: { key: string; index: number }[];
  onConflict: "error" | "skip";
  /** Distinct kinds and queues of the batch, checked by the rules `insert_job` applies. */
  kinds: string[];
  queues: string[];
}

/** The answer of `reserve_bulk_enqueue`. */
export interface BulkReservation {
  /** Reserved job ids as half-open ranges of decimal strings. */
  ids: [string, string][];
  /** First lane position (decimal string) and shard of each lane group. */
  lanes: { group: number; shard: number; base: string }[];
  /** Batch positions skipped as unique duplicates. */
  conflicts: number[];
  /** Queue-ring slot and generation the ready rows go to. */
  slot: number;
  generation: string;
  /** Server time, as text, for `created_at` and immediate `run_at`. */
  now: string;
}

const RESERVE_BULK_ENQUEUE_SQL =
  `SELECT {{schema}}.reserve_bulk_enqueue($1::text::jsonb, $2::int, $3::text::jsonb, $4) AS r
FROM (SELECT {{schema}}.check_batch_names(ARRAY(SELECT jsonb_array_elements_text($5::text::jsonb)),
  ARRAY(SELECT jsonb_array_elements_text($6::text::jsonb)))) names`;

/**
 * Step 1 of a bulk insert: check the batch's names, reserve job ids and lane positions, and take
 * unique claims (raising a unique violation for `onConflict: "error"`). Holds the lane locks
 * until the transaction ends: call it inside `store.atomic`.
 */
export async function reserveBulkEnqueue(
  store: Store,
  req: BulkReservationRequest,
): Promise<BulkReservation> {
  const [{ r }] = await store.run<{ r: BulkReservation | string }>(
    "reserveBulkEnqueue",
    RESERVE_BULK_ENQUEUE_SQL,
    [
      JSON.stringify(req.groups),
      req.total,
      JSON.stringify(req.unique),
      req.onConflict,
      JSON.stringify(req.kinds),
      JSON.stringify(req.queues),
    ],
  );
  // node-postgres parses jsonb; postgres.js without fetched types may hand back the text.
  return typeof r === "string" ? JSON.parse(r) : r;
}

const ENQUEUE_SMALL_BATCH_SQL = `SELECT {{schema}}.enqueue_small_batch($1::text::jsonb,
  $2::text::jsonb, $3, ARRAY(SELECT jsonb_array_elements_text($4::text::jsonb)),
  ARRAY(SELECT jsonb_array_elements_text($5::text::jsonb)), $6::text::jsonb) AS ids`;

/**
 * A whole small bulk insert in one statement (reservation and rows, see
 * `enqueue_small_batch.sql`): atomic by itself, so outside a transaction it needs no BEGIN or
 * COMMIT. `jobsJson` is the batch as the JSON array that function describes, one array per job
 * (built from the jobs' already serialized args and metadata). Returns the ids in batch order
 * as decimal strings, null where `onConflict: "skip"` dropped one.
 */
export async function enqueueSmallBatch(
  store: Store,
  req: Omit<BulkReservationRequest, "total">,
  jobsJson: string,
): Promise<(string | null)[]> {
  const [{ ids }] = await store.run<{ ids: (string | null)[] | string }>(
    "enqueueSmallBatch",
    ENQUEUE_SMALL_BATCH_SQL,
    [
      JSON.stringify(req.groups),
      JSON.stringify(req.unique),
      req.onConflict,
      JSON.stringify(req.kinds),
      JSON.stringify(req.queues),
      jobsJson,
    ],
  );
  // node-postgres parses jsonb; postgres.js without fetched types may hand back the text.
  return typeof ids === "string" ? JSON.parse(ids) : ids;
}

/** One field of a bulk row in its Postgres text form; null is SQL NULL. */
export type BulkField = string | number | null;

/** Columns (name, type) of a bulk-insert target, in the order its rows carry them. */
type Columns = readonly (readonly [string, string])[];

/** Job columns both bulk targets share. */
const JOB_COLUMNS: Columns = [
  ["kind", "text"],
  ["args", "jsonb"],
  ["max_attempts", "smallint"],
  ["tags", "text[]"],
  ["metadata", "jsonb"],
  ["unique_key", "bytea"],
  ["unique_states", "bit(8)"],
  ["attempt", "smallint"],
  ["run_lease", "bigint"],
];

const READY_COLUMNS: Columns = [
  ["ready_slot", "smallint"],
  ["generation", "bigint"],
  ["queue", "text"],
  ["priority", "smallint"],
  ["enqueue_shard", "smallint"],
  ["lane_seq", "bigint"],
  ["job_id", "bigint"],
  ...JOB_COLUMNS,
  ["run_at", "timestamptz"],
  ["created_at", "timestamptz"],
];

const DEFERRED_COLUMNS: Columns = [
  ["job_id", "bigint"],
  ["state", "{{schema}}.job_state"],
  ["run_at", "timestamptz"],
  ["queue", "text"],
  ["priority", "smallint"],
  ...JOB_COLUMNS,
  ["created_at", "timestamptz"],
];

const COPY_SPECIAL = /[\\\n\r\t]/;
const COPY_SPECIAL_ALL = new RegExp(COPY_SPECIAL.source, "g");

/** COPY text-format escaping of one field. */
function copyText(v: string): string {
  // Most fields (JSON text, names) have nothing to escape: test before building a new string.
  if (!COPY_SPECIAL.test(v)) return v;
  return v.replace(
    COPY_SPECIAL_ALL,
    (c) => c === "\\" ? "\\\\" : c === "\n" ? "\\n" : c === "\r" ? "\\r" : "\\t",
  );
}

/** The COPY text-format line of each row, built as the stream asks for it. */
function* copyLines(rows: Iterable<BulkField[]>): Generator<string> {
  for (const row of rows) {
    let line = "";
    for (let i = 0; i < row.length; i++) {
      const f = row[i];
      line += (i === 0 ? "" : "\t") +
        (f === null ? "\\N" : typeof f === "number" ? String(f) : copyText(f));
    }
    yield line + "\n";
  }
}

/** Bulk statements per target table, built once per table name. */
const bulkStatements = new Map<string, { copy: string; insert: string }>();

function bulkStatementsOf(table: string, columns: Columns): { copy: string; insert: string } {
  let out = bulkStatements.get(table);
  if (out === undefined) {
    const names = columns.map(([name]) => name).join(", ");
    const fields = columns.map(([, type], i) => `(r->>${i})::${type}`).join(", ");
    out = {
      copy: `COPY ${table} (${names}) FROM STDIN`,
      // Drivers without COPY send the batch as one JSON array of rows: one statement whatever
      // the batch size.
      insert: `INSERT INTO ${table} (${names})
SELECT ${fields} FROM jsonb_array_elements($1::text::jsonb) r`,
    };
    bulkStatements.set(table, out);
  }
  return out;
}

async function writeRows(
  store: Store,
  op: string,
  table: string,
  columns: Columns,
  rows: Iterable<BulkField[]>,
): Promise<void> {
  const statements = bulkStatementsOf(table, columns);
  if (store.canCopy) return await store.copyIn(`copy${op}`, statements.copy, copyLines(rows));
  await store.run(`insert${op}`, statements.insert, [JSON.stringify(Array.from(rows))]);
}

/**
 * Step 2 of a bulk insert, immediate jobs: write `rows` straight into the leaf table of ready
 * slot `slot` (every row of a batch belongs to it, and no row needs tuple routing), with one
 * COPY where the driver can, else one multi-row INSERT. Fields: ready_slot, generation, queue,
 * priority, enqueue_shard, lane_seq, job_id, then the job columns, run_at, created_at.
 */
export function writeReadyEntries(
  store: Store,
  slot: number,
  rows: Iterable<BulkField[]>,
): Promise<void> {
  const table = `{{schema}}.ready_entries_${Number(slot)}`;
  return writeRows(store, "ReadyEntries", table, READY_COLUMNS, rows);
}

/**
 * Step 2 of a bulk insert, jobs that run later: write `rows` into `deferred_jobs` (one COPY, or
 * one multi-row INSERT). Fields: job_id, state, run_at, queue, priority, then the job columns,
 * created_at.
 */
export function writeDeferredJobs(store: Store, rows: Iterable<BulkField[]>): Promise<void> {
  return writeRows(store, "DeferredJobs", "{{schema}}.deferred_jobs", DEFERRED_COLUMNS, rows);
}
