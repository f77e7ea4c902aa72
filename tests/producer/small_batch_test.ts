/**
 * insertMany's one-statement path for small batches (`enqueue_small_batch`) against its COPY
 * path: the same jobs leave the same rows, lane order, unique claims and states.
 */
import assert from "node:assert/strict";
import { defineJob, insertMany, type ManyJob } from "../../mod.ts";
import { testDatabase } from "../support/db.ts";
import { POOL_TEST } from "../support/producer.ts";

const t = await testDatabase("producer_small_batch");
const sql = t.sql;
const job = defineJob<{ n: number; path: string }>("small_job", { queue: "small_a" });

/** Jobs with every per-job option, tagged with `path` so both paths' unique keys differ. */
function mixed(path: string): ManyJob<{ n: number; path: string }>[] {
  const later = new Date(Date.now() + 3_600_000);
  const earlier = new Date(Date.now() - 60_000);
  return [
    { args: { n: 0, path } },
    { args: { n: 1, path }, queue: "small_b", priority: 1 },
    { args: { n: 2, path }, runAt: later, tags: ["t1", "t2"] },
    { args: { n: 3, path }, orderingKey: "customer-42" },
    { args: { n: 4, path }, orderingKey: "customer-42", metadata: { src: "batch" } },
    { args: { n: 5, path }, unique: { byQueue: true } },
    { args: { n: 6, path }, maxAttempts: 3, priority: 4 },
    { args: { n: 7, path }, runAt: earlier },
    { args: { n: 8, path }, runAt: later, unique: { byArgs: true } },
    { args: { n: 9, path } },
  ];
}

interface Row {
  n: number;
  table: string;
  queue: string;
  priority: number;
  shard: number | null;
  /** Position within its lane, counted from the lane's first row of this call. */
  pos: number | null;
  kind: string;
  args: Record<string, unknown>;
  max_attempts: number;
  tags: string[];
  metadata: Record<string, unknown>;
  has_unique: boolean;
  unique_states: string | null;
  attempt: number;
  run_lease: string;
  /** run_at relative to created_at, in ms (0 for a job that runs now). */
  run_offset_ms: number;
  state: string;
  claim: boolean;
}

async function rowsOf(ids: number[], path: string): Promise<Row[]> {
  const rows = await sql<Row[]>`
    WITH r AS (
      SELECT 'ready' AS "table", queue, priority, enqueue_shard AS shard,
        (lane_seq - min(lane_seq) OVER (PARTITION BY queue, priority, enqueue_shard))::int AS pos,
        job_id, kind, args, max_attempts, tags, metadata, unique_key, unique_states::text,
        attempt, run_lease::text, run_at, created_at, 'available' AS state
      FROM awa.ready_entries WHERE job_id = ANY(${ids})
      UNION ALL
      SELECT 'deferred', queue, priority, NULL, NULL, job_id, kind, args, max_attempts, tags,
        metadata, unique_key, unique_states::text, attempt, run_lease::text, run_at, created_at,
        state::text
      FROM awa.deferred_jobs WHERE job_id = ANY(${ids})
    )
    SELECT (r.args->>'n')::int AS n, r."table", r.queue, r.priority, r.shard, r.pos, r.kind,
      r.args - 'path' AS args, r.max_attempts, r.tags, r.metadata,
      r.unique_key IS NOT NULL AS has_unique, r.unique_states, r.attempt, r.run_lease,
      CASE WHEN r.run_at > r.created_at + interval '1 minute'
        THEN 3600000 WHEN r.run_at < r.created_at THEN -60000 ELSE 0 END AS run_offset_ms,
      r.state,
      EXISTS (SELECT 1 FROM awa.job_unique_claims u WHERE u.job_id = r.job_id) AS claim
    FROM r WHERE r.args->>'path' = ${path} ORDER BY 1`;
  return rows;
}

Deno.test({
  name: "a small batch in one statement leaves the rows its COPY path leaves",
  ...POOL_TEST,
  async fn() {
    const small = await insertMany(sql, job, mixed("small"), { tags: ["batch"], priority: 3 });
    // Past the one-statement limit: the same ten jobs first, then filler in a queue of its own.
    const filler: ManyJob<{ n: number; path: string }>[] = Array.from(
      { length: 120 },
      (_, i) => ({ args: { n: 100 + i, path: "filler" }, queue: "small_filler" }),
    );
    const copied = await insertMany(sql, job, [...mixed("copy"), ...filler], {
      tags: ["batch"],
      priority: 3,
    });
    assert.equal(small.count, 10);
    assert.equal(copied.count, 130);
    const a = await rowsOf(small.ids as number[], "small");
    const b = await rowsOf(copied.ids.slice(0, 10) as number[], "copy");
    assert.equal(a.length, 10);
    assert.deepEqual(a, b);
    // Ids come back in batch order on both paths.
    for (const [res, path] of [[small, "small"], [copied, "copy"]] as const) {
      const got = await sql<{ id: string; n: number }[]>`
        SELECT id::text, (args->>'n')::int AS n FROM awa.jobs
        WHERE id = ANY(${res.ids.slice(0, 10) as number[]}) AND args->>'path' = ${path}`;
      const nOf = new Map(got.map((g) => [Number(g.id), g.n]));
      res.ids.slice(0, 10).forEach((id, i) => assert.equal(nOf.get(id!), i, `${path} ${i}`));
    }
  },
});

Deno.test({
  name: "a small batch with onConflict skip returns null exactly where a duplicate was dropped",
  ...POOL_TEST,
  async fn() {
    const u = defineJob<{ k: number }>("small_unique", { queue: "small_a" });
    const first = await insertMany(sql, u, [{ args: { k: 1 }, unique: {} }]);
    const res = await insertMany(sql, u, [
      { args: { k: 2 }, unique: {} },
      { args: { k: 1 }, unique: {} },
      { args: { k: 3 } },
      { args: { k: 2 }, unique: {} },
    ], { onConflict: "skip" });
    assert.equal(res.count, 2);
    assert.equal(res.ids[1], null);
    assert.equal(res.ids[3], null);
    assert.ok(res.ids[0] !== null && res.ids[2] !== null);
    const [{ n }] = await sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM awa.jobs WHERE kind = 'small_unique'`;
    assert.equal(n, 3);
    assert.ok(first.ids[0] !== null);
    // Two rows of one lane (the skipped ones took no position): consecutive positions.
    const lane = await sql<{ lane_seq: string }[]>`
      SELECT lane_seq::text FROM awa.ready_entries WHERE job_id = ANY(${[
      res.ids[0]!,
      res.ids[2]!,
    ]}) ORDER BY lane_seq`;
    assert.equal(BigInt(lane[1].lane_seq) - BigInt(lane[0].lane_seq), 1n);
  },
});

Deno.test({
  name: "close producer_small_batch database",
  ...POOL_TEST,
  async fn() {
    await t.close();
  },
});
