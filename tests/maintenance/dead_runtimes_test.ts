/**
 * Dead runtimes (issue 9 item 10): the leader removes rows of `awa.runtime_instances` unseen
 * for `maintenance.runtimes.stalenessMs`; live runtimes stay, and a live runtime whose row went missing
 * lists itself again at its next heartbeat.
 */
import assert from "node:assert/strict";
import { Client, defineJob, ValidationError } from "../../mod.ts";
import { testDatabase } from "../support/db.ts";
import {
  Fixture,
  POOL_TEST,
  sleep,
  TIMINGS,
  type Timings,
  waitFor,
  withTimings,
} from "../support/runtime.ts";

const t = await testDatabase("maintenance_runtimes");
const sql = t.sql;
const job = defineJob<unknown>("rt_job", { queue: "rt" });

async function listed(id: string): Promise<boolean> {
  const [{ n }] = await sql<{ n: number }[]>`
    SELECT count(*)::int AS n FROM awa.runtime_instances WHERE instance_id = ${id}::uuid`;
  return n === 1;
}

function client(maintenance: boolean, timings: Timings = TIMINGS): Client {
  const c = new Client(t.connect(), {
    queues: { rt: {} },
    ...timings,
    ...(maintenance ? {} : { maintenance: false }),
  });
  c.work(job, () => {});
  return c;
}

Deno.test({
  name: "the leader removes a SIGKILLed runtime after the staleness; live runtimes stay",
  ...POOL_TEST,
  async fn() {
    const fixtureTimings = { heartbeat: { intervalMs: 200, stalenessMs: 600 } };
    const dead = new Fixture("worker.ts", [
      t.url,
      "block",
      "rt",
      "dead",
      JSON.stringify(fixtureTimings),
    ]);
    const live = client(false);
    const leader = client(
      true,
      withTimings({ maintenance: { runtimes: { stalenessMs: 1500, intervalMs: 100 } } }),
    );
    try {
      await dead.line((l) => l.ready === true);
      const [{ id: deadId }] = await sql<{ id: string }[]>`
        SELECT instance_id::text AS id FROM awa.runtime_instances WHERE pid <> ${Deno.pid}`;
      await live.start();
      await leader.start();
      await waitFor("leader elected", () => leader.isLeader);
      await dead.kill("SIGKILL");
      const killedAt = Date.now();
      await sleep(700);
      assert.equal(await listed(deadId), true, "not removed before the staleness");
      await waitFor("dead runtime removed", async () => !(await listed(deadId)), 15_000);
      const gone = Date.now() - killedAt;
      console.log(`SIGKILLed runtime's row removed ${gone} ms after the kill (staleness 1500 ms)`);
      assert.ok(gone >= 1000, `removed after ${gone} ms, before its heartbeats went stale`);
      await sleep(2000);
      assert.equal(await listed(live.instanceId), true, "live follower stays");
      assert.equal(await listed(leader.instanceId), true, "leader stays");
      assert.ok(leader.stats().maintenance!.runtimesRemoved >= 1);
    } finally {
      await dead.kill();
      await live.shutdown({ timeoutMs: 500 });
      await leader.shutdown({ timeoutMs: 500 });
    }
  },
});

Deno.test({
  name: "a live runtime whose row was removed lists itself again at its next heartbeat",
  ...POOL_TEST,
  async fn() {
    const c = client(false);
    try {
      await c.start();
      assert.equal(await listed(c.instanceId), true);
      await sql`DELETE FROM awa.runtime_instances WHERE instance_id = ${c.instanceId}::uuid`;
      await waitFor("listed again", () => listed(c.instanceId), 5000);
    } finally {
      await c.shutdown({ timeoutMs: 500 });
    }
    assert.equal(await listed(c.instanceId), false, "graceful shutdown removes the row");
  },
});

Deno.test({
  name: "runtime staleness and sweep interval are validated",
  ...POOL_TEST,
  fn() {
    const bad: [Timings, string][] = [
      [
        { heartbeat: { intervalMs: 1000 }, maintenance: { runtimes: { stalenessMs: 2999 } } },
        "maintenance.runtimes.stalenessMs",
      ],
      [{ maintenance: { runtimes: { intervalMs: 0 } } }, "maintenance.runtimes.intervalMs"],
      [{ maintenance: { runtimes: { stalenessMs: 1.5 } } }, "maintenance.runtimes.stalenessMs"],
    ];
    for (const [timings, field] of bad) {
      assert.throws(
        () => new Client(sql, { queues: { rt: {} }, ...timings }),
        (err: unknown) => err instanceof ValidationError && err.field === field,
        JSON.stringify(timings),
      );
    }
  },
});

Deno.test({ name: "close database", ...POOL_TEST, fn: () => t.close() });
