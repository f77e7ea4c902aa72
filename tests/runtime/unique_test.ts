/**
 * Unique claims across the runtime: completing a job releases its claim only when `completed`
 * is not among the key's states; a retryable job keeps it. Unique and plain jobs share claim
 * batches, so the completion shortcut for batches without unique jobs must not leak here. A
 * mask without `running` releases the claim while the job runs: a duplicate is
 * accepted then, and when the first job comes back into its mask while the duplicate holds the
 * key, the first is cancelled.
 */
import assert from "node:assert/strict";
import { Client, defineJob, insert, type JobState, UniqueConflictError } from "../../mod.ts";
import { testDatabase } from "../support/db.ts";
import { jobState, POOL_TEST, TIMINGS, waitFor } from "../support/runtime.ts";

const t = await testDatabase("runtime_unique");
const sql = t.sql;

const job = defineJob<{ k: string; failOnce?: boolean }>("uq", { queue: "uq" });
const failedOnce = new Set<string>();
const client = new Client(t.connect(), { queues: { uq: { prefetch: 50 } }, ...TIMINGS });
client.work(job, (j) => {
  if (j.args.failOnce && !failedOnce.has(j.args.k)) {
    failedOnce.add(j.args.k);
    throw new Error("first attempt fails");
  }
  return Promise.resolve();
});

async function completed(id: number): Promise<boolean> {
  return (await jobState(sql, id))?.state === "completed";
}

Deno.test({ name: "start client", ...POOL_TEST, fn: () => client.start() });

Deno.test({
  name: "unique: completion releases the key unless completed is one of its states",
  ...POOL_TEST,
  async fn() {
    const released: { states: JobState[] } = {
      states: ["scheduled", "available", "running", "retryable"],
    };
    // Plain jobs in the same batches as the unique ones.
    for (let i = 0; i < 5; i++) await insert(sql, job, { k: `plain-${i}` });
    const a = (await insert(sql, job, { k: "release" }, { unique: { ...released } }))!;
    const b = (await insert(sql, job, { k: "keep" }, { unique: {} }))!;
    for (let i = 5; i < 10; i++) await insert(sql, job, { k: `plain-${i}` });
    await waitFor(
      "both unique jobs completed",
      async () => await completed(a.id) && completed(b.id),
    );

    const again = await insert(sql, job, { k: "release" }, { unique: { ...released } });
    assert.ok(again && again.id !== a.id, "the key was released when the job completed");
    await assert.rejects(
      insert(sql, job, { k: "keep" }, { unique: {} }),
      UniqueConflictError,
      "the default states include completed: the key stays taken",
    );
    await waitFor("the re-inserted job completed", () => completed(again!.id));
  },
});

Deno.test({
  name: "unique: a retryable job keeps its key until it completes",
  ...POOL_TEST,
  async fn() {
    const states: { states: JobState[] } = { states: ["available", "running", "retryable"] };
    const j = (await insert(sql, job, { k: "retry", failOnce: true }, { unique: { ...states } }))!;
    await waitFor("first attempt failed", () => failedOnce.has("retry"));
    await waitFor(
      "job is retryable",
      async () => (await jobState(sql, j.id))?.state === "retryable",
    );
    await assert.rejects(
      insert(sql, job, { k: "retry", failOnce: true }, { unique: { ...states } }),
      UniqueConflictError,
    );
  },
});

/** A gate a handler can wait on; `open()` lets every waiter through. */
function gate(): { wait: () => Promise<void>; open: () => void } {
  let open!: () => void;
  const p = new Promise<void>((r) => open = r);
  return { wait: () => p, open };
}

Deno.test({
  name: "unique: a mask without running frees the key while the job runs; a retry that " +
    "finds it taken cancels the job",
  ...POOL_TEST,
  async fn() {
    const masked = defineJob<{ k: string }>("uq_mask", { queue: "uq_mask" });
    const states: { states: JobState[] } = { states: ["scheduled", "available"] };
    const g = gate();
    const started: number[] = [];
    const cancelled: { id: number; reason: string }[] = [];
    const worker = new Client(t.connect(), { queues: { uq_mask: {} }, ...TIMINGS });
    worker.work(masked, async (j) => {
      started.push(j.id);
      await g.wait();
      throw new Error("first attempt fails");
    });
    worker.on("cancelled", ({ job, reason }) => void cancelled.push({ id: job.id, reason }));
    await worker.start();
    try {
      const first = (await insert(sql, masked, { k: "m" }, { unique: { ...states } }))!;
      await waitFor("the first job runs", () => started.includes(first.id));
      // Running is not in the mask: the key is free while the first job runs.
      const dup = await insert(sql, masked, { k: "m" }, {
        unique: { ...states },
        runAt: new Date(Date.now() + 3_600_000),
      });
      assert.ok(dup && dup.id !== first.id, "a duplicate is accepted while the first runs");
      assert.equal((await jobState(sql, dup.id))?.state, "scheduled");

      // The first attempt fails: retryable → available would re-enter the mask, but the
      // scheduled duplicate holds the key, so the first job is cancelled instead.
      g.open();
      await waitFor(
        "the first job is cancelled",
        async () => (await jobState(sql, first.id))?.state === "cancelled",
      );
      const [{ errs }] = await sql<{ errs: { error: string }[] }[]>`
        SELECT errors AS errs FROM awa.jobs WHERE id = ${first.id}`;
      assert.equal(
        errs.at(-1)?.error,
        `cancelled: duplicate: unique key held by job ${dup.id}`,
      );
      const [{ outcome }] = await sql<{ outcome: string }[]>`
        SELECT c.outcome FROM awa.claim_closures c JOIN awa.claim_batches b
          ON b.claim_slot = c.claim_slot AND c.receipt_ranges @> (b.batch_id * 65536)
        WHERE ${first.id}::bigint = ANY(b.job_ids)`;
      assert.equal(outcome, "retry_duplicate_cancelled");
      await waitFor("the cancelled event", () => cancelled.some((c) => c.id === first.id));
      // The duplicate keeps its key.
      assert.equal((await jobState(sql, dup.id))?.state, "scheduled");
      await assert.rejects(
        insert(sql, masked, { k: "m" }, { unique: { ...states } }),
        UniqueConflictError,
      );
    } finally {
      g.open();
      await worker.shutdown({ timeoutMs: 2000 });
    }
  },
});

Deno.test({
  name: "unique: the default mask keeps the key while the job runs",
  ...POOL_TEST,
  async fn() {
    const held = defineJob<{ k: string }>("uq_default", { queue: "uq_default" });
    const g = gate();
    let running = false;
    const worker = new Client(t.connect(), { queues: { uq_default: {} }, ...TIMINGS });
    worker.work(held, async () => {
      running = true;
      await g.wait();
    });
    await worker.start();
    try {
      const first = (await insert(sql, held, { k: "d" }, { unique: {} }))!;
      await waitFor("the job runs", () => running);
      await assert.rejects(insert(sql, held, { k: "d" }, { unique: {} }), UniqueConflictError);
      g.open();
      await waitFor("the job completed", () => completed(first.id));
      await assert.rejects(insert(sql, held, { k: "d" }, { unique: {} }), UniqueConflictError);
    } finally {
      g.open();
      await worker.shutdown({ timeoutMs: 2000 });
    }
  },
});

Deno.test({
  name: "stop client",
  ...POOL_TEST,
  async fn() {
    await client.shutdown({ timeoutMs: 2000 });
    await t.close();
  },
});
