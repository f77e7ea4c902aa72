/**
 * Concurrency property driver: several actors, each on its own postgres.js connection, run
 * generated scripts against one lane at the same time (two claimers, a completer, a producer,
 * a rotator, a pruner, a rescuer/promoter and an admin that cancels, pauses, resumes, and
 * pauses then cancels in one transaction). What each actor saw is
 * recorded; afterwards the database is drained sequentially and the invariants are checked:
 * no deadlock (SQLSTATE 40P01) or other error, no attempt claimed twice, no receipt closed
 * twice, every job accounted for exactly once and, after the drain, every job finished.
 *
 * @module
 */
import fc from "fast-check";
import type postgres from "postgres";
import { defineJob, insertMany } from "../../mod.ts";
import { pause, resume } from "../../admin.ts";
import { q } from "../../tests/support/sql.ts";
import { type PropertyConfig, QUEUE, type Sql } from "./engine.ts";

type Outcome = "completed" | "retry" | "fail" | "cancel";

export type ClaimerOp =
  | { op: "claim"; max: number }
  | { op: "finish"; outcome: Outcome }
  | { op: "handoff" }
  | { op: "crash" };
export type MaintOp = "rotateQ" | "rotateC" | "pruneQ" | "pruneC" | "promote" | "rescue";
/** An admin step; `i` picks the job a cancel targets. */
export interface AdminOp {
  op: "cancel" | "pause" | "resume" | "pauseCancel";
  i: number;
}

export interface Scripts {
  seedJobs: number;
  claimers: ClaimerOp[][];
  completer: { n: number; outcome: Outcome }[];
  producer: number[];
  rotator: MaintOp[];
  pruner: MaintOp[];
  rescuer: MaintOp[];
  admin: AdminOp[];
  pauses: number[];
}

export function scriptsArb(): fc.Arbitrary<Scripts> {
  const outcome = fc.constantFrom<Outcome>("completed", "completed", "retry", "fail", "cancel");
  const claimerOp: fc.Arbitrary<ClaimerOp> = fc.oneof(
    {
      weight: 4,
      arbitrary: fc.integer({ min: 1, max: 4 }).map((max) => ({ op: "claim" as const, max })),
    },
    { weight: 3, arbitrary: outcome.map((o) => ({ op: "finish" as const, outcome: o })) },
    { weight: 2, arbitrary: fc.constant({ op: "handoff" as const }) },
    { weight: 1, arbitrary: fc.constant({ op: "crash" as const }) },
  );
  const maint = (ops: MaintOp[]) =>
    fc.array(fc.constantFrom(...ops), { minLength: 5, maxLength: 25 });
  return fc.record({
    seedJobs: fc.integer({ min: 5, max: 25 }),
    claimers: fc.array(fc.array(claimerOp, { minLength: 5, maxLength: 30 }), {
      minLength: 2,
      maxLength: 2,
    }),
    completer: fc.array(fc.record({ n: fc.integer({ min: 1, max: 4 }), outcome }), {
      minLength: 3,
      maxLength: 20,
    }),
    producer: fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 8 }),
    rotator: maint(["rotateQ", "rotateC"]),
    pruner: maint(["pruneQ", "pruneC"]),
    rescuer: fc.array(fc.constantFrom<MaintOp>("promote", "promote", "rescue"), {
      minLength: 2,
      maxLength: 10,
    }),
    admin: fc.array(
      fc.record({
        op: fc.constantFrom<AdminOp["op"]>("cancel", "cancel", "pause", "resume", "pauseCancel"),
        i: fc.nat({ max: 100 }),
      }),
      { maxLength: 8 },
    ),
    pauses: fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 8, maxLength: 8 }),
  });
}

interface Held {
  claim_slot: number;
  batch_id: string;
  idx: number;
  job_id: number;
  run_lease: number;
}

/** Everything the actors observed. */
export class Observed {
  jobs = new Set<string>();
  claims: string[] = []; // "job@lease"
  applied: string[] = []; // "job@lease:state" (every applied close, from any path)
  terminal = new Set<string>();
  errors: string[] = [];
  log: string[] = [];
}

function describe(e: unknown): string {
  const err = e as { code?: string; message?: string };
  if (err?.code === "40P01") return `DEADLOCK (40P01) reported by Postgres: ${err.message}`;
  return `${err?.code ?? ""} ${err?.message ?? String(e)}`;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class ConcurrentRun {
  readonly obs = new Observed();
  private handoff: Held[] = [];
  private readonly def;

  constructor(readonly cfg: PropertyConfig) {
    this.def = defineJob<{ n: number }>("prop_job", { queue: QUEUE, maxAttempts: cfg.maxAttempts });
  }

  private q(t: string) {
    return q(this.cfg.schema, t);
  }

  async produce(sql: Sql, n: number): Promise<void> {
    const r = await insertMany(
      sql,
      this.def,
      Array.from({ length: n }, (_, i) => ({ args: { n: i } })),
      { schema: this.cfg.schema },
    );
    for (const id of r.ids) this.obs.jobs.add(String(id));
  }

  async claim(sql: Sql, max: number, instance: string): Promise<Held[]> {
    const rows = await sql.unsafe(
      this.q(
        `SELECT claim_slot::int, batch_id::text, idx, job_id::int, run_lease::int
        FROM awa.claim_batch($1, $2, 0, 0, $3::uuid)`,
      ),
      [QUEUE, max, instance],
    ) as unknown as Held[];
    for (const r of rows) this.obs.claims.push(`${r.job_id}@${r.run_lease}`);
    return [...rows];
  }

  async finalize(sql: Sql, items: Held[], outcome: Outcome, who: string): Promise<void> {
    if (!items.length) return;
    const rows = await sql.unsafe(
      this.q(
        `SELECT job_id::text AS job, run_lease::int AS lease, state
        FROM awa.finalize_attempts($1::text::jsonb, false, true)`,
      ),
      [JSON.stringify(items.map((h) => ({ ...h, outcome, delay_s: 0, error: "prop" })))],
    );
    for (const r of rows) this.applied(r.job, r.lease, r.state, who);
  }

  private applied(job: string, lease: number, state: string, who: string) {
    this.obs.applied.push(`${job}@${lease}:${state}`);
    this.obs.log.push(`${who}: j${job}@${lease} -> ${state}`);
    if (state === "completed" || state === "cancelled") this.obs.terminal.add(job);
  }

  async rescue(sql: Sql): Promise<void> {
    const [{ items }] = await sql.unsafe(
      this.q(`SELECT awa.rescue_candidates('heartbeat', 0, 1000)::text AS items`),
    );
    const cands = (JSON.parse(items as string) as Record<string, unknown>[]).map((x) => ({
      ...x,
      delay_s: 0,
    }));
    const rows = await sql.unsafe(
      this.q(
        `SELECT job_id::text AS job, run_lease::int AS lease, state
        FROM awa.finalize_attempts($1::text::jsonb, true, true)`,
      ),
      [JSON.stringify(cands)],
    );
    for (const r of rows) this.applied(r.job, r.lease, r.state, "rescue");
  }

  async maint(sql: Sql, op: MaintOp): Promise<void> {
    switch (op) {
      case "rotateQ":
      case "rotateC":
        await sql.unsafe(this.q(`SELECT awa.rotate_ring($1)`), [
          op === "rotateQ" ? "queue" : "claim",
        ]);
        return;
      case "pruneQ":
      case "pruneC":
        await sql.unsafe(this.q(`SELECT awa.prune_ring($1)`), [
          op === "pruneQ" ? "queue" : "claim",
        ]);
        return;
      case "promote":
        await sql.unsafe(this.q(`SELECT awa.promote_due(4096)`));
        return;
      case "rescue":
        await this.rescue(sql);
    }
  }

  async cancel(sql: Sql, i: number): Promise<void> {
    const ids = [...this.obs.jobs];
    if (!ids.length) return;
    const job = ids[i % ids.length];
    const [{ r }] = await sql.unsafe(this.q(`SELECT awa.cancel_job($1) AS r`), [Number(job)]);
    if (r === "cancelled") {
      this.obs.terminal.add(job);
      this.obs.log.push(`admin: cancel j${job}`);
    }
  }

  /** One admin step through the admin layer (src/admin), on its own connection. */
  async administer(sql: Sql, a: AdminOp): Promise<void> {
    const opts = { schema: this.cfg.schema };
    switch (a.op) {
      case "cancel":
        return await this.cancel(sql, a.i);
      case "pause":
        await pause(sql, QUEUE, opts);
        return;
      case "resume":
        await resume(sql, QUEUE, opts);
        return;
      case "pauseCancel":
        // The caller's transaction: queue_meta first, then the cancel's lane or row locks.
        await sql.begin(async (tx) => {
          await pause(tx, QUEUE, opts);
          await this.cancel(tx as unknown as Sql, a.i);
        });
    }
  }

  /** Run one actor's script; record (never throw) its first error. */
  private async actor(name: string, pause: number, steps: (() => Promise<void>)[]) {
    try {
      for (const s of steps) {
        await s();
        if (pause) await sleep(pause);
      }
    } catch (e) {
      this.obs.errors.push(`${name}: ${describe(e)}`);
    }
  }

  async race(pools: Sql[], s: Scripts): Promise<void> {
    const [c1, c2, completer, producer, rotator, pruner, rescuer, admin] = pools;
    const claimer = (sql: Sql, script: ClaimerOp[], w: string) => {
      const instance = crypto.randomUUID();
      let held: Held[] = [];
      return script.map((op) => async () => {
        if (op.op === "claim") held.push(...await this.claim(sql, op.max, instance));
        else if (op.op === "finish") await this.finalize(sql, held.splice(0, 1), op.outcome, w);
        else if (op.op === "handoff") this.handoff.push(...held.splice(0, held.length));
        else held = [];
      });
    };
    await Promise.all([
      this.actor("claimer w1", s.pauses[0], claimer(c1, s.claimers[0], "w1")),
      this.actor("claimer w2", s.pauses[1], claimer(c2, s.claimers[1], "w2")),
      this.actor(
        "completer",
        s.pauses[2],
        s.completer.map((c) => () =>
          this.finalize(completer, this.handoff.splice(0, c.n), c.outcome, "completer")
        ),
      ),
      this.actor("producer", s.pauses[3], s.producer.map((n) => () => this.produce(producer, n))),
      this.actor("rotator", s.pauses[4], s.rotator.map((o) => () => this.maint(rotator, o))),
      this.actor("pruner", s.pauses[5], s.pruner.map((o) => () => this.maint(pruner, o))),
      this.actor("rescuer", s.pauses[6], s.rescuer.map((o) => () => this.maint(rescuer, o))),
      this.actor("admin", s.pauses[7], s.admin.map((a) => () => this.administer(admin, a))),
    ]);
  }

  /** Families per job from the raw tables (same projection as the sequential driver). */
  async families(sql: Sql): Promise<Map<string, string[]>> {
    const rows = await sql.unsafe(this.q(`
      SELECT 'ready' AS fam, r.job_id::text AS job FROM awa.ready_entries r
      WHERE r.lane_seq >= awa.lane_cursor(r.queue, r.priority, r.enqueue_shard)
        AND NOT EXISTS (SELECT 1 FROM awa.ready_tombstones t
          WHERE t.ready_slot = r.ready_slot AND t.queue = r.queue AND t.priority = r.priority
            AND t.enqueue_shard = r.enqueue_shard AND t.lane_seq = r.lane_seq)
      UNION ALL
      SELECT 'running', u.job_id::text FROM awa.claim_batches b
      CROSS JOIN LATERAL unnest(b.job_ids) WITH ORDINALITY AS u(job_id, ord)
      WHERE NOT EXISTS (SELECT 1 FROM awa.claim_closures c WHERE c.claim_slot = b.claim_slot
        AND c.receipt_ranges @> (b.batch_id * 65536 + u.ord - 1))
      UNION ALL SELECT 'deferred', job_id::text FROM awa.deferred_jobs
      UNION ALL SELECT 'terminal', job_id::text FROM awa.done_entries
      UNION ALL SELECT 'held', job_id::text FROM awa.dlq_entries`));
    const m = new Map<string, string[]>();
    for (const r of rows) {
      const l = m.get(r.job) ?? [];
      l.push(r.fam);
      m.set(r.job, l);
    }
    return m;
  }

  /** Overlapping retained emissions of the lane (a position emitted twice). */
  async overlappingEmissions(sql: Sql): Promise<string[]> {
    const rows = await sql.unsafe(this.q(`
      SELECT a.batch_id::text AS a, b.batch_id::text AS b FROM awa.claim_emissions a
      JOIN awa.claim_emissions b ON a.queue = b.queue AND a.priority = b.priority
        AND a.enqueue_shard = b.enqueue_shard AND a.batch_id < b.batch_id
        AND a.first_lane_seq < b.next_lane_seq AND b.first_lane_seq < a.next_lane_seq`));
    return rows.map((r) => `batches ${r.a} and ${r.b}`);
  }

  /** The invariants after the race; returns the violations. */
  async check(sql: Sql, phase: string): Promise<string[]> {
    const bad: string[] = [];
    const fams = await this.families(sql);
    for (const j of fams.keys()) if (!this.obs.jobs.has(j)) bad.push(`${phase}: unknown job j${j}`);
    for (const j of this.obs.jobs) {
      const f = fams.get(j) ?? [];
      if (f.length > 1) bad.push(`${phase}: j${j} is in several families [${f}]`);
      if (f.length === 0 && !this.obs.terminal.has(j)) {
        bad.push(`${phase}: j${j} is LOST (in no family and never finished)`);
      }
    }
    const dup = this.obs.claims.filter((c, i) => this.obs.claims.indexOf(c) !== i);
    if (dup.length) bad.push(`${phase}: attempts claimed twice: ${dup.join(",")}`);
    const closes = this.obs.applied.map((a) => a.split(":")[0]);
    const dupClose = closes.filter((c, i) => closes.indexOf(c) !== i);
    if (dupClose.length) bad.push(`${phase}: attempts closed twice: ${dupClose.join(",")}`);
    for (const o of await this.overlappingEmissions(sql)) {
      bad.push(`${phase}: overlapping emissions ${o}`);
    }
    return bad;
  }

  /** Sequentially finish everything: rescue, promote, claim and complete until the lane is dry. */
  async drain(sql: Sql): Promise<void> {
    await resume(sql, QUEUE, { schema: this.cfg.schema });
    const instance = crypto.randomUUID();
    for (let round = 0; round < 200; round++) {
      await this.rescue(sql);
      await sql.unsafe(this.q(`SELECT awa.promote_due(4096)`));
      const got = await this.claim(sql, 64, instance);
      if (got.length) await this.finalize(sql, got, "completed", "drain");
      const [{ n }] = await sql.unsafe(this.q(`
        SELECT (SELECT count(*) FROM awa.deferred_jobs) + (SELECT count(*) FROM awa.jobs
          WHERE state IN ('available', 'running')) AS n`));
      if (Number(n) === 0 && got.length === 0) return;
    }
    throw new Error("drain did not finish in 200 rounds");
  }
}

export type PoolFactory = (o: postgres.Options<Record<string, postgres.PostgresType>>) => Sql;
