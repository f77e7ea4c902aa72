/**
 * Failed claims back off: the delay between retries grows (doubling from the poll interval,
 * at least 250 ms, up to 2 s while the database is unreachable and 30 s for lasting failures)
 * and resets after a claim succeeds. A table the claim reads is
 * renamed to make every claim fail, then renamed back.
 */
import assert from "node:assert/strict";
import { Client, DatabaseError, defineJob, insert } from "../../mod.ts";
import { claimRetryDelayMs } from "../../src/runtime/dispatcher.ts";
import { testDatabase } from "../support/db.ts";
import { POOL_TEST, sleep, TIMINGS, waitFor } from "../support/runtime.ts";

const t = await testDatabase("runtime_claim_backoff");
const sql = t.sql;

// The claim reads awa.queue_meta first; renaming it makes every claim fail (and invalidates
// the cached plans), renaming it back heals them.
async function breakClaims(): Promise<void> {
  await sql`ALTER TABLE awa.queue_meta RENAME TO queue_meta_off`;
}

async function restoreClaims(): Promise<void> {
  await sql`ALTER TABLE awa.queue_meta_off RENAME TO queue_meta`;
}

Deno.test({
  name: "claimRetryDelayMs doubles from the poll interval, caps at 2 s (transient) or 30 s",
  ...POOL_TEST,
  fn() {
    for (let i = 0; i < 200; i++) {
      const d1 = claimRetryDelayMs(1, 10);
      assert.ok(d1 >= 187 && d1 <= 250, `first retry ${d1}`);
      const d3 = claimRetryDelayMs(3, 1000);
      assert.ok(d3 >= 3000 && d3 <= 4000, `third retry ${d3}`);
      const d50 = claimRetryDelayMs(50, 200);
      assert.ok(d50 >= 22_500 && d50 <= 30_000, `capped ${d50}`);
      // An unreachable server: waiting longer than the pool's own reconnects only delays work
      // once the server is back.
      const t50 = claimRetryDelayMs(50, 200, true);
      assert.ok(t50 >= 1500 && t50 <= 2000, `transient cap ${t50}`);
      const t3 = claimRetryDelayMs(3, 100, true);
      assert.ok(t3 >= 750 && t3 <= 1000, `transient third retry ${t3}`);
      // A poll interval above the cap is kept: retries are never more frequent than polls.
      const tp = claimRetryDelayMs(9, 5000, true);
      assert.ok(tp >= 3750 && tp <= 5000, `transient, long poll ${tp}`);
    }
  },
});

Deno.test({
  name: "a failing claim loop backs off with growing gaps and resets after a success",
  ...POOL_TEST,
  async fn() {
    const job = defineJob<{ n: number }>("bo", { queue: "bo" });
    const client = new Client(t.connect(), {
      queues: { bo: { pollIntervalMs: 10 } },
      ...TIMINGS,
      maintenance: false,
    });
    const failures: { at: number; err: unknown }[] = [];
    client.on("error", (e) => {
      if (e.where === "claim bo") failures.push({ at: performance.now(), err: e.error });
    });
    const done = new Set<number>();
    client.on("completed", ({ job }) => void done.add(job.id));
    client.work(job, () => null);
    try {
      await client.start();
      await breakClaims();
      await sleep(4500);
      const gaps = failures.slice(1).map((f, i) => f.at - failures[i].at);
      console.log(`claim failures in 4.5 s: ${failures.length}; gaps ${gaps.map(Math.round)} ms`);
      // A steady 500 ms retry would fail 9 times here; 250, 500, 1000, 2000 ms fails 4–5 times.
      assert.ok(failures.length >= 3 && failures.length <= 6, `${failures.length} failures`);
      // Each scheduled delay is at least 0.75 × 250 ms × 2^i (jitter takes up to a quarter off);
      // a slow failing claim only adds to a gap, so the lower bounds are what can be asserted.
      for (let i = 0; i < gaps.length; i++) {
        const floor = Math.min(0.75 * 250 * 2 ** i, 1500);
        assert.ok(gaps[i] >= floor - 5, `gap ${i} ≥ ${floor} ms: ${gaps.map(Math.round)}`);
      }
      assert.ok(gaps.at(-1)! > 2.5 * gaps[0], `gaps grow: ${gaps.map(Math.round)}`);
      assert.ok(failures[0].err instanceof DatabaseError, String(failures[0].err));

      await restoreClaims();
      const j = await insert(sql, job, { n: 1 });
      await waitFor("job claimed once claims work", () => done.has(j!.id), 15_000);
      // Success resets the backoff: the next failures start again from the short delay.
      const before = failures.length;
      await breakClaims(); // the idle dispatcher polls every 10 ms: its next claim fails
      await waitFor("two more failures", () => failures.length >= before + 2, 5000);
      const gap = failures[before + 1].at - failures[before].at;
      // Without the reset the next delay would be ≥ 3 s; the reset one is ≤ 250 ms plus the
      // failing claim's own time, which a loaded machine stretches.
      assert.ok(gap < 1000, `first gap after a success is short again: ${Math.round(gap)} ms`);
    } finally {
      await restoreClaims().catch(() => {});
      await client.shutdown({ timeoutMs: 1000 });
    }
  },
});

Deno.test({ name: "close database", ...POOL_TEST, fn: () => t.close() });
