/**
 * The promote service: due scheduled jobs become available, jobs not yet due stay; its
 * interval is validated, and a client with the service turned off promotes nothing.
 */
import assert from "node:assert/strict";
import { Client, defineJob, insert, ValidationError } from "../../mod.ts";
import { promote } from "../../src/maintenance/promote.ts";
import { testDatabase } from "../support/db.ts";
import { prepared, SETTINGS, tickContext } from "../support/maintenance.ts";
import { jobState, POOL_TEST, sleep, waitFor, withTimings } from "../support/runtime.ts";

const t = await testDatabase("maintenance_promote");
const sql = t.sql;

Deno.test({
  name: "promote: a tick makes due jobs available and leaves later ones scheduled",
  ...POOL_TEST,
  async fn() {
    const job = defineJob<{ n: number }>("pr_tick", { queue: "pr_tick" });
    const soon = new Date(Date.now() + 200);
    const due = [];
    for (let n = 0; n < 3; n++) due.push(await insert(sql, job, { n }, { runAt: soon }));
    const later = await insert(sql, job, { n: 9 }, { runAt: new Date(Date.now() + 3_600_000) });
    const p = prepared(promote, undefined, tickContext(sql));
    assert.equal(p.options.intervalMs, 250, "default interval");
    await sleep(300);
    assert.equal((await p.tick()).promoted, 3);
    for (const j of due) assert.equal((await jobState(sql, j.id))?.state, "available");
    assert.equal((await jobState(sql, later.id))?.state, "scheduled");
    assert.equal((await p.tick()).promoted, 3, "the next tick found nothing more due");
  },
});

Deno.test({
  name: "promote: intervalMs is an integer from 1 ms to 1 hour, unknown keys are refused",
  ...POOL_TEST,
  fn() {
    const field = "maintenance.promote";
    assert.deepEqual(promote.resolve({ intervalMs: 3_600_000 }, field, SETTINGS), {
      intervalMs: 3_600_000,
    });
    const bad: [unknown, string][] = [
      [{ intervalMs: 0 }, "maintenance.promote.intervalMs"],
      [{ intervalMs: 3_600_001 }, "maintenance.promote.intervalMs"],
      [{ intervalMs: 2.5 }, "maintenance.promote.intervalMs"],
      [{ interval: 5 }, "maintenance.promote.interval"],
      [7, "maintenance.promote"],
    ];
    for (const [input, path] of bad) {
      assert.throws(
        () => promote.resolve(input as never, field, SETTINGS),
        (e: unknown) => e instanceof ValidationError && e.field === path,
        JSON.stringify(input),
      );
    }
  },
});

Deno.test({
  name: "promote: a leading client with promote off promotes nothing; with it on, it does",
  ...POOL_TEST,
  async fn() {
    const job = defineJob<unknown>("pr_client", { queue: "pr_client" });
    const only = (promoteOption: false | { intervalMs: number }) =>
      new Client(t.connect(), {
        queues: { pr_client: {} },
        ...withTimings({
          maintenance: { promote: promoteOption, rescue: false, rings: false, fold: false },
        }),
      });
    const off = only(false);
    off.work(job, () => {});
    const j = await insert(sql, job, {}, { runAt: new Date(Date.now() + 100) });
    try {
      await off.start();
      await waitFor("off leads", () => off.isLeader);
      await sleep(600);
      assert.equal((await jobState(sql, j.id))?.state, "scheduled", "nobody promotes");
      assert.equal(off.stats().maintenance!.promoted, 0);
    } finally {
      await off.shutdown({ timeoutMs: 500 });
    }
    const on = only({ intervalMs: 20 });
    on.work(job, () => {});
    try {
      await on.start();
      await waitFor(
        "promoted and run",
        async () => (await jobState(sql, j.id))?.state === "completed",
      );
      assert.ok(on.stats().maintenance!.promoted >= 1);
    } finally {
      await on.shutdown({ timeoutMs: 500 });
    }
  },
});

Deno.test({ name: "close database", ...POOL_TEST, fn: () => t.close() });
