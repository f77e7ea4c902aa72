/**
 * Rescue and unique-claim lifecycle at the SQL boundary (migration 008): held (prefetched)
 * claims and their start records, what each rescue kind does to an attempt, and unique claims
 * released at claim and re-acquired (or the job cancelled) when an attempt ends.
 */
import assert from "node:assert/strict";
import { defineJob, insert, type JobState, UniqueConflictError } from "../../mod.ts";
import { testDatabase } from "../support/db.ts";
import { jobState, POOL_TEST, receiptOfJob, sleep } from "../support/runtime.ts";

const t = await testDatabase("rescue_lifecycle");
const sql = t.sql;

interface Claimed {
  claim_slot: number;
  batch_id: string;
  idx: number;
  job_id: number;
  held: boolean;
}

async function claim(queue: string, max: number, free: number | null, deadlineS = 300) {
  return await sql<Claimed[]>`
    SELECT claim_slot, batch_id::text, idx, job_id::int, held
    FROM awa.claim_batch(${queue}, ${max}, ${deadlineS}, 60, gen_random_uuid(), ${free}::int)`;
}

interface Candidate {
  job_id: number;
  outcome: string;
  delay_s?: number;
  error?: string;
}

/**
 * Rescue candidates of one kind with staleness 0 among `jobs`, then close them as the leader
 * would.
 */
async function rescue(kind: "heartbeat" | "deadline", jobs: number[]) {
  const [{ c }] = await sql<{ c: string }[]>`
    SELECT awa.rescue_candidates(${kind}, 0, 1000)::text AS c`;
  const items = (JSON.parse(c) as Candidate[]).filter((i) => jobs.includes(i.job_id));
  const rows = await sql<{ job_id: number; outcome: string; state: string; run_at: Date }[]>`
    SELECT job_id::int, outcome, state, run_at
    FROM awa.finalize_attempts(${JSON.stringify(items)}::text::jsonb, true)`;
  return { items, rows: [...rows] };
}

async function deferredOf(id: number) {
  const [row] = await sql<
    { state: string; attempt: number; run_at: Date; errors: { error: string }[] | null }[]
  >`SELECT state::text, attempt, run_at, errors FROM awa.deferred_jobs WHERE job_id = ${id}`;
  return row;
}

Deno.test({
  name: "claim: rows beyond p_free come back held; a held attempt's start is recorded",
  ...POOL_TEST,
  async fn() {
    const job = defineJob<{ n: number }>("rl_held", { queue: "rl_held" });
    const ids: number[] = [];
    for (let n = 0; n < 4; n++) ids.push((await insert(sql, job, { n })).id);
    const rows = await claim("rl_held", 4, 1);
    assert.deepEqual(rows.map((r) => [r.job_id, r.held]), [
      [ids[0], false],
      [ids[1], true],
      [ids[2], true],
      [ids[3], true],
    ]);
    // The second job starts: its start is recorded like a heartbeat row marked started.
    const r1 = rows[1];
    await sql`SELECT awa.record_starts(gen_random_uuid(), ${
      JSON.stringify([{
        claim_slot: r1.claim_slot,
        receipt: `${BigInt(r1.batch_id) * 65536n + 1n}`,
      }])
    }::text::jsonb)`;

    const { items, rows: closed } = await rescue("heartbeat", ids);
    const byJob = new Map(items.map((i) => [i.job_id, i]));
    assert.equal(byJob.get(ids[0])?.outcome, "rescue_heartbeat", "started at claim: counted");
    assert.equal(byJob.get(ids[1])?.outcome, "rescue_heartbeat", "start recorded: counted");
    assert.equal(byJob.get(ids[2])?.outcome, "rescue_unstarted");
    assert.equal(byJob.get(ids[3])?.outcome, "rescue_unstarted");
    assert.equal(byJob.get(ids[2])?.error, undefined);
    const states = new Map(closed.map((r) => [r.job_id, r.state]));
    assert.deepEqual(
      ids.map((id) => states.get(id)),
      ["retryable", "retryable", "scheduled", "scheduled"],
    );
    for (const id of ids.slice(0, 2)) {
      const d = await deferredOf(id);
      assert.equal(d.attempt, 1, "the crashed attempt counts");
      assert.match(d.errors?.at(-1)?.error ?? "", /heartbeat stale/);
      assert.ok(d.run_at.getTime() <= Date.now() + 50, "due at once: no backoff");
    }
    for (const id of ids.slice(2)) {
      const d = await deferredOf(id);
      assert.equal(d.attempt, 0, "a held attempt that never started is not counted");
      assert.deepEqual(d.errors ?? [], [], "and records no error");
      assert.ok(d.run_at.getTime() <= Date.now() + 50, "due at once");
    }
    // Without p_free (older callers), every row starts at claim and nothing is held.
    const again = await sql<{ n: number }[]>`SELECT awa.promote_due() AS n`;
    assert.equal(again[0].n, 4);
    const all = await claim("rl_held", 4, null);
    assert.deepEqual(all.map((r) => r.held), [false, false, false, false]);
  },
});

Deno.test({
  name: "rescue: a deadline overrun keeps the retry backoff",
  ...POOL_TEST,
  async fn() {
    const job = defineJob<{ n: number }>("rl_deadline", { queue: "rl_deadline" });
    const j = await insert(sql, job, { n: 1 });
    await claim("rl_deadline", 1, null, 0.01);
    await sleep(50);
    const { items, rows } = await rescue("deadline", [j.id]);
    assert.deepEqual(items.map((i) => [i.job_id, i.outcome, i.delay_s]), [
      [j.id, "rescue_deadline", undefined],
    ]);
    assert.equal(rows[0].state, "retryable");
    const d = await deferredOf(j.id);
    assert.ok(d.run_at.getTime() >= Date.now() + 1500, "backoff of attempt 1 is at least 2 s");
    assert.match(d.errors?.at(-1)?.error ?? "", /deadline exceeded/);
  },
});

const noRunning: { states: JobState[] } = { states: ["scheduled", "available"] };

async function claimRowOf(id: number): Promise<number> {
  const [{ n }] = await sql<{ n: number }[]>`
    SELECT count(*)::int AS n FROM awa.job_unique_claims WHERE job_id = ${id}`;
  return n;
}

Deno.test({
  name: "unique: a rescue that finds the key held by a newer job cancels the old one",
  ...POOL_TEST,
  async fn() {
    const job = defineJob<{ k: string }>("rl_unique", { queue: "rl_unique" });
    const old = (await insert(sql, job, { k: "a" }, { unique: { ...noRunning } }))!;
    assert.equal(await claimRowOf(old.id), 1);
    await claim("rl_unique", 1, null);
    assert.equal(await claimRowOf(old.id), 0, "running is not in the mask: claim released");
    const newer = (await insert(sql, job, { k: "a" }, {
      unique: { ...noRunning },
      runAt: new Date(Date.now() + 3_600_000),
    }))!;
    const { rows } = await rescue("heartbeat", [old.id]);
    assert.deepEqual(rows.map((r) => [r.job_id, r.outcome, r.state]), [
      [old.id, "rescue_heartbeat_duplicate_cancelled", "cancelled"],
    ]);
    const [{ errs }] = await sql<{ errs: { error: string }[] }[]>`
      SELECT errors AS errs FROM awa.jobs WHERE id = ${old.id}`;
    assert.equal(errs.at(-1)?.error, `cancelled: duplicate: unique key held by job ${newer.id}`);
    assert.equal(await claimRowOf(newer.id), 1, "the newer job keeps the key");
    assert.equal((await jobState(sql, old.id))?.state, "cancelled");
  },
});

Deno.test({
  name: "unique: ending in a state of the mask re-acquires a claim released at claim",
  ...POOL_TEST,
  async fn() {
    const job = defineJob<{ k: string }>("rl_reacquire", { queue: "rl_reacquire" });
    const states: { states: JobState[] } = { states: ["available", "retryable"] };
    const j = (await insert(sql, job, { k: "b" }, { unique: { ...states } }))!;
    await claim("rl_reacquire", 1, null);
    assert.equal(await claimRowOf(j.id), 0);
    const r = (await receiptOfJob(sql, j.id))!;
    const items = JSON.stringify([{ ...r, outcome: "retry", error: "boom" }]);
    const [row] = await sql<{ state: string; outcome: string }[]>`
      SELECT state, outcome FROM awa.finalize_attempts(${items}::text::jsonb)`;
    assert.deepEqual({ ...row }, { state: "retryable", outcome: "retry" });
    assert.equal(await claimRowOf(j.id), 1, "retryable is in the mask: claim re-acquired");
    await assert.rejects(
      insert(sql, job, { k: "b" }, { unique: { ...states } }),
      UniqueConflictError,
    );
  },
});

Deno.test({
  name: "unique: two duplicates ending in the same flush: the newer keeps the key",
  ...POOL_TEST,
  async fn() {
    const job = defineJob<{ k: string }>("rl_pair", { queue: "rl_pair" });
    const states: { states: JobState[] } = { states: ["available", "retryable"] };
    const a = (await insert(sql, job, { k: "c" }, { unique: { ...states } }))!;
    await claim("rl_pair", 1, null);
    const b = (await insert(sql, job, { k: "c" }, { unique: { ...states } }))!;
    await claim("rl_pair", 1, null);
    const ra = (await receiptOfJob(sql, a.id))!;
    const rb = (await receiptOfJob(sql, b.id))!;
    const items = JSON.stringify([
      { ...ra, outcome: "retry", error: "x" },
      { ...rb, outcome: "retry", error: "y" },
    ]);
    const rows = await sql<{ job_id: number; state: string }[]>`
      SELECT job_id::int, state FROM awa.finalize_attempts(${items}::text::jsonb)`;
    const st = new Map(rows.map((r) => [r.job_id, r.state]));
    assert.equal(st.get(a.id), "cancelled");
    assert.equal(st.get(b.id), "retryable");
    assert.equal(await claimRowOf(b.id), 1);
  },
});

Deno.test({ name: "close database", ...POOL_TEST, fn: () => t.close() });
