/**
 * The admin layer's job statements: find jobs across every plane (`jobRows`), and cancel, retry,
 * hold and purge one job by id. Bulk operations (src/admin/) page ids through `jobRows` and apply
 * the one-job operations, so a bulk call never holds more than one job's locks per statement.
 *
 * A job lives in exactly one plane at a time: ready (a ready row its lane has not emitted or a
 * cancel has not tombstoned), running (an open receipt of a claim batch), deferred (scheduled or
 * retryable), held (`dlq_entries`: failed or DLQ), finished in the ring (`done_entries`), or
 * history (`job_history`). Each plane is one keyset query on an index by job id (newest first);
 * the planes are merged in one statement, so a page reads one snapshot.
 * @module
 */
import type { Store } from "./store.ts";

/** The plane a job row was found in. */
export type Plane =
  | "ready"
  | "running"
  | "deferred"
  | "key_waiting"
  | "flow_waiting"
  | "held"
  | "finished"
  | "history";

/** One job as every plane reports it (timestamps and ids as Postgres text). */
export interface JobRow {
  id: string;
  plane: Plane;
  state: string;
  kind: string;
  queue: string;
  priority: number;
  attempt: number;
  max_attempts: number;
  args: unknown;
  tags: string[];
  metadata: Record<string, unknown>;
  progress: unknown;
  result: unknown;
  errors: unknown[] | null;
  run_at: Date | null;
  created_at: Date;
  attempted_at: Date | null;
  finalized_at: Date | null;
  hold_kind: string | null;
  hold_reason: string | null;
  instance_id: string | null;
  expires_at: Date | null;
  unique_key: string | null;
  /** For an open attempt with a callback: its id and deadline. */
  callback_id: string | null;
  callback_timeout_at: Date | null;
}

/** Which rows `jobRows` returns. Absent fields do not filter. */
export interface JobRowFilter {
  /** Exactly this job (the keyset and limit then do not matter). */
  id?: bigint;
  /** Only ids below this one (the keyset cursor). */
  before?: bigint;
  /** Only these planes. */
  planes?: readonly Plane[];
  /** Only these states (as reported in `state`). */
  states?: readonly string[];
  kind?: string;
  queue?: string;
  tag?: string;
  /** created_at at or after. */
  since?: Date;
  /** created_at before. */
  until?: Date;
  /** Held rows of this hold kind only. */
  holdKind?: "dlq" | "failed";
}

/** Column expressions of one plane, in the order of {@link JobRow}. */
interface PlaneSql {
  plane: Plane;
  /** FROM and joins, and the plane's own condition. */
  from: string;
  where: string;
  cols: Record<keyof Omit<JobRow, "plane">, string>;
}

const NONE = {
  result: "NULL::jsonb",
  attempted_at: "NULL::timestamptz",
  finalized_at: "NULL::timestamptz",
  hold_kind: "NULL::text",
  hold_reason: "NULL::text",
  instance_id: "NULL::text",
  expires_at: "NULL::timestamptz",
  callback_id: "NULL::text",
  callback_timeout_at: "NULL::timestamptz",
};

/** Ready-row columns shared by the ready and running planes. */
function readyBody(r: string) {
  return {
    kind: `${r}.kind`,
    queue: `${r}.queue`,
    priority: `${r}.priority`,
    max_attempts: `${r}.max_attempts`,
    args: `${r}.args`,
    tags: `${r}.tags`,
    metadata: `${r}.metadata`,
    errors: `${r}.errors`,
    run_at: `${r}.run_at`,
    created_at: `${r}.created_at`,
    unique_key: `encode(${r}.unique_key, 'hex')`,
  };
}

const PLANES: readonly PlaneSql[] = [
  {
    plane: "ready",
    from: `{{schema}}.ready_entries r`,
    // Positions below the lane's claim cursor have been emitted. The cursor is one cached
    // index probe per row (lane_cursor); a join against claim_emissions could be planned as a
    // nested loop over every emission of a busy ring.
    where: `r.lane_seq >= {{schema}}.lane_cursor(r.queue, r.priority, r.enqueue_shard)
    AND NOT EXISTS (
      SELECT 1 FROM {{schema}}.ready_tombstones t
      WHERE t.ready_slot = r.ready_slot AND t.queue = r.queue AND t.priority = r.priority
        AND t.enqueue_shard = r.enqueue_shard AND t.lane_seq = r.lane_seq)`,
    cols: {
      ...NONE,
      ...readyBody("r"),
      id: "r.job_id",
      state: "'available'",
      attempt: "r.attempt",
      progress: "r.progress",
    },
  },
  {
    plane: "running",
    from: `{{schema}}.claim_batches b
    CROSS JOIN LATERAL unnest(b.job_ids, b.run_leases, b.lane_seqs, b.attempts)
      WITH ORDINALITY AS u(job_id, run_lease, lane_seq, attempt, ord)
    JOIN {{schema}}.ready_entries r
      ON r.ready_slot = b.ready_slot AND r.queue = b.queue AND r.priority = b.priority
      AND r.enqueue_shard = b.enqueue_shard AND r.lane_seq = u.lane_seq
    LEFT JOIN {{schema}}.attempt_state s ON s.job_id = u.job_id AND s.run_lease = u.run_lease`,
    where: `NOT EXISTS (
      SELECT 1 FROM {{schema}}.claim_closures c
      WHERE c.claim_slot = b.claim_slot
        AND c.receipt_ranges @> {{schema}}.receipt_id(b.batch_id, (u.ord - 1)::int))`,
    cols: {
      ...NONE,
      ...readyBody("r"),
      id: "u.job_id",
      state: "coalesce(s.state::text, 'running')",
      attempt: "u.attempt",
      progress: "coalesce(s.progress, r.progress)",
      attempted_at: "b.claimed_at",
      instance_id: "b.instance_id::text",
      callback_id: "s.callback_id::text",
      callback_timeout_at: "s.callback_timeout_at",
    },
  },
  {
    plane: "deferred",
    from: `{{schema}}.deferred_jobs d`,
    where: "true",
    cols: {
      ...NONE,
      ...readyBody("d"),
      id: "d.job_id",
      state: "d.state::text",
      attempt: "d.attempt",
      progress: "d.progress",
    },
  },
  {
    // Jobs held back for their concurrency key (migration 018): not yet in the ready ring.
    plane: "key_waiting",
    from: `{{schema}}.key_waiting w`,
    where: "true",
    cols: {
      ...NONE,
      kind: "w.kind",
      queue: "w.queue",
      priority: "w.priority",
      max_attempts: "w.max_attempts",
      args: "w.args",
      tags: "w.tags",
      metadata: "w.metadata",
      errors: "w.errors",
      run_at: "NULL::timestamptz",
      created_at: "w.created_at",
      unique_key: "encode(w.unique_key, 'hex')",
      id: "w.job_id",
      state: "'waiting'",
      attempt: "w.attempt",
      progress: "w.progress",
    },
  },
  {
    // Flow nodes whose parents have not all finished (migration 019): the body waits here.
    plane: "flow_waiting",
    from: `{{schema}}.flow_nodes n JOIN {{schema}}.flows f ON f.flow_id = n.flow_id`,
    where: "n.state = 'waiting'",
    cols: {
      ...NONE,
      kind: "n.kind",
      queue: "n.queue",
      priority: "n.priority",
      max_attempts: "n.max_attempts",
      args: "n.args",
      tags: "coalesce(n.tags, '{}')",
      metadata: "coalesce(n.metadata, '{}')",
      errors: "NULL::jsonb",
      run_at: "n.run_at",
      created_at: "f.created_at",
      unique_key: "NULL::text",
      id: "n.job_id",
      state: "'waiting'",
      attempt: "0::smallint",
      progress: "NULL::jsonb",
    },
  },
  {
    plane: "held",
    from: `{{schema}}.dlq_entries h`,
    where: "true",
    cols: {
      ...NONE,
      ...readyBody("h"),
      run_at: "NULL::timestamptz",
      id: "h.job_id",
      state: "'failed'",
      attempt: "h.attempt",
      progress: "h.progress",
      attempted_at: "h.attempted_at",
      finalized_at: "h.held_at",
      hold_kind: "h.hold_kind",
      hold_reason: "h.reason",
    },
  },
  {
    plane: "finished",
    // The body: the newest ready row of the job at run_lease - 1 in the slot, else the wide row.
    from: `{{schema}}.done_entries t
    LEFT JOIN LATERAL (
      SELECT x.* FROM {{schema}}.ready_entries x
      WHERE x.ready_slot = t.ready_slot AND x.job_id = t.job_id AND x.run_lease = t.run_lease - 1
      ORDER BY x.lane_seq DESC LIMIT 1
    ) r ON true`,
    where: "true",
    cols: {
      ...NONE,
      id: "t.job_id",
      state: "t.state::text",
      kind: "coalesce(r.kind, t.body ->> 'kind')",
      queue: "t.queue",
      priority: "t.priority",
      attempt: "t.attempt",
      max_attempts: "coalesce(r.max_attempts, (t.body ->> 'max_attempts')::smallint)",
      args: "coalesce(r.args, t.body -> 'args')",
      tags: "coalesce(r.tags, ARRAY(SELECT jsonb_array_elements_text(t.body -> 'tags')))",
      metadata: "coalesce(r.metadata, t.body -> 'metadata')",
      progress: "t.progress",
      result: "t.result",
      errors: "coalesce(t.errors, r.errors)",
      run_at: "coalesce(r.run_at, (t.body ->> 'run_at')::timestamptz)",
      created_at: "coalesce(r.created_at, (t.body ->> 'created_at')::timestamptz)",
      attempted_at: "t.attempted_at",
      finalized_at: "t.finalized_at",
      unique_key: "encode(r.unique_key, 'hex')",
    },
  },
  {
    plane: "history",
    from: `{{schema}}.job_history j`,
    where: "true",
    cols: {
      ...NONE,
      ...readyBody("j"),
      id: "j.job_id",
      state: "j.state::text",
      attempt: "j.attempt",
      progress: "j.progress",
      result: "j.result",
      attempted_at: "j.attempted_at",
      finalized_at: "j.finalized_at",
      expires_at: "j.expires_at",
    },
  },
];

const COLUMNS = Object.keys(PLANES[0].cols) as (keyof PlaneSql["cols"])[];

/** Parameter positions of {@link jobRows}'s statement. */
const P = {
  id: 1,
  before: 2,
  limit: 3,
  states: 4,
  kind: 5,
  queue: 6,
  tag: 7,
  since: 8,
  until: 9,
  holdKind: 10,
};

/** One plane's keyset query: only the fixed fragments of the filters given are added. */
function planeQuery(p: PlaneSql, f: JobRowFilter): string {
  const c = p.cols;
  const conds = [p.where];
  if (f.id !== undefined) conds.push(`${c.id} = $${P.id}`);
  if (f.before !== undefined) conds.push(`${c.id} < $${P.before}`);
  if (f.states !== undefined) conds.push(`${c.state} = ANY($${P.states}::text[])`);
  if (f.kind !== undefined) conds.push(`${c.kind} = $${P.kind}`);
  if (f.queue !== undefined) conds.push(`${c.queue} = $${P.queue}`);
  if (f.tag !== undefined) conds.push(`${c.tags} @> ARRAY[$${P.tag}::text]`);
  if (f.since !== undefined) conds.push(`${c.created_at} >= $${P.since}`);
  if (f.until !== undefined) conds.push(`${c.created_at} < $${P.until}`);
  if (f.holdKind !== undefined) conds.push(`${c.hold_kind} = $${P.holdKind}`);
  const cols = COLUMNS.map((k) => `${c[k]} AS ${k}`).join(", ");
  return `(SELECT '${p.plane}' AS plane, ${cols} FROM ${p.from}
  WHERE ${conds.join("\n    AND ")}
  ORDER BY ${c.id} DESC LIMIT $${P.limit})`;
}

/** Which planes can hold a job in one of `states`. */
const PLANE_STATES: Record<Plane, readonly string[]> = {
  ready: ["available"],
  running: ["running", "waiting_external"],
  deferred: ["scheduled", "retryable"],
  key_waiting: ["waiting"],
  flow_waiting: ["waiting"],
  held: ["failed"],
  finished: ["completed", "cancelled"],
  history: ["completed", "cancelled"],
};

/** The merged statement of every plane the filter can match. */
function jobRowsSql(f: JobRowFilter): string {
  const planes = PLANES.filter((p) =>
    (f.planes === undefined || f.planes.includes(p.plane)) &&
    (f.states === undefined || PLANE_STATES[p.plane].some((s) => f.states!.includes(s))) &&
    (f.holdKind === undefined || p.plane === "held")
  );
  if (planes.length === 0) return "";
  return `SELECT * FROM (${planes.map((p) => planeQuery(p, f)).join("\nUNION ALL\n")}) m
ORDER BY m.id DESC LIMIT $${P.limit}`;
}

const statements = new Map<string, string>();

/**
 * Jobs matching `f`, newest first by id, at most `limit`. With `f.id` set: that job's rows
 * (normally one). Statement texts are built from fixed fragments only, and memoised by shape.
 */
export async function jobRows(store: Store, f: JobRowFilter, limit: number): Promise<JobRow[]> {
  // The planes read depend on the states asked for, so their values are part of the shape.
  const shape = JSON.stringify([
    f.planes,
    f.states,
    ...Object.entries(P).map(([k]) => f[k as keyof JobRowFilter] === undefined),
  ]);
  let text = statements.get(shape);
  if (text === undefined) statements.set(shape, text = jobRowsSql(f));
  if (text === "") return [];
  const params: unknown[] = [
    f.id?.toString() ?? null,
    f.before?.toString() ?? null,
    limit,
    f.states ?? null,
    f.kind ?? null,
    f.queue ?? null,
    f.tag ?? null,
    f.since ?? null,
    f.until ?? null,
    f.holdKind ?? null,
  ];
  // Unused parameters would leave their types unknown: send only those the text names.
  const used = params.map((v, i) => new RegExp(`\\$${i + 1}(?!\\d)`).test(text!) ? v : undefined);
  const renumbered = renumber(text, used);
  return await store.run<JobRow>("jobRows", renumbered.text, renumbered.params);
}

/** Drop the parameters a statement does not use and renumber the rest. */
function renumber(text: string, params: unknown[]): { text: string; params: unknown[] } {
  const map = new Map<number, number>();
  const out: unknown[] = [];
  params.forEach((v, i) => {
    if (v === undefined) return;
    out.push(v);
    map.set(i + 1, out.length);
  });
  return {
    text: text.replace(/\$(\d+)/g, (_, n) => `$${map.get(Number(n))}`),
    params: out,
  };
}

/** Cancel one job (`cancel_job`): the state it reached (`cancelled`), or null. */
export async function cancelJob(store: Store, id: bigint, reason: string): Promise<string | null> {
  const [row] = await store.run<{ state: string | null }>(
    "cancelJob",
    "SELECT {{schema}}.cancel_job($1::bigint, $2) AS state",
    [id.toString(), reason],
  );
  return row.state;
}

/** Where a retry may send a job; null fields keep the job's own. */
export interface RetryTarget {
  queue: string | null;
  priority: number | null;
  runAt: Date | null;
}

/** Retry a held (failed or DLQ) job in place (`retry_held`): its id, or null if not held. */
export async function retryHeld(store: Store, id: bigint, to: RetryTarget): Promise<string | null> {
  const [row] = await store.run<{ id: string | null }>(
    "retryHeld",
    "SELECT {{schema}}.retry_held($1::bigint, $2, $3::smallint, $4::timestamptz)::text AS id",
    [id.toString(), to.queue, to.priority, to.runAt],
  );
  return row.id;
}

/** Enqueue a copy of a cancelled job (`retry_cancelled`): the new id, or null. */
export async function retryCancelled(
  store: Store,
  id: bigint,
  to: RetryTarget,
): Promise<string | null> {
  const [row] = await store.run<{ id: string | null }>(
    "retryCancelled",
    "SELECT {{schema}}.retry_cancelled($1::bigint, $2, $3::smallint, $4::timestamptz)::text AS id",
    [id.toString(), to.queue, to.priority, to.runAt],
  );
  return row.id;
}

/** Move a held failure into the DLQ: true when a failed hold of this id existed. */
export async function moveToDlq(store: Store, id: bigint, reason: string): Promise<boolean> {
  const rows = await store.run(
    "moveToDlq",
    `UPDATE {{schema}}.dlq_entries SET hold_kind = 'dlq', reason = $2, held_at = clock_timestamp()
    WHERE job_id = $1::bigint AND hold_kind = 'failed' RETURNING job_id`,
    [id.toString(), reason],
  );
  return rows.length > 0;
}

/**
 * Delete held jobs of `kind` (DLQ or failed) among `ids`, releasing the unique claims they still
 * hold. Returns the ids deleted.
 */
export async function purgeHeld(
  store: Store,
  ids: readonly bigint[],
  kind: "dlq" | "failed",
): Promise<string[]> {
  const rows = await store.run<{ id: string }>(
    "purgeHeld",
    `WITH gone AS (
      DELETE FROM {{schema}}.dlq_entries h
      WHERE h.job_id = ANY($1::bigint[]) AND h.hold_kind = $2
      RETURNING h.job_id, h.unique_key
    ), released AS (
      DELETE FROM {{schema}}.job_unique_claims u USING gone g
      WHERE u.unique_key = g.unique_key AND u.job_id = g.job_id
    )
    SELECT job_id::text AS id FROM gone ORDER BY job_id`,
    [ids.map(String), kind],
  );
  return rows.map((r) => r.id);
}
