/**
 * Per-key concurrency limits on the real engine: admission at insert, release by every
 * terminal transition, retry and snooze keeping the slot, no head-of-line blocking, cancel of a
 * waiting job, live limit changes, and typed errors for bad configurations.
 */
import assert from "node:assert/strict";
import { defineJob, insert, insertMany, ValidationError } from "../../mod.ts";
import { cancelJob, getFlowControl, setConcurrencyLimit } from "../../admin.ts";
import { testDatabase } from "../support/db.ts";
import { POOL_TEST } from "../support/runtime.ts";
import { claim, finish, promote } from "./support.ts";

const t = await testDatabase("flow_keys");
const sql = t.sql;

const tenantJob = defineJob<{ tenant: string; n: number }>("tenant_job", {
  queue: "keyed",
  concurrencyKey: (a) => a.tenant,
  concurrency: { perKey: 1 },
});

Deno.test({
  name: "limit 1: one job per key at a time, other keys flow, completion admits the next",
  ...POOL_TEST,
  async fn() {
    const ids: Record<string, number[]> = { a: [], b: [] };
    for (let n = 0; n < 3; n++) {
      for (const tenant of ["a", "b"]) {
        ids[tenant].push((await insert(sql, tenantJob, { tenant, n })).id);
      }
    }
    const first = await claim(sql, "keyed");
    assert.deepEqual(first.map((c) => c.job_id).sort(), [ids.a[0], ids.b[0]].sort());
    assert.deepEqual(await claim(sql, "keyed"), [], "both keys are saturated");

    const a0 = first.find((c) => c.key === "a")!;
    await finish(sql, [a0]);
    const next = await claim(sql, "keyed");
    assert.deepEqual(next.map((c) => c.job_id), [ids.a[1]]);

    // A retry keeps the key's slot: b's next job does not start before b0 finished.
    const b0 = first.find((c) => c.key === "b")!;
    assert.deepEqual(await finish(sql, [b0], "retry", { delay_s: 0 }), ["retryable"]);
    await promote(sql);
    const again = await claim(sql, "keyed");
    assert.deepEqual(again.map((c) => [c.job_id, c.run_lease]), [[ids.b[0], 2]]);
    // Snooze keeps it too.
    assert.deepEqual(await finish(sql, again, "snooze", { delay_s: 0 }), ["scheduled"]);
    await promote(sql);
    const third = await claim(sql, "keyed");
    assert.deepEqual(third.map((c) => c.job_id), [ids.b[0]]);
    await finish(sql, [...third, ...next]);
    const last = await claim(sql, "keyed");
    assert.deepEqual(last.map((c) => c.job_id).sort(), [ids.a[2], ids.b[1]].sort());
    await finish(sql, last);
    const rest = await claim(sql, "keyed");
    assert.deepEqual(rest.map((c) => c.job_id), [ids.b[2]]);
    await finish(sql, rest);
    const flow = await getFlowControl(sql, "keyed");
    assert.equal(flow.admitted, 0);
    assert.equal(flow.waiting, 0);
  },
});

Deno.test({
  name: "a failed job and a cancelled one free their key; a waiting job can be cancelled",
  ...POOL_TEST,
  async fn() {
    const j = [0, 1, 2, 3].map((n) => ({ args: { tenant: "c", n } }));
    const { ids } = await insertMany(sql, tenantJob, j);
    const flow = await getFlowControl(sql, "keyed");
    assert.equal(flow.admitted, 1);
    assert.equal(flow.waiting, 3);
    assert.equal(await cancelJob(sql, ids[2]!), true);
    const c0 = await claim(sql, "keyed");
    assert.deepEqual(c0.map((c) => c.job_id), [ids[0]]);
    assert.deepEqual(await finish(sql, c0, "fail"), ["failed"]);
    const c1 = await claim(sql, "keyed");
    assert.deepEqual(c1.map((c) => c.job_id), [ids[1]]);
    await finish(sql, c1, "cancel");
    // ids[1] cancelled while running: ids[3] is next (ids[2] was cancelled while waiting).
    const c3 = await claim(sql, "keyed");
    assert.deepEqual(c3.map((c) => c.job_id), [ids[3]]);
    await finish(sql, c3);
  },
});

Deno.test({
  name: "cancelling a waiting job waits for its key's lock, so a release never loses its pick",
  ...POOL_TEST,
  async fn() {
    const held = await insert(sql, tenantJob, { tenant: "lk", n: 0 });
    const waiting = await insert(sql, tenantJob, { tenant: "lk", n: 1 });
    let cancelled: Promise<boolean> | undefined;
    let settled = false;
    await sql.begin(async (tx) => {
      // What a release holds while it picks the key's next waiters.
      await tx`SELECT awa.key_lock('keyed', 'lk')`;
      cancelled = cancelJob(sql, waiting.id).finally(() => (settled = true));
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(settled, false, "the cancel waits for the key");
    });
    assert.equal(await cancelled, true);
    const run = await claim(sql, "keyed");
    assert.deepEqual(run.map((c) => c.job_id), [held.id]);
    await finish(sql, run);
    assert.deepEqual(await claim(sql, "keyed"), [], "the cancelled job never runs");
  },
});

Deno.test({
  name: "a queue limit set live overrides the kind's and admits waiting jobs at once",
  ...POOL_TEST,
  async fn() {
    const { ids } = await insertMany(
      sql,
      tenantJob,
      [0, 1, 2, 3, 4].map((n) => ({ args: { tenant: "d", n } })),
    );
    assert.equal((await claim(sql, "keyed")).length, 1);
    const r = await setConcurrencyLimit(sql, "keyed", 3);
    assert.deepEqual(r, { queue: "keyed", perKey: 3, admitted: 2 });
    const more = await claim(sql, "keyed");
    assert.deepEqual(more.map((c) => c.job_id), [ids[1], ids[2]]);
    assert.deepEqual(await claim(sql, "keyed"), []);
    await setConcurrencyLimit(sql, "keyed", null);
    // Back to the kind's limit 1: three admitted, nothing more until they finish.
    assert.deepEqual(await claim(sql, "keyed"), []);
    await sql`SELECT 1`;
    const all = await sql<{ job_id: number }[]>`
      SELECT job_id::int FROM awa.key_admissions WHERE concurrency_key = 'd'`;
    assert.equal(all.length, 3);
    await finish(sql, more);
    assert.deepEqual(await claim(sql, "keyed"), [], "still over the limit of 1");
    await sql`DELETE FROM awa.key_admissions WHERE concurrency_key = 'd'`;
    await sql`DELETE FROM awa.key_waiting WHERE concurrency_key = 'd'`;
  },
});

Deno.test({
  name: "bad concurrency configurations are typed errors and write nothing",
  ...POOL_TEST,
  async fn() {
    assert.throws(() => defineJob("x", { concurrency: { perKey: 0 } }), ValidationError);
    assert.throws(
      () => defineJob("x", { concurrency: { perKey: 1.5 } }),
      ValidationError,
    );
    assert.throws(
      () => defineJob("x", { concurrencyKey: "tenant" as unknown as () => string }),
      ValidationError,
    );
    const bad = defineJob<{ t: unknown }>("bad_key", {
      queue: "keyed",
      concurrencyKey: (a) => a.t as string,
    });
    const before = await sql`SELECT count(*)::int AS n FROM awa.jobs`;
    await assert.rejects(insert(sql, bad, { t: 42 }), ValidationError);
    await assert.rejects(insert(sql, bad, { t: "" }), ValidationError);
    await assert.rejects(
      insert(sql, tenantJob, { tenant: "x", n: 0 }, { concurrencyKey: "y".repeat(201) }),
      ValidationError,
    );
    await assert.rejects(setConcurrencyLimit(sql, "keyed", 0), ValidationError);
    await assert.rejects(setConcurrencyLimit(sql, "keyed", 100_001), ValidationError);
    await assert.rejects(setConcurrencyLimit(sql, "", 2), ValidationError);
    await assert.rejects(
      sql.begin(
        "isolation level repeatable read",
        (tx) => insert(tx, tenantJob, { tenant: "rr", n: 0 }),
      ),
      ValidationError,
    );
    const after = await sql`SELECT count(*)::int AS n FROM awa.jobs`;
    assert.equal(after[0].n, before[0].n);
  },
});

Deno.test({ name: "close database", ...POOL_TEST, fn: () => t.close() });
