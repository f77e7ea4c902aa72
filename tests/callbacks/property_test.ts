/**
 * Property: callback resolution (correctness/specs/AwaCallbacks.tla) under random interleavings
 * against real Postgres. Each run parks one job on a callback (after superseding an earlier
 * registration), then fires a random set of calls at once from four connections: complete,
 * fail, retry, heartbeat, resume, cancelCallback, a forced timeout scan, an operator cancel, and
 * resolutions with the superseded id. Afterwards: at most one resolution (or the timeout) ended
 * the attempt, the job's state is the one it reported (cancelled when an operator cancel came
 * first or after a retry; still waiting_external when nothing ended it), the superseded
 * id never resolved anything, every refused call got a typed error, and the callback id
 * resolves nothing once the attempt ended.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  admin,
  CallbackNotFoundError,
  cancelCallback,
  completeExternal,
  defineJob,
  failExternal,
  heartbeatCallback,
  insert,
  JobNotFoundError,
  JobStateError,
  resumeExternal,
  retryExternal,
  ValidationError,
} from "../../mod.ts";
import { fcSettings } from "../../correctness/property/run.ts";
import { toExecutor } from "../../src/db/executor.ts";
import { parkCallback, registerCallback } from "../../src/storage/callbacks.ts";
import { storeOf } from "../../src/storage/store.ts";
import { testDatabase } from "../support/db.ts";
import { jobState, receiptOfJob } from "../support/runtime.ts";

const OPS = [
  "complete",
  "fail",
  "retry",
  "heartbeat",
  "resume",
  "cancelCallback",
  "timeout",
  "adminCancel",
  "staleComplete",
] as const;
type Op = typeof OPS[number];

const callsArb = fc.array(
  fc.record({
    op: fc.constantFrom(...OPS),
    conn: fc.integer({ min: 0, max: 3 }),
    delayMs: fc.integer({ min: 0, max: 15 }),
  }),
  { minLength: 2, maxLength: 10 },
);

/** The state each ending call leaves the job in (max attempts 5, first attempt). */
const ENDS: Partial<Record<Op, string>> = {
  complete: "completed",
  fail: "failed",
  retry: "retryable",
  cancelCallback: "retryable",
  timeout: "retryable",
  adminCancel: "cancelled",
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test({
  name: "property: one resolution per callback, stale ids inert, under random concurrent calls",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const db = await testDatabase("callbacks_property");
    const pools = [0, 1, 2, 3].map(() => db.connect({ max: 3 }));
    const sql = db.sql;
    const store = storeOf(toExecutor(sql), "awa");
    const job = defineJob<unknown>("prop_cb", { queue: "prop", maxAttempts: 5 });
    try {
      const { seed, numRuns } = fcSettings("callbacks_property", 1313, 25);
      await fc.assert(
        fc.asyncProperty(callsArb, async (calls) => {
          const j = await insert(sql, job, {});
          await sql`SELECT job_id FROM awa.claim_batch('prop', 1, 0, 0, ${crypto.randomUUID()}::uuid)`;
          const r = (await receiptOfJob(sql, j.id))!;
          const ref = {
            claimSlot: r.claim_slot,
            batchId: r.batch_id,
            idx: r.idx,
            jobId: j.id,
            runLease: r.run_lease,
          };
          const exprs = { filter: null, onComplete: null, onFail: null, transform: null };
          const old = (await registerCallback(store, ref, 60, exprs))!;
          const id = (await registerCallback(store, ref, 60, exprs))!;
          assert.notEqual(old, id);
          assert.equal(await parkCallback(store, ref, old, null), "no_callback");
          assert.equal(await parkCallback(store, ref, id, null), "parked");

          const run = async (op: Op, pool: typeof sql): Promise<string | null> => {
            switch (op) {
              case "complete":
                return (await completeExternal(pool, id, { by: "prop" })).state;
              case "fail":
                return (await failExternal(pool, id, "prop failure")).state;
              case "retry":
                return (await retryExternal(pool, id)).state;
              case "heartbeat":
                await heartbeatCallback(pool, id, 60_000);
                return null;
              case "resume":
                await resumeExternal(pool, id, 1);
                return null;
              case "cancelCallback":
                return (await cancelCallback(pool, id)).state;
              case "timeout": {
                await pool`UPDATE awa.attempt_state SET callback_timeout_at = now() - interval '1 s'
                  WHERE callback_id = ${id}::uuid`;
                const rows = await pool<{ state: string }[]>`
                  SELECT state FROM awa.expire_callbacks(10) WHERE job_id = ${j.id}`;
                return rows[0]?.state ?? null;
              }
              case "adminCancel":
                return (await admin.cancelJob(pool, j.id)) ? "cancelled" : null;
              case "staleComplete":
                await completeExternal(pool, old, "stale");
                throw new Error("a superseded id resolved a callback");
            }
          };

          const outcomes = await Promise.all(calls.map(async (c) => {
            await sleep(c.delayMs);
            try {
              return { op: c.op, ended: await run(c.op, pools[c.conn]), error: null as unknown };
            } catch (error) {
              return { op: c.op, ended: null, error };
            }
          }));

          for (const o of outcomes) {
            if (o.error === null) continue;
            const typed = o.error instanceof CallbackNotFoundError ||
              (o.op === "resume" && o.error instanceof ValidationError) ||
              (o.op === "adminCancel" &&
                (o.error instanceof JobStateError || o.error instanceof JobNotFoundError));
            assert.ok(typed, `${o.op} failed untyped: ${o.error}`);
          }
          // Resolutions of the callback (and its timeout) end the attempt: at most one applies.
          // An operator cancel ends the job: the attempt, or the retryable job a resolution left.
          const enders = outcomes.filter((o) =>
            o.ended !== null && ENDS[o.op] !== undefined && o.op !== "adminCancel"
          );
          assert.ok(
            enders.length <= 1,
            `more than one call ended the attempt: ${JSON.stringify(enders.map((e) => e.op))}`,
          );
          for (const e of enders) assert.equal(e.ended, ENDS[e.op]);
          const cancelled = outcomes.some((o) => o.op === "adminCancel" && o.ended !== null);
          if (cancelled && enders.length === 1) {
            assert.equal(enders[0].ended, "retryable", "only a retryable job is left to cancel");
          }
          const state = (await jobState(sql, j.id))?.state;
          if (cancelled) assert.equal(state, "cancelled");
          else if (enders.length === 1) assert.equal(state, enders[0].ended);
          if (cancelled || enders.length === 1) {
            await assert.rejects(completeExternal(sql, id), CallbackNotFoundError);
          } else {
            assert.equal(state, "waiting_external");
            await completeExternal(sql, id);
          }
          await assert.rejects(completeExternal(sql, old), CallbackNotFoundError);
          // Leave no open attempt behind for the next run's claims.
          await sql`DELETE FROM awa.deferred_jobs WHERE job_id = ${j.id}`;
        }),
        { seed, numRuns },
      );
    } finally {
      await Promise.all(pools.map((p) => p.end()));
      await db.close();
    }
  },
});
