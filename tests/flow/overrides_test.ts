/**
 * Live overrides: the admin calls (validation, set, clear, list), how a Client merges them over
 * its code config, the refresh interval's environment variable, and running Clients retuned
 * without a restart — by notification and by the periodic refresh.
 */
import assert from "node:assert/strict";
import { Client, defineJob, insertMany, ValidationError } from "../../mod.ts";
import { getQueueOverrides, listQueueOverrides, setQueueOverrides } from "../../admin.ts";
import { resolveQueue } from "../../src/runtime/options.ts";
import { effectiveConfig, overrideRefreshMs } from "../../src/runtime/overrides.ts";
import { testDatabase } from "../support/db.ts";
import { POOL_TEST, sleep, TIMINGS, waitFor } from "../support/runtime.ts";

const t = await testDatabase("flow_overrides");
const sql = t.sql;

Deno.test({
  name: "admin: set, merge, clear with null, list; bad input writes nothing",
  ...POOL_TEST,
  async fn() {
    assert.deepEqual(await getQueueOverrides(sql, "ov_admin"), {
      queue: "ov_admin",
      pollIntervalMs: null,
      claimBatchSize: null,
      rateLimit: null,
      deadlineMs: null,
    });
    let info = await setQueueOverrides(sql, "ov_admin", { pollIntervalMs: 500, claimBatchSize: 8 });
    assert.equal(info.pollIntervalMs, 500);
    assert.equal(info.claimBatchSize, 8);
    info = await setQueueOverrides(sql, "ov_admin", { rateLimit: { perSecond: 2.5 } });
    assert.deepEqual(info.rateLimit, { perSecond: 2.5, burst: null });
    assert.equal(info.pollIntervalMs, 500, "an absent key keeps its stored value");
    info = await setQueueOverrides(sql, "ov_admin", { pollIntervalMs: null, deadlineMs: 60_000 });
    assert.equal(info.pollIntervalMs, null);
    assert.equal(info.deadlineMs, 60_000);
    assert.deepEqual(await getQueueOverrides(sql, "ov_admin"), info);
    assert.deepEqual((await listQueueOverrides(sql)).map((o) => o.queue), ["ov_admin"]);

    const bad = async (overrides: unknown, field: string) =>
      await assert.rejects(
        setQueueOverrides(sql, "ov_admin", overrides as never),
        (e) => e instanceof ValidationError && e.field === field,
      );
    await bad({}, "overrides");
    await bad({ pollIntervalMs: 5 }, "overrides.pollIntervalMs");
    await bad({ claimBatchSize: 0 }, "overrides.claimBatchSize");
    await bad({ claimBatchSize: 2.5 }, "overrides.claimBatchSize");
    await bad({ deadlineMs: 0 }, "overrides.deadlineMs");
    await bad({ rateLimit: { burst: 3 } }, "overrides.rateLimit.perSecond");
    await bad({ rateLimit: { perSecond: 0 } }, "overrides.rateLimit.perSecond");
    await bad({ rateLimit: { perSecond: 1, burst: 0 } }, "overrides.rateLimit.burst");
    await bad({ maxWorkers: 3 }, "overrides.maxWorkers");
    await assert.rejects(
      setQueueOverrides(sql, "", { claimBatchSize: 1 }),
      (e) => e instanceof ValidationError && e.field === "queue",
    );
    assert.deepEqual(await getQueueOverrides(sql, "ov_admin"), info, "nothing was written");

    await setQueueOverrides(sql, "ov_admin", {
      rateLimit: null,
      claimBatchSize: null,
      deadlineMs: null,
    });
    assert.deepEqual(await listQueueOverrides(sql), [], "a queue without overrides has no row");
  },
});

Deno.test("effectiveConfig: overrides beat code config; rate and deadline never cross zero", () => {
  const row = {
    queue: "q",
    poll_interval_ms: 1000,
    claim_batch_size: 7,
    rate_per_second: 2.5,
    rate_burst: null,
    deadline_ms: 1234,
  };
  const limited = resolveQueue("q", { rateLimit: { perSecond: 100 } });
  const eff = effectiveConfig(limited, row);
  assert.equal(eff.pollIntervalMs, 1000);
  assert.equal(eff.claimBatchSize, 7);
  assert.deepEqual(eff.rateLimit, { perSecond: 2.5, burst: 3 }, "burst derived from the rate");
  assert.equal(eff.deadlineMs, 1234);
  assert.equal(eff.maxWorkers, limited.maxWorkers, "what overrides do not cover stays");
  const plain = resolveQueue("q", { deadlineMs: 0 });
  const eff2 = effectiveConfig(plain, row);
  assert.equal(eff2.rateLimit, null, "no limiter in code: a rate override does not add one");
  assert.equal(eff2.deadlineMs, 0, "deadlines off in code stay off");
  assert.deepEqual(effectiveConfig(limited, undefined), limited);
});

Deno.test("AWA_OVERRIDE_REFRESH_MS: default 10 s, floor 50 ms, typed error for junk", () => {
  const was = Deno.env.get("AWA_OVERRIDE_REFRESH_MS");
  try {
    Deno.env.delete("AWA_OVERRIDE_REFRESH_MS");
    assert.equal(overrideRefreshMs(), 10_000);
    Deno.env.set("AWA_OVERRIDE_REFRESH_MS", "10");
    assert.equal(overrideRefreshMs(), 50);
    Deno.env.set("AWA_OVERRIDE_REFRESH_MS", "750");
    assert.equal(overrideRefreshMs(), 750);
    Deno.env.set("AWA_OVERRIDE_REFRESH_MS", "soon");
    assert.throws(
      () => overrideRefreshMs(),
      (e) => e instanceof ValidationError && e.field === "AWA_OVERRIDE_REFRESH_MS",
    );
    assert.throws(
      () => new Client(sql, { queues: { q: {} }, maintenance: false }),
      ValidationError,
    );
  } finally {
    if (was === undefined) Deno.env.delete("AWA_OVERRIDE_REFRESH_MS");
    else Deno.env.set("AWA_OVERRIDE_REFRESH_MS", was);
  }
});

Deno.test({
  name: "a running Client takes claim batch size and deadline overrides at once (notification)",
  ...POOL_TEST,
  async fn() {
    const job = defineJob<{ n: number }>("ov_live", { queue: "ov_live" });
    const deadlines: number[] = [];
    const client = new Client(t.connect(), { queues: { ov_live: { maxWorkers: 50 } }, ...TIMINGS });
    client.work(job, (j) => {
      deadlines.push(j.deadlineAt!.getTime() - Date.now());
    });
    try {
      await client.start();
      // The default refresh is 10 s: only the notification can make this quick.
      await setQueueOverrides(sql, "ov_live", { claimBatchSize: 4, deadlineMs: 60_000 });
      await sleep(1000);
      const before = client.stats();
      await insertMany(sql, job, Array.from({ length: 40 }, (_, n) => ({ args: { n } })));
      await waitFor("40 ran", () => deadlines.length === 40);
      const after = client.stats();
      const claimed = after.claimed - before.claimed;
      const claims = after.claims - before.claims;
      assert.equal(claimed, 40);
      assert.ok(claims >= 10, `${claims} claims took 40 jobs: at most 4 per claim`);
      assert.ok(
        deadlines.every((ms) => ms > 0 && ms <= 60_000),
        "deadlines come from the override (60 s), not the code's 5 min",
      );
    } finally {
      await client.shutdown({ timeoutMs: 5000 });
      await setQueueOverrides(sql, "ov_live", { claimBatchSize: null, deadlineMs: null });
    }
  },
});

Deno.test({
  name: "the periodic refresh retunes the rate limit, capping current tokens at the new burst",
  ...POOL_TEST,
  async fn() {
    const job = defineJob<{ n: number }>("ov_rate", { queue: "ov_rate" });
    let ran = 0;
    const was = Deno.env.get("AWA_OVERRIDE_REFRESH_MS");
    Deno.env.set("AWA_OVERRIDE_REFRESH_MS", "100");
    const client = new Client(t.connect(), {
      queues: { ov_rate: { rateLimit: { perSecond: 1000, burst: 1000 } } },
      ...TIMINGS,
    });
    if (was === undefined) Deno.env.delete("AWA_OVERRIDE_REFRESH_MS");
    else Deno.env.set("AWA_OVERRIDE_REFRESH_MS", was);
    client.work(job, () => {
      ran++;
    });
    try {
      await client.start();
      // Written without the admin call, so no notification: only the refresh can see it.
      await sql`INSERT INTO awa.queue_overrides (queue, rate_per_second, rate_burst)
        VALUES ('ov_rate', 0.5, 1)`;
      await sleep(1000);
      await insertMany(sql, job, Array.from({ length: 20 }, (_, n) => ({ args: { n } })));
      await sleep(1500);
      // A full bucket of 1000 would have run all 20; capped at burst 1 with 0.5/s refill, the
      // first job and at most one more have run.
      assert.ok(ran >= 1 && ran <= 2, `${ran} ran under the retuned limit`);
      await sql`DELETE FROM awa.queue_overrides WHERE queue = 'ov_rate'`;
      await waitFor("the code's limit is back and drains the rest", () => ran === 20);
    } finally {
      await client.shutdown({ timeoutMs: 5000 });
    }
  },
});

Deno.test({ name: "close database", ...POOL_TEST, fn: () => t.close() });
