/**
 * Drives the REAL engine (the SQL functions of migrations/, the producer API of mod.ts) for
 * the property tests, one operation at a time, on a single lane (queue with
 * `enqueue_shards = 1`, one priority) in its own schema with small rings so that rotation,
 * slot reuse and prune happen within a few steps.
 *
 * Every operation: runs against Postgres, records the abstract trace event, hands the
 * engine's answer to the reference model (which throws on a step the spec does not allow),
 * and the caller then runs `checkDb()`: the §5 invariants on a SQL projection of the
 * database (raw tables and the `awa.jobs` view) compared with the model.
 *
 * @module
 */
import type postgres from "postgres";
import { defineJob, insert, insertMany, migrate } from "../../mod.ts";
import { getJob, listJobs } from "../../admin.ts";
import { q } from "../../tests/support/sql.ts";
import { type AppendedRow, type Attempt, type Family, ModelViolation, RefModel } from "./model.ts";
import type { WorkerOutcome } from "./model.ts";
import { Recorder } from "./recorder.ts";

export type Sql = postgres.Sql;

export const QUEUE = "prop";
export const WORKERS = ["w1", "w2"] as const;

export interface PropertyConfig {
  schema: string;
  /** Ring-Q slots (engine default 16; small so slots are reused within a run). */
  qSlots: number;
  /** Ring-C slots (engine default 8). */
  cSlots: number;
  /** max_attempts of every job (small so retries reach the DLQ). */
  maxAttempts: number;
  /**
   * `p_carry_limit` of every queue-ring prune: the most live rows carried forward (engine
   * default 5000; small here so both carried and skipped_carry_limit happen; 0: no carrying).
   */
  carryLimit: number;
}

export const DEFAULT_CONFIG: Omit<PropertyConfig, "schema"> = {
  qSlots: 4,
  cSlots: 3,
  maxAttempts: 2,
  carryLimit: 3,
};

const RING_PARENTS = [
  "ready_entries",
  "ready_tombstones",
  "claim_emissions",
  "done_entries",
  "claim_batches",
  "claim_closures",
  "attempt_heartbeats",
];

/** Install Awa into `cfg.schema` (once per test file) and size its rings. */
export async function prepareSchema(sql: Sql, cfg: PropertyConfig): Promise<void> {
  await sql.unsafe(`DROP SCHEMA IF EXISTS ${cfg.schema} CASCADE`);
  await migrate(sql, { schema: cfg.schema });
  await sql.unsafe(
    q(
      cfg.schema,
      `UPDATE awa.ring_config SET slot_count = CASE ring WHEN 'queue' THEN $1::int ELSE $2::int END`,
    ),
    [cfg.qSlots, cfg.cSlots],
  );
  await sql.unsafe(
    q(
      cfg.schema,
      `INSERT INTO awa.queue_meta (queue, enqueue_shards, dlq_enabled) VALUES ($1, 1, true)`,
    ),
    [QUEUE],
  );
}

/**
 * Empty the schema between runs (much cheaper than a fresh schema: ~1 s per migrate here).
 * Ring leaves are emptied with TRUNCATE (only the non-empty ones), never DELETE, so the
 * n_tup_upd / n_tup_del = 0 check on ring tables stays meaningful across runs.
 */
export async function resetSchema(sql: Sql, schema: string): Promise<void> {
  const nonEmpty = await sql.unsafe(
    q(
      schema,
      RING_PARENTS.map((t) => `SELECT DISTINCT tableoid::regclass::text AS t FROM awa.${t}`)
        .join(" UNION "),
    ),
  );
  const plain = ["deferred_jobs", "dlq_entries", "attempt_state", "job_unique_claims"];
  const tables = [...nonEmpty.map((r) => r.t as string), ...plain.map((t) => `${schema}.${t}`)];
  await sql.unsafe(`TRUNCATE ${tables.join(", ")}`);
  await sql.unsafe(q(schema, `DELETE FROM awa.ring_rotations WHERE generation > 0`));
}

/** Sum of n_tup_upd + n_tup_del over the ring leaves, per table with any (should be none). */
export async function ringTableWrites(
  sql: Sql,
  schema: string,
): Promise<{ table: string; upd: number; del: number }[]> {
  const rows = await sql.unsafe(
    `SELECT relname AS table, n_tup_upd::int AS upd, n_tup_del::int AS del
     FROM pg_stat_user_tables WHERE schemaname = $1 AND relname ~ $2
       AND (n_tup_upd > 0 OR n_tup_del > 0)`,
    [schema, `^(${RING_PARENTS.join("|")})_[0-9]+$`],
  );
  return [...rows] as unknown as { table: string; upd: number; del: number }[];
}

const VIEW_FAMILY: Record<string, Family> = {
  available: "ready",
  running: "running",
  waiting_external: "running",
  scheduled: "deferred",
  retryable: "deferred",
  completed: "terminal",
  cancelled: "terminal",
  failed: "terminal",
};

const PROJECTION = `
SELECT 'ready' AS fam, r.job_id::text AS job, r.run_lease::int AS lease, r.attempt::int AS attempt
FROM awa.ready_entries r
WHERE r.lane_seq >= awa.lane_cursor(r.queue, r.priority, r.enqueue_shard)
  AND NOT EXISTS (
    SELECT 1 FROM awa.ready_tombstones t
    WHERE t.ready_slot = r.ready_slot AND t.queue = r.queue AND t.priority = r.priority
      AND t.enqueue_shard = r.enqueue_shard AND t.lane_seq = r.lane_seq)
UNION ALL
SELECT 'running', u.job_id::text, u.run_lease::int, u.attempt::int
FROM awa.claim_batches b
CROSS JOIN LATERAL unnest(b.job_ids, b.run_leases, b.attempts)
  WITH ORDINALITY AS u(job_id, run_lease, attempt, ord)
WHERE NOT EXISTS (
  SELECT 1 FROM awa.claim_closures c
  WHERE c.claim_slot = b.claim_slot AND c.receipt_ranges @> (b.batch_id * 65536 + u.ord - 1))
UNION ALL
SELECT 'deferred', job_id::text, run_lease::int, attempt::int FROM awa.deferred_jobs
UNION ALL
SELECT 'terminal', job_id::text, NULL, NULL FROM awa.done_entries
UNION ALL
SELECT 'held', job_id::text, original_run_lease::int, attempt::int FROM awa.dlq_entries`;

const FINGERPRINT = `
SELECT (SELECT count(*) FROM awa.ready_entries) AS ready,
  (SELECT count(*) FROM awa.ready_tombstones) AS tomb,
  (SELECT count(*) FROM awa.claim_emissions) AS emis,
  (SELECT count(*) FROM awa.done_entries) AS done,
  (SELECT count(*) FROM awa.claim_batches) AS batches,
  (SELECT count(*) FROM awa.claim_closures) AS closures,
  (SELECT count(*) FROM awa.deferred_jobs) AS deferred,
  (SELECT count(*) FROM awa.dlq_entries) AS dlq,
  (SELECT count(*) FROM awa.attempt_state) AS state,
  (SELECT md5(coalesce(string_agg(id || ':' || state || ':' || run_lease || ':' || attempt, ','
     ORDER BY id, state, run_lease), '')) FROM awa.jobs) AS jobs`;

/** One property run: the engine, the model and the recorder, stepped together. */
export class Driver {
  readonly model: RefModel;
  readonly rec = new Recorder();
  private readonly instance: Record<string, string> = {};
  private readonly def;
  /** Jobs an operator purged: gone for good, unlike jobs retired by prune (kept in history). */
  private readonly purged = new Set<string>();

  constructor(readonly sql: Sql, readonly cfg: PropertyConfig) {
    this.model = new RefModel({
      qSlots: cfg.qSlots,
      cSlots: cfg.cSlots,
      workers: WORKERS,
      carryLimit: cfg.carryLimit,
    });
    for (const w of WORKERS) this.instance[w] = crypto.randomUUID();
    this.def = defineJob<{ n: number }>("prop_job", {
      queue: QUEUE,
      maxAttempts: cfg.maxAttempts,
    });
  }

  private q(text: string): string {
    return q(this.cfg.schema, text);
  }

  /** Wrap a model violation with the recorded steps and trace, so shrinking prints them. */
  fail(err: unknown, during?: string): never {
    const msg = err instanceof Error ? err.message : String(err);
    const at = during ? `\nfailing command: ${during} (steps it logged are listed last)` : "";
    throw new Error(`${msg}${at}\n${this.rec.format()}`, { cause: err });
  }

  private async newRows(): Promise<AppendedRow[]> {
    const rows = await this.sql.unsafe(
      this.q(
        `SELECT job_id::text AS job, lane_seq::float8 AS pos, ready_slot::int AS slot,
          run_lease::int AS lease, attempt::int AS attempt
        FROM awa.ready_entries WHERE queue = $1 AND lane_seq > $2 ORDER BY lane_seq`,
      ),
      [QUEUE, this.model.maxPos],
    );
    return rows as unknown as AppendedRow[];
  }

  // ---------------------------------------------------------------- producers

  async enqueue(): Promise<void> {
    const job = await insert(this.sql, this.def, { n: 1 }, { schema: this.cfg.schema });
    const rows = await this.newRows();
    if (rows.length !== 1 || rows[0].job !== String(job.id)) {
      throw new ModelViolation(`insert j${job.id}: new ready rows ${JSON.stringify(rows)}`);
    }
    this.rec.step(`enqueue -> j${job.id}@${rows[0].pos} slot ${rows[0].slot}`);
    this.model.enqueue(rows[0], this.cfg.maxAttempts);
    this.rec.event({ kind: "enqueue", job: rows[0].job });
  }

  async enqueueMany(n: number): Promise<void> {
    const res = await insertMany(
      this.sql,
      this.def,
      Array.from({ length: n }, (_, i) => ({ args: { n: i } })),
      { schema: this.cfg.schema },
    );
    const rows = await this.newRows();
    const ids = res.ids.map(String);
    if (rows.map((r) => r.job).join(",") !== ids.join(",")) {
      throw new ModelViolation(
        `insertMany [${ids}]: new ready rows in lane order are [${rows.map((r) => r.job)}]`,
      );
    }
    this.rec.step(`insertMany(${n}) -> ${rows.map((r) => `j${r.job}@${r.pos}`).join(" ")}`);
    for (const r of rows) {
      this.model.enqueue(r, this.cfg.maxAttempts);
      this.rec.event({ kind: "enqueue", job: r.job });
    }
  }

  // ---------------------------------------------------------------- workers

  /** Claim up to `max` rows; with `free`, rows beyond the first `free` are held (prefetch). */
  async claim(worker: string, max: number, free?: number): Promise<Attempt[]> {
    const rows = await this.sql.unsafe(
      this.q(
        `SELECT claim_slot::int, batch_id::text, idx, job_id::text, run_lease::int,
          attempt::int, held FROM awa.claim_batch($1, $2, 0, 0, $3::uuid, $4::int)`,
      ),
      [QUEUE, max, this.instance[worker], free ?? null],
    );
    const got = rows.map((r) => ({
      job: r.job_id as string,
      lease: r.run_lease as number,
      attempt: r.attempt as number,
      claimSlot: r.claim_slot as number,
      batchId: r.batch_id as string,
      idx: r.idx as number,
      held: r.held as boolean,
    }));
    this.rec.step(
      `claim(${worker}, max ${max}${free === undefined ? "" : `, free ${free}`}) -> [${
        got.map((g) => `j${g.job}${g.held ? " held" : ""}`).join(",")
      }]`,
    );
    const atts = this.model.claim(worker, max, got, free ?? max);
    if (atts.length) {
      this.rec.event({
        kind: "claim",
        worker,
        jobs: atts.map((a) => ({ job: a.job, receipt: a.receipt })),
      });
    }
    return atts;
  }

  private async finalizeRaw(a: Attempt, outcome: WorkerOutcome): Promise<string | null> {
    const item = {
      claim_slot: a.claimSlot,
      batch_id: a.batchId,
      idx: a.idx,
      job_id: Number(a.job),
      run_lease: a.lease,
      outcome,
      delay_s: outcome === "retry" || outcome === "snooze" ? 0 : null,
      error: outcome === "completed" ? null : `property ${outcome}`,
    };
    const rows = await this.sql.unsafe(
      this.q(`SELECT state FROM awa.finalize_attempts($1::text::jsonb, false, true)`),
      [JSON.stringify([item])],
    );
    return rows.length ? rows[0].state as string : null;
  }

  private async fingerprint(): Promise<string> {
    const [row] = await this.sql.unsafe(this.q(FINGERPRINT));
    return JSON.stringify(row);
  }

  /** Flush one outcome for held attempt `i` of `worker` (what a handler returns). */
  async finalize(worker: string, i: number, outcome: WorkerOutcome): Promise<void> {
    const held = this.model.held[worker];
    if (held.length === 0) return;
    const a = held[i % held.length];
    await this.finalizeAttempt(worker, a, outcome, false);
  }

  /** Flush again an attempt the worker already finalized: must be stale. */
  async staleFinalize(worker: string, i: number, outcome: WorkerOutcome): Promise<void> {
    const fin = this.model.finished[worker];
    if (fin.length === 0) return;
    const a = fin[i % fin.length];
    this.rec.outsideSpec("re-finalizing an attempt the worker already flushed");
    await this.finalizeAttempt(worker, a, outcome, true);
  }

  private async finalizeAttempt(
    worker: string,
    a: Attempt,
    outcome: WorkerOutcome,
    again: boolean,
  ): Promise<void> {
    const expectStale = !this.model.open(a.receipt);
    const before = expectStale ? await this.fingerprint() : "";
    const state = await this.finalizeRaw(a, outcome);
    this.rec.step(
      `${again ? "finalize AGAIN" : "finalize"}(${worker}, j${a.job} r${a.receipt}, ${outcome})` +
        ` -> ${state ?? "stale"}`,
    );
    const v = this.model.finalize(worker, a, outcome, state);
    if (expectStale) {
      const after = await this.fingerprint();
      if (after !== before) {
        throw new ModelViolation(
          `stale finalization of j${a.job} r${a.receipt} changed storage:\n  before ${before}\n` +
            `  after  ${after}`,
        );
      }
    }
    if (again) return;
    const traceOutcome = v.stale
      ? ({
        completed: "completed",
        cancel: "cancelled",
        fail: "dlq",
        retry: "retry",
        snooze: "snooze",
      } as const)[outcome]
      : v.state === "completed"
      ? "completed"
      : v.state === "cancelled"
      ? "cancelled"
      : v.state === "failed"
      ? "dlq"
      : v.state === "scheduled"
      ? "snooze"
      : "retry";
    this.rec.event({
      kind: "finalize",
      worker,
      job: a.job,
      receipt: a.receipt,
      outcome: traceOutcome,
      stale: v.stale,
    });
  }

  /** The worker process dies: it forgets its attempts without finalizing them. */
  /** The worker starts one of its held attempts that has not started: record the start. */
  async start(worker: string, i: number): Promise<void> {
    const waiting = this.model.held[worker].filter((a) => this.model.unstarted(a));
    if (waiting.length === 0) return;
    const a = waiting[i % waiting.length];
    await this.sql.unsafe(this.q(`SELECT awa.record_starts($1::uuid, $2::text::jsonb)`), [
      this.instance[worker],
      JSON.stringify([{ claim_slot: a.claimSlot, receipt: a.receipt }]),
    ]);
    this.rec.step(`start(${worker}, j${a.job})`);
    this.model.start(a);
  }

  crash(worker: string): void {
    const n = this.model.crash(worker);
    this.rec.step(`crash(${worker}) forgets ${n} attempts`);
    if (n > 0) this.rec.event({ kind: "crash", worker });
  }

  // ---------------------------------------------------------------- maintenance

  /** Stale-heartbeat rescue with staleness 0: every open attempt is a candidate. */
  async rescue(): Promise<void> {
    const [{ items }] = await this.sql.unsafe(
      this.q(`SELECT awa.rescue_candidates('heartbeat', 0, 1000)::text AS items`),
    );
    const cands = (JSON.parse(items as string) as Record<string, unknown>[])
      .map((x) => ({ ...x, delay_s: 0 }));
    const rows = await this.sql.unsafe(
      this.q(
        `SELECT job_id::text AS job, run_lease::int AS lease, state
        FROM awa.finalize_attempts($1::text::jsonb, true, true)`,
      ),
      [JSON.stringify(cands)],
    );
    const got = rows as unknown as { job: string; lease: number; state: string }[];
    this.rec.step(
      `rescue(${cands.length} candidates) -> [${got.map((g) => `j${g.job}:${g.state}`).join(",")}]`,
    );
    for (const r of this.model.rescue(got)) {
      this.rec.event({
        kind: "rescue",
        job: r.job,
        receipt: r.receipt,
        to: r.state === "failed" ? "dlq" : r.state === "scheduled" ? "release" : "retry",
      });
    }
  }

  async promote(): Promise<void> {
    const [{ n }] = await this.sql.unsafe(this.q(`SELECT awa.promote_due(4096) AS n`));
    const rows = await this.newRows();
    this.rec.step(`promote -> ${n} [${rows.map((r) => `j${r.job}@${r.pos}`).join(" ")}]`);
    this.model.promote(Number(n), rows);
    for (const r of rows) this.rec.event({ kind: "promote", job: r.job });
  }

  async rotate(ring: "Q" | "C"): Promise<void> {
    const [{ r }] = await this.sql.unsafe(
      this.q(`SELECT awa.rotate_ring($1) AS r`),
      [ring === "Q" ? "queue" : "claim"],
    );
    this.rec.step(`rotate ${ring} -> ${r}`);
    this.model.rotate(ring, r as string);
    if (r === "rotated") this.rec.event({ kind: "rotate", ring });
  }

  async prune(ring: "Q" | "C"): Promise<void> {
    const target = this.model.pruneTarget(ring);
    const [{ r }] = await this.sql.unsafe(
      this.q(`SELECT awa.prune_ring($1, '10ms', $2) AS r`),
      [ring === "Q" ? "queue" : "claim", this.cfg.carryLimit],
    );
    const carried = r === "carried" && target !== null
      ? this.model.qLiveRows(target).map((x) => `j${x.job}@${x.pos}`).join(",")
      : "";
    this.rec.step(`prune ${ring} (target ${target}) -> ${r}${carried ? ` [${carried}]` : ""}`);
    this.model.prune(ring, r as string);
    if (r === "pruned") this.rec.event({ kind: "prune", ring });
    if (r === "carried") {
      this.rec.outsideSpec("carry-forward prune (checked by AwaCarryForward, not the trace spec)");
    }
  }

  /**
   * The queue is not served while the ring turns `n` times (other queues keep it busy):
   * rotate and prune ring Q with no claim in between, so unclaimed rows reach the oldest slot.
   */
  async stuck(n: number): Promise<void> {
    this.rec.step(`stuck queue: ${n} rotations with no claim`);
    for (let i = 0; i < n; i++) {
      await this.rotate("Q");
      await this.checkDb();
      await this.prune("Q");
      await this.checkDb();
    }
  }

  // ---------------------------------------------------------------- operators

  private pick(pool: string[], i: number): string | undefined {
    return pool.length ? pool[i % pool.length] : undefined;
  }

  /**
   * Admin cancel (`awa.cancel_job`) of live job `i`, among those in family `target`; unless
   * `strict`, any live job when none is in the family (ready excepted).
   */
  async adminCancel(i: number, target: Family | "any" = "any", strict = false): Promise<void> {
    const live = this.model.liveJobs();
    const inTarget = live.filter((j) => this.model.familyOf(j) === target);
    const pool = target === "any"
      ? live
      : strict || target === "ready" || inTarget.length
      ? inTarget
      : live;
    const job = this.pick(pool, i);
    if (job === undefined) return;
    const fam = this.model.familyOf(job);
    const openReceipt = this.model.openReceipts().find(([, b]) => b.job === job)?.[0];
    const [{ r }] = await this.sql.unsafe(
      this.q(`SELECT awa.cancel_job($1) AS r`),
      [Number(job)],
    );
    this.rec.step(`cancel_job(j${job}) [${fam}] -> ${r}`);
    this.model.cancel(job, r as string | null);
    if (r === null) return;
    if (fam === "ready") this.rec.event({ kind: "cancelReady", job });
    else if (fam === "running" && openReceipt !== undefined) {
      this.rec.event({ kind: "cancelRunning", job, receipt: openReceipt });
    } else this.rec.outsideSpec(`admin cancel of a ${fam} job (no spec event)`);
  }

  /** `awa.retry_held` of held job `i` (or of any job when none is held: must return null). */
  async dlqRetry(i: number): Promise<void> {
    const held = [...this.model.hold];
    const job = this.pick(held.length ? held : this.model.liveJobs(), i);
    if (job === undefined) return;
    const [{ r }] = await this.sql.unsafe(
      this.q(`SELECT awa.retry_held($1)::text AS r`),
      [Number(job)],
    );
    const rows = await this.newRows();
    this.rec.step(`retry_held(j${job}) -> ${r} [${rows.map((x) => `j${x.job}@${x.pos}`)}]`);
    if (rows.length > 1 || (r === null) !== (rows.length === 0)) {
      throw new ModelViolation(`retry_held(j${job}) appended ${rows.length} rows`);
    }
    this.model.dlqRetry(job, r as string | null, rows[0]);
    if (r !== null) this.rec.event({ kind: "dlqRetry", job });
  }

  /** Purge a held job (direct SQL, as an operator would). */
  async purge(i: number): Promise<void> {
    const held = [...this.model.hold];
    const job = this.pick(held, i);
    if (job === undefined) return;
    const rows = await this.sql.unsafe(
      this.q(`DELETE FROM awa.dlq_entries WHERE job_id = $1 RETURNING job_id`),
      [Number(job)],
    );
    this.rec.step(`purge(j${job}) -> ${rows.length}`);
    this.model.purge(job, rows.length);
    if (rows.length) this.purged.add(job);
    if (rows.length) this.rec.event({ kind: "dlqPurge", job });
  }

  // ---------------------------------------------------------------- checks

  /** §5 invariants on the model and on a SQL projection of the database, compared. */
  async checkDb(withView = false): Promise<void> {
    this.model.invariants();
    const raw = await this.sql.unsafe(this.q(PROJECTION)) as unknown as {
      fam: Family;
      job: string;
      lease: number | null;
      attempt: number | null;
    }[];
    const view = await this.sql.unsafe(
      this.q(`SELECT id::text AS job, state::text, held FROM awa.jobs`),
    );
    const byJob = new Map<string, { raw: typeof raw; view: Family[] }>();
    const get = (j: string) => {
      let e = byJob.get(j);
      if (!e) byJob.set(j, e = { raw: [], view: [] });
      return e;
    };
    for (const r of raw) get(r.job).raw.push(r);
    for (const v of view) {
      get(v.job as string).view.push(v.held ? "held" : VIEW_FAMILY[v.state as string]);
    }
    const listed = withView ? await this.listAll() : new Map<string, string[]>();
    const known = new Set(this.model.jobs);
    for (const j of byJob.keys()) {
      if (!known.has(j)) throw new ModelViolation(`database holds unknown job j${j}`);
    }
    for (const j of this.model.jobs) {
      const e = byJob.get(j) ?? { raw: [], view: [] };
      const want = this.model.retired.has(j) ? [] : [this.model.familyOf(j)!];
      const rawF = e.raw.map((r) => r.fam).sort();
      const viewF = [...e.view].sort();
      if (rawF.join(",") !== want.join(",")) {
        throw new ModelViolation(
          `NoLostJob (tables): j${j} is in [${rawF}] in the database, the model says [${want}]`,
        );
      }
      if (withView && viewF.join(",") !== want.join(",")) {
        throw new ModelViolation(
          `NoLostJob (awa.jobs): j${j} shows as [${viewF}], the model says [${want}]`,
        );
      }
      if (withView) await this.checkAdminView(j, listed.get(j) ?? []);
      const r = e.raw[0];
      if (r && r.lease !== null) {
        const jl = this.model.jl.get(j)!;
        if (r.lease !== jl.lease || r.attempt !== jl.attempt) {
          throw new ModelViolation(
            `j${j} (${r.fam}) has run_lease ${r.lease} attempt ${r.attempt} in the database, ` +
              `model ${jl.lease}/${jl.attempt}`,
          );
        }
      }
    }
  }

  /** Every job the admin listing shows, by id: the planes it shows in (all pages). */
  private async listAll(): Promise<Map<string, string[]>> {
    const out = new Map<string, string[]>();
    let cursor: string | undefined;
    do {
      const page = await listJobs(this.sql, { schema: this.cfg.schema, limit: 1000, cursor });
      for (const j of page.items) out.set(String(j.id), [...out.get(String(j.id)) ?? [], j.plane]);
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    return out;
  }

  /**
   * History outlives the ring: a job retired by prune (completed or cancelled) stays listed,
   * exactly once, from history; a live job is listed exactly once; a purged job never.
   */
  private async checkAdminView(j: string, planes: string[]): Promise<void> {
    const want = this.purged.has(j) ? 0 : 1;
    if (planes.length !== want) {
      throw new ModelViolation(
        `HistoryExactlyOnce: j${j} is listed ${planes.length} times [${planes}]`,
      );
    }
    if (want === 1 && this.model.retired.has(j)) {
      const job = await getJob(this.sql, Number(j), { schema: this.cfg.schema });
      if (job.plane !== "history" || !["completed", "cancelled"].includes(job.state)) {
        throw new ModelViolation(`HistoryKept: pruned j${j} is ${job.state} in ${job.plane}`);
      }
    }
  }
}
