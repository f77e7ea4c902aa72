/**
 * A worker process SIGKILLed after registering a callback and before parking: the attempt
 * is still `running` (not waiting), so heartbeat rescue ends it and the job runs again on
 * another worker; the old callback id then resolves nothing.
 */
import assert from "node:assert/strict";
import {
  CallbackNotFoundError,
  Client,
  completeExternal,
  defineJob,
  insert,
  resumeExternal,
} from "../../mod.ts";
import { testDatabase } from "../support/db.ts";
import { Fixture, jobState, POOL_TEST, TIMINGS, waitFor } from "../support/runtime.ts";

const t = await testDatabase("callbacks_crash");
const sql = t.sql;
const work = defineJob<unknown>("callback_work", { queue: "cbcrash" });

Deno.test({
  name: "SIGKILL before parking: the job is rescued and reruns, the old callback id is not found",
  ...POOL_TEST,
  async fn() {
    const fx = new Fixture("callback_worker.ts", [t.url, "cbcrash", JSON.stringify(TIMINGS)]);
    let client: Client | null = null;
    try {
      await fx.line((l) => l.ready === true);
      const job = await insert(sql, work, {});
      const reg = await fx.line((l) => l.job === job.id);
      const oldId = reg.registered as string;
      assert.equal((await jobState(sql, job.id))?.state, "running");
      await fx.kill("SIGKILL");
      assert.equal((await fx.child.status).signal, "SIGKILL");

      const newIds: string[] = [];
      client = new Client(t.connect(), { queues: { cbcrash: {} }, ...TIMINGS });
      client.work(work, async (_job, ctx) => {
        const id = await ctx.registerCallback({ timeoutMs: 60_000 });
        newIds.push(id);
        return ctx.park(id);
      });
      await client.start();
      await waitFor(
        "rerun parks on a new callback",
        async () =>
          newIds.length === 1 && (await jobState(sql, job.id))?.state === "waiting_external",
      );
      assert.notEqual(newIds[0], oldId);
      await assert.rejects(completeExternal(sql, oldId, "late"), CallbackNotFoundError);
      await assert.rejects(resumeExternal(sql, oldId, "late"), CallbackNotFoundError);
      assert.equal((await jobState(sql, job.id))?.state, "waiting_external", "nothing written");
      const done = await completeExternal(sql, newIds[0], "ok");
      assert.equal(done.state, "completed");
      const [{ attempt }] = await sql<{ attempt: number }[]>`
        SELECT attempt FROM awa.jobs WHERE id = ${job.id} AND state = 'completed'`;
      assert.equal(attempt, 2);
    } finally {
      await client?.shutdown();
      await fx.kill("SIGKILL").catch(() => {});
    }
  },
});

Deno.test({ name: "close database", ...POOL_TEST, fn: () => t.close() });
