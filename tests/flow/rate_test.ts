/**
 * The fleet-wide rate limit: one token bucket in the database shared by every process; and the
 * bucket's semantics on the engine directly.
 */
import assert from "node:assert/strict";
import { defineJob, insertMany, ValidationError } from "../../mod.ts";
import { getFlowControl, setRateLimit } from "../../admin.ts";
import { testDatabase } from "../support/db.ts";
import { Fixture, POOL_TEST, sleep, waitFor, withTimings } from "../support/runtime.ts";
import { claim, finish } from "./support.ts";

const t = await testDatabase("flow_rate");
const sql = t.sql;
const keyed = (queue: string) => defineJob<{ key: string; n: number }>("keyed", { queue });

Deno.test({
  name: "a claim takes no more than the bucket holds; it refills with time",
  ...POOL_TEST,
  async fn() {
    await insertMany(
      sql,
      keyed("bucket"),
      Array.from({ length: 50 }, (_, n) => ({ args: { key: "-", n } })),
    );
    await setRateLimit(sql, "bucket", { count: 5, intervalMs: 1000 });
    const first = await claim(sql, "bucket", 100);
    assert.equal(first.length, 5, "a full bucket holds count tokens");
    assert.equal((await claim(sql, "bucket", 100)).length, 0, "empty right after");
    await sleep(450);
    const refill = await claim(sql, "bucket", 100);
    assert.ok(refill.length >= 2 && refill.length <= 3, `~2 tokens after 450 ms: ${refill.length}`);
    await setRateLimit(sql, "bucket", null);
    const rest = await claim(sql, "bucket", 100);
    assert.equal(rest.length, 50 - 5 - refill.length, "no limit: everything");
    await finish(sql, [...first, ...refill, ...rest]);
    assert.deepEqual((await getFlowControl(sql, "bucket")).rateLimit, null);
  },
});

Deno.test({
  name: "bad rate limits are typed errors",
  ...POOL_TEST,
  async fn() {
    for (
      const bad of [
        { count: 0 },
        { count: 1.5 },
        { count: 10, intervalMs: 0 },
        { count: 10, intervalMs: 86_400_001 },
        { count: 10, every: 5 },
        "10/s",
      ]
    ) {
      await assert.rejects(
        setRateLimit(sql, "bucket", bad as unknown as { count: number }),
        ValidationError,
        JSON.stringify(bad),
      );
    }
    await assert.rejects(setRateLimit(sql, "no such/queue", { count: 1 }), ValidationError);
    assert.deepEqual((await getFlowControl(sql, "bucket")).rateLimit, null);
  },
});

Deno.test({
  name: "2 processes share a fleet-wide rate limit of 20 per second within 10% over 30 s",
  ...POOL_TEST,
  async fn() {
    await sql`CREATE TABLE public.keyed_log (
      id bigserial PRIMARY KEY, worker text, job_id bigint, run_lease bigint, key text,
      started_at timestamptz, ended_at timestamptz)`;
    const count = 20;
    await setRateLimit(sql, "rated", { count, intervalMs: 1000 });
    await insertMany(
      sql,
      keyed("rated"),
      Array.from({ length: 2000 }, (_, n) => ({ args: { key: "-", n } })),
    );
    const timings = JSON.stringify(withTimings({}));
    const workers = ["r1", "r2"].map((w) =>
      new Fixture("keyed_worker.ts", [t.url, "rated", w, "0", timings])
    );
    try {
      await Promise.all(workers.map((w) => w.line((l) => l.ready === true)));
      // The first claims spend the initial burst; measure the steady rate after it.
      await waitFor(
        "the burst is spent",
        async () => {
          const [{ n }] = await sql<
            { n: number }[]
          >`SELECT count(*)::int AS n FROM public.keyed_log`;
          return n >= count;
        },
        20_000,
        50,
      );
      const [{ from }] = await sql<{ from: Date }[]>`SELECT clock_timestamp() AS from`;
      await sleep(30_000);
      const [{ n, workers: used }] = await sql<{ n: number; workers: number }[]>`
        SELECT count(*)::int AS n, count(DISTINCT worker)::int AS workers FROM public.keyed_log
        WHERE started_at >= ${from} AND started_at < ${from}::timestamptz + interval '30 s'`;
      const expected = count * 30;
      assert.ok(
        Math.abs(n - expected) <= expected * 0.1,
        `${n} claims in 30 s, expected ${expected} ± 10%`,
      );
      assert.equal(used, 2, "both processes claimed");
    } finally {
      await Promise.all(workers.map((w) => w.stop()));
    }
  },
});

Deno.test({ name: "close database", ...POOL_TEST, fn: () => t.close() });
