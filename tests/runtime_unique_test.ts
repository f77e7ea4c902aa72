/**
 * Unique claims across the runtime: completing a job releases its claim only when `completed`
 * is not among the key's states; a retryable job keeps it. Unique and plain jobs share claim
 * batches, so the completion shortcut for batches without unique jobs must not leak here.
 */
import assert from "node:assert/strict";
import { Client, defineJob, insert, type JobState, UniqueConflictError } from "../mod.ts";
import { testDatabase } from "./support/db.ts";
import { jobState, POOL_TEST, TIMINGS, waitFor } from "./runtime_support.ts";

const t = await testDatabase("runtime_unique");
const sql = t.sql;

const job = defineJob<{ k: string; failOnce?: boolean }>("uq", { queue: "uq" });
const failedOnce = new Set<string>();
const client = new Client(t.connect(), { queues: { uq: { prefetch: 50 } }, timings: TIMINGS });
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

Deno.test({
  name: "stop client",
  ...POOL_TEST,
  async fn() {
    await client.shutdown({ timeoutMs: 2000 });
    await t.close();
  },
});
