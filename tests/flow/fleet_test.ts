/**
 * Per-key limits across real worker processes, read from an attempts log each handler writes
 * (database clock timestamps at start and end), never from counters.
 */
import assert from "node:assert/strict";
import { defineJob, insert, insertMany } from "../../mod.ts";
import { setConcurrencyLimit } from "../../admin.ts";
import { testDatabase } from "../support/db.ts";
import { Fixture, POOL_TEST, sleep, waitFor, withTimings } from "../support/runtime.ts";

const t = await testDatabase("flow_fleet");
const sql = t.sql;
const keyed = (queue: string) => defineJob<{ key: string; n: number }>("keyed", { queue });

await sql`CREATE TABLE public.keyed_log (
  id bigserial PRIMARY KEY, worker text, job_id bigint, run_lease bigint, key text,
  started_at timestamptz, ended_at timestamptz)`;

/** Most attempts of one key open at any 50 ms sample of the log, over every key. */
async function maxRunningPerKeySampled(queueKeys: string): Promise<number> {
  const [{ m }] = await sql<{ m: number }[]>`
    WITH span AS (
      SELECT min(started_at) AS lo, max(coalesce(ended_at, clock_timestamp())) AS hi
      FROM public.keyed_log WHERE key LIKE ${queueKeys}
    ), samples AS (
      SELECT generate_series(span.lo, span.hi, interval '50 ms') AS at FROM span
    )
    SELECT coalesce(max(n), 0)::int AS m FROM (
      SELECT s.at, l.key, count(*) AS n FROM samples s
      JOIN public.keyed_log l ON l.key LIKE ${queueKeys} AND l.started_at <= s.at
        AND coalesce(l.ended_at, 'infinity') > s.at
      GROUP BY s.at, l.key
    ) x`;
  return m;
}

/** Most attempts of one key open at once, exactly: at each start, the key's open attempts. */
async function maxRunningPerKeyExact(queueKeys: string): Promise<number> {
  const [{ m }] = await sql<{ m: number }[]>`
    SELECT coalesce(max((
      SELECT count(*) FROM public.keyed_log o
      WHERE o.key = l.key AND o.started_at <= l.started_at
        AND coalesce(o.ended_at, 'infinity') > l.started_at
    )), 0)::int AS m
    FROM public.keyed_log l WHERE l.key LIKE ${queueKeys}`;
  return m;
}

const timings = JSON.stringify(withTimings({ heartbeat: { intervalMs: 200, stalenessMs: 1500 } }));

Deno.test({
  name: "3 processes, 200 jobs over 10 keys, limit 2, 1 s handlers: never more than 2 per key",
  ...POOL_TEST,
  async fn() {
    await setConcurrencyLimit(sql, "fleet", 2);
    const workers = ["w1", "w2", "w3"].map((w) =>
      new Fixture("keyed_worker.ts", [t.url, "fleet", w, "1000", timings])
    );
    try {
      await Promise.all(workers.map((w) => w.line((l) => l.ready === true)));
      const jobs = Array.from({ length: 200 }, (_, n) => ({
        args: { key: `f${n % 10}`, n },
        concurrencyKey: `f${n % 10}`,
      }));
      await insertMany(sql, keyed("fleet"), jobs);
      await waitFor(
        "200 completions",
        async () => {
          const [{ n }] = await sql<{ n: number }[]>`
          SELECT count(*)::int AS n FROM public.keyed_log
          WHERE key LIKE 'f%' AND ended_at IS NOT NULL`;
          return n >= 200;
        },
        90_000,
        250,
      );
      assert.ok(await maxRunningPerKeySampled("f%") <= 2);
      assert.equal(await maxRunningPerKeyExact("f%"), 2, "the limit is reached, not exceeded");
      const [{ jobs: distinct, workers: used }] = await sql<{ jobs: number; workers: number }[]>`
        SELECT count(DISTINCT job_id)::int AS jobs, count(DISTINCT worker)::int AS workers
        FROM public.keyed_log WHERE key LIKE 'f%'`;
      assert.equal(distinct, 200);
      assert.ok(used >= 2, "the work spread over the fleet");
    } finally {
      await Promise.all(workers.map((w) => w.stop()));
    }
  },
});

Deno.test({
  name: "limit 1 with interleaved inserts: per-key execution order equals insert order",
  ...POOL_TEST,
  async fn() {
    await setConcurrencyLimit(sql, "fifo", 1);
    const workers = ["o1", "o2"].map((w) =>
      new Fixture("keyed_worker.ts", [t.url, "fifo", w, "30", timings])
    );
    try {
      await Promise.all(workers.map((w) => w.line((l) => l.ready === true)));
      const inserted: Record<string, number[]> = {};
      for (let n = 0; n < 60; n++) {
        const key = `o${(n * 7) % 3}`;
        const { id } = await insert(sql, keyed("fifo"), { key, n }, { concurrencyKey: key });
        (inserted[key] ??= []).push(id);
        if (n % 5 === 0) await sleep(20);
      }
      await waitFor(
        "60 completions",
        async () => {
          const [{ n }] = await sql<{ n: number }[]>`
          SELECT count(*)::int AS n FROM public.keyed_log
          WHERE key LIKE 'o%' AND ended_at IS NOT NULL`;
          return n >= 60;
        },
        60_000,
        100,
      );
      for (const [key, ids] of Object.entries(inserted)) {
        const rows = await sql<{ job_id: number }[]>`
          SELECT job_id::int FROM public.keyed_log WHERE key = ${key} ORDER BY started_at`;
        assert.deepEqual(rows.map((r) => r.job_id), ids, `order of key ${key}`);
      }
      assert.equal(await maxRunningPerKeyExact("o%"), 1);
    } finally {
      await Promise.all(workers.map((w) => w.stop()));
    }
  },
});

Deno.test({
  name: "SIGKILL mid-job at limit 1: rescue frees the key, no job of it ran concurrently",
  ...POOL_TEST,
  async fn() {
    await setConcurrencyLimit(sql, "kill", 1);
    const victim = new Fixture("keyed_worker.ts", [t.url, "kill", "victim", "60000", timings]);
    let survivor: Fixture | undefined;
    try {
      await victim.line((l) => l.ready === true);
      const { ids } = await insertMany(
        sql,
        keyed("kill"),
        [0, 1, 2].map((n) => ({ args: { key: "k", n }, concurrencyKey: "k" })),
      );
      await victim.line((l) => l.started === ids[0]);
      await victim.kill();
      survivor = new Fixture("keyed_worker.ts", [t.url, "kill", "survivor", "200", timings]);
      await survivor.line((l) => l.ready === true);
      await waitFor(
        "all three jobs completed by the survivor",
        async () => {
          const [{ n }] = await sql<{ n: number }[]>`
          SELECT count(DISTINCT job_id)::int AS n FROM public.keyed_log
          WHERE key = 'k' AND worker = 'survivor' AND ended_at IS NOT NULL`;
          return n === 3;
        },
        30_000,
        100,
      );
      const rows = await sql<{ job_id: number; worker: string; run_lease: number }[]>`
        SELECT job_id::int, worker, run_lease::int FROM public.keyed_log
        WHERE key = 'k' ORDER BY started_at`;
      assert.deepEqual(
        rows.map((r) => [r.job_id, r.worker]),
        [[ids[0], "victim"], [ids[0], "survivor"], [ids[1], "survivor"], [ids[2], "survivor"]],
        "the rescued job kept the key's slot and ran first; the others followed in order",
      );
      // The killed attempt's end is its rescue; after it, the survivor's attempts never overlap.
      const [{ m }] = await sql<{ m: number }[]>`
        SELECT coalesce(max((
          SELECT count(*) FROM public.keyed_log o
          WHERE o.key = 'k' AND o.worker = 'survivor' AND o.started_at <= l.started_at
            AND o.ended_at > l.started_at
        )), 0)::int AS m
        FROM public.keyed_log l WHERE l.key = 'k' AND l.worker = 'survivor'`;
      assert.equal(m, 1);
    } finally {
      await victim.kill();
      await survivor?.stop();
    }
  },
});

Deno.test({ name: "close database", ...POOL_TEST, fn: () => t.close() });
