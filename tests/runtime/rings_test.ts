/**
 * Rotation and prune under concurrent enqueue and claim, for at least 20 full wraps of the
 * queue ring: nothing lost, no deadlock, and no update or delete ever hits a ring table.
 */
import assert from "node:assert/strict";
import { Client, defineJob, insertMany } from "../../mod.ts";
import { testDatabase } from "../support/db.ts";
import {
  POOL_TEST,
  ringTupleStats,
  sleep,
  statesOf,
  terminalTotal,
  waitFor,
  withTimings,
} from "../support/runtime.ts";

const t = await testDatabase("runtime_rings");
const sql = t.sql;
const spin = defineJob<{ n: number }>("spin", { queue: "rings" });
const WRAPS = 20;

async function generation(ring: string): Promise<number> {
  const [{ g }] = await sql<{ g: number }[]>`
    SELECT max(generation)::int AS g FROM awa.ring_rotations WHERE ring = ${ring}`;
  return g;
}

Deno.test({
  name: `rotation and prune under enqueue and claim for ${WRAPS} queue-ring wraps`,
  ...POOL_TEST,
  async fn() {
    const [{ q, c }] = await sql<{ q: number; c: number }[]>`
      SELECT (SELECT slot_count FROM awa.ring_config WHERE ring = 'queue')::int AS q,
        (SELECT slot_count FROM awa.ring_config WHERE ring = 'claim')::int AS c`;
    assert.deepEqual([q, c], [16, 8]);
    const target = WRAPS * q;

    const pool = t.connect();
    const producerPool = t.connect({ max: 2 });
    const client = new Client(pool, {
      queues: { rings: { maxWorkers: 50, pollIntervalMs: 20 } },
      ...withTimings({ maintenance: { rings: { intervalMs: 20 } } }),
    });
    const completions = new Map<number, number>();
    const errors: { where: string; error: unknown }[] = [];
    client.work(spin, () => null);
    client.on("completed", ({ job }) => {
      completions.set(job.id, (completions.get(job.id) ?? 0) + 1);
    });
    client.on("error", (e) => void errors.push(e));
    const inserted: number[] = [];
    let producing = true;
    let stopped = false;
    try {
      await client.start();
      const producer = (async () => {
        let n = 0;
        while (producing) {
          const r = await insertMany(
            producerPool,
            spin,
            Array.from({ length: 20 }, () => ({ args: { n: n++ } })),
          );
          for (const id of r.ids) inserted.push(id!);
          await sleep(5);
        }
      })();
      const started = performance.now();
      await waitFor(
        `queue ring generation ≥ ${target}`,
        // A bound, not a speed check: alone this takes about a minute; inside the parallel
        // suite on 2 cores, with every maintenance statement fenced, it has needed over two.
        async () => (await generation("queue")) >= target,
        240_000,
        100,
      );
      producing = false;
      await producer;
      const secs = (performance.now() - started) / 1000;
      await waitFor(
        "every inserted job completed",
        () => inserted.every((id) => completions.has(id)),
        30_000,
      );
      const stats = client.stats();
      await client.shutdown({ timeoutMs: 2000 });
      stopped = true;
      await pool.end({ timeout: 1 });
      await producerPool.end({ timeout: 1 });

      const gq = await generation("queue");
      const gc = await generation("claim");
      console.log(
        `${inserted.length} jobs, queue generation ${gq}, claim generation ${gc} in ` +
          `${secs.toFixed(1)} s`,
        stats.maintenance,
      );
      assert.ok(gq >= target);

      // No deadlock and no other internal error.
      const deadlocks = errors.filter((e) => (e.error as { code?: string })?.code === "40P01");
      assert.deepEqual(deadlocks, []);
      assert.deepEqual(errors, []);

      // No job lost, none completed twice, and the terminal counts agree.
      assert.equal(new Set(inserted).size, inserted.length);
      for (const id of inserted) assert.equal(completions.get(id), 1, `job ${id}`);
      assert.equal(completions.size, inserted.length);
      assert.equal(await terminalTotal(sql, "rings", "completed"), inserted.length);
      const { completed: _retained, ...open } = await statesOf(sql, "rings");
      assert.deepEqual(open, {});
      const [{ leftover }] = await sql<{ leftover: number }[]>`
        SELECT ((SELECT count(*) FROM awa.deferred_jobs) + (SELECT count(*) FROM awa.dlq_entries)
          + (SELECT count(*) FROM awa.attempt_state))::int AS leftover`;
      assert.equal(leftover, 0);

      // Ring tables: insert + truncate only. Wait until the exited backends' stats are flushed.
      await waitFor(
        "ring insert stats flushed",
        async () => {
          const [{ ins }] = await sql<{ ins: number }[]>`
          SELECT coalesce(sum(n_tup_ins), 0)::int AS ins FROM pg_stat_user_tables
          WHERE schemaname = 'awa' AND relname ~ '^ready_entries_[0-9]+$'`;
          return ins >= inserted.length;
        },
        15_000,
        100,
      );
      const ring = await ringTupleStats(sql);
      console.log(
        `ring tables: n_dead_tup ${ring.dead}, n_tup_upd + n_tup_del ${ring.upd + ring.del} ` +
          `(n_tup_ins ${ring.ins})`,
        ring.byTable,
      );
      assert.equal(ring.upd + ring.del, 0, JSON.stringify(ring.byTable));
    } finally {
      producing = false;
      if (!stopped) await client.shutdown({ timeoutMs: 1000 });
    }
  },
});

Deno.test({ name: "close database", ...POOL_TEST, fn: () => t.close() });
