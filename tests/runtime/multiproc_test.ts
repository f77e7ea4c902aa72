/**
 * Two worker processes and two producers on one queue: every job completes exactly once in
 * effect, no two attempts of a job overlap in time, nothing is lost.
 */
import assert from "node:assert/strict";
import process from "node:process";
import { defineJob, insertMany } from "../../mod.ts";
import { testDatabase } from "../support/db.ts";
import {
  Fixture,
  POOL_TEST,
  statesOf,
  terminalTotal,
  waitFor,
  withTimings,
} from "../support/runtime.ts";

const t = await testDatabase("runtime_multiproc");
const sql = t.sql;
const N = Number(process.env.AWA_MULTIPROC_JOBS ?? 20_000);
const work = defineJob<{ n: number }>("work", { queue: "bulk" });

Deno.test({
  name: `two worker processes, two producers, ${N} jobs: exactly one applied completion each`,
  ...POOL_TEST,
  async fn() {
    await sql`CREATE TABLE public.attempt_log (
      worker text, job_id bigint, run_lease bigint, started_at timestamptz,
      finished_at timestamptz, applied boolean)`;
    // Heartbeat staleness well above any flush delay on a loaded 2-core box; the other timings
    // stay short so rotation and prune run throughout.
    const timings = JSON.stringify(withTimings({
      heartbeat: { intervalMs: 1000, stalenessMs: 10_000 },
      maintenance: { rings: { intervalMs: 100 } },
    }));
    const workers = [
      new Fixture("worker.ts", [t.url, "log", "bulk", "w1", timings]),
      new Fixture("worker.ts", [t.url, "log", "bulk", "w2", timings]),
    ];
    try {
      await Promise.all(workers.map((w) => w.line((l) => l.ready === true)));
      const started = performance.now();
      const producers = [t.connect({ max: 2 }), t.connect({ max: 2 })];
      const ids: number[] = [];
      const chunk = 500;
      await Promise.all(producers.map(async (p, k) => {
        for (let i = k * (N / 2); i < (k + 1) * (N / 2); i += chunk) {
          const n = Math.min(chunk, (k + 1) * (N / 2) - i);
          const r = await insertMany(
            p,
            work,
            Array.from({ length: n }, (_, j) => ({ args: { n: i + j } })),
          );
          for (const id of r.ids) ids.push(id!);
        }
      }));
      assert.equal(ids.length, N);
      assert.equal(new Set(ids).size, N);

      await waitFor(
        `${N} completions`,
        async () => (await terminalTotal(sql, "bulk", "completed")) >= N,
        120_000,
        200,
      );
      const secs = (performance.now() - started) / 1000;
      console.log(`${N} jobs in ${secs.toFixed(1)} s (${(N / secs).toFixed(0)} jobs/s)`);

      const statuses = await Promise.all(workers.map((w) => w.stop()));
      for (const s of statuses) assert.equal(s.code, 0);
      for (const w of workers) {
        const errs = w.lines.filter((l) => l.error !== undefined);
        assert.deepEqual(errs, [], "worker reported errors");
      }
      const stopped = workers.map((w) => w.lines.find((l) => l.stopped)!);
      console.log(stopped.map((s) => ({ attempts: s.attempts, stats: s.stats })));

      assert.equal(await terminalTotal(sql, "bulk", "completed"), N);
      const { completed: _retained, ...open } = await statesOf(sql, "bulk");
      assert.deepEqual(open, {}, "no job left in a non-terminal family");
      const [check] = await sql`
        SELECT
          (SELECT count(*) FROM attempt_log)::int AS attempts,
          (SELECT count(DISTINCT job_id) FROM attempt_log)::int AS jobs,
          (SELECT count(*) FROM attempt_log WHERE applied)::int AS applied,
          (SELECT count(*) FROM (SELECT job_id FROM attempt_log WHERE applied GROUP BY job_id
            HAVING count(*) <> 1) x)::int AS multi_applied,
          (SELECT count(*) FROM attempt_log a JOIN attempt_log b
            ON a.job_id = b.job_id AND a.run_lease < b.run_lease
            AND tstzrange(a.started_at, a.finished_at, '[]')
              && tstzrange(b.started_at, b.finished_at, '[]'))::int AS overlaps,
          (SELECT count(*) FROM attempt_log GROUP BY worker ORDER BY 1 LIMIT 1)::int AS min_per_worker`;
      console.log(check);
      assert.equal(check.jobs, N, "every job ran");
      assert.equal(check.applied, N, "exactly N applied completions");
      assert.equal(check.multi_applied, 0, "no job completed twice");
      assert.equal(check.overlaps, 0, "no two attempts of a job overlap");
      assert.ok(check.min_per_worker > 0, "both processes did work");
      const [{ missing }] = await sql<{ missing: number }[]>`
        SELECT count(*)::int AS missing FROM unnest(${ids}::bigint[]) i(id)
        WHERE NOT EXISTS (SELECT 1 FROM attempt_log a WHERE a.job_id = i.id AND a.applied)`;
      assert.equal(missing, 0);
    } finally {
      await Promise.all(workers.map((w) => w.kill()));
    }
  },
});

Deno.test({ name: "close database", ...POOL_TEST, fn: () => t.close() });
