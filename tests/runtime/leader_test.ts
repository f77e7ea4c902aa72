/**
 * Maintenance leadership: when the leader's lock connection is terminated, leadership moves
 * within a few ticks and maintenance keeps working; a leader that shuts down hands over.
 */
import assert from "node:assert/strict";
import { Client, defineJob, insert } from "../../mod.ts";
import { testDatabase } from "../support/db.ts";
import { jobState, POOL_TEST, TIMINGS, waitFor } from "../support/runtime.ts";

const t = await testDatabase("runtime_leader");
const sql = t.sql;
const tick = defineJob<{ n: number }>("tick", { queue: "lead" });
const LEADER_KEY = "4708303813012965710";

/** Backends holding the leader's session advisory lock in this database. */
async function leaderPids(): Promise<number[]> {
  const rows = await sql<{ pid: number }[]>`
    SELECT l.pid FROM pg_locks l
    JOIN pg_stat_activity a ON a.pid = l.pid
    WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND ((l.classid::bigint << 32) | l.objid::bigint) = ${LEADER_KEY}::bigint`;
  return rows.map((r) => r.pid);
}

/** Instances flagged as leader in awa.runtime_instances. */
async function recordedLeaders(): Promise<string[]> {
  const rows = await sql<{ id: string }[]>`
    SELECT instance_id::text AS id FROM awa.runtime_instances WHERE leader ORDER BY 1`;
  return rows.map((r) => r.id);
}

Deno.test({
  name: "leader failover after pg_terminate_backend, then handover on shutdown",
  ...POOL_TEST,
  async fn() {
    const errors: { where: string; error: unknown }[] = [];
    const completed = new Set<number>();
    const make = (name: string) => {
      const c = new Client(t.connect(), { queues: { lead: {} }, ...TIMINGS });
      c.work(tick, () => name);
      c.on("completed", ({ job }) => void completed.add(job.id));
      c.on("error", (e) => void errors.push(e));
      return c;
    };
    const a = make("a");
    const b = make("b");
    try {
      await a.start();
      await waitFor("a leads", () => a.isLeader);
      await b.start();
      const [oldPid] = await waitFor("one lock holder", async () => {
        const p = await leaderPids();
        return p.length === 1 ? p : null;
      });
      assert.equal(b.isLeader, false);
      await waitFor(
        "runtime_instances shows a as leader",
        async () => JSON.stringify(await recordedLeaders()) === JSON.stringify([a.instanceId]),
      );

      // Maintenance works before the failover.
      // Inserted as scheduled (not yet due), so only the leader's promotion can run it; the
      // state comes from the insert itself, which a loaded machine cannot race.
      const j0 = await insert(sql, tick, { n: 0 }, { runAt: new Date(Date.now() + 1500) });
      assert.equal(j0.state, "scheduled");
      await waitFor("scheduled job promoted and completed", () => completed.has(j0.id));

      const [{ ok }] = await sql<{ ok: boolean }[]>`SELECT pg_terminate_backend(${oldPid}) AS ok`;
      assert.equal(ok, true);
      // Until the old leader notices, it still calls itself leader while its successor, holding
      // the lock already, waits at the fence: only then is the one client that leads the new one.
      const newPid = await waitFor("a new leader holds the lock", async () => {
        const p = await leaderPids();
        const leaders = [a, b].filter((c) => c.isLeader);
        const noticed = errors.some((e) => e.where === "leader connection lost");
        return noticed && p.length === 1 && p[0] !== oldPid && leaders.length === 1 ? p[0] : null;
      }, 10_000);
      const leader = a.isLeader ? a : b;
      const follower = leader === a ? b : a;
      await waitFor(
        "runtime_instances shows the new leader only",
        async () => JSON.stringify(await recordedLeaders()) === JSON.stringify([leader.instanceId]),
      );
      const elections = (c: Client) => c.stats().maintenance!.elections;
      assert.equal(elections(a) + elections(b), 2, "exactly one new election");
      console.log(`new leader: ${leader === a ? "a (re-elected)" : "b"}, backend ${newPid}`);
      assert.ok(
        errors.some((e) => e.where === "leader connection lost"),
        "the old leader noticed the dead connection",
      );

      // Maintenance keeps working under the new leader.
      const j1 = await insert(sql, tick, { n: 1 }, { runAt: new Date(Date.now() + 200) });
      await waitFor("scheduled job promoted after failover", () => completed.has(j1.id));
      assert.equal((await jobState(sql, j1.id))?.state, "completed");

      // The leader shuts down: the follower takes over at its next election.
      await leader.shutdown({ timeoutMs: 1000 });
      assert.equal(leader.isLeader, false);
      await waitFor("the follower leads", () => follower.isLeader, 10_000);
      assert.ok(elections(follower) >= 1);
      const [pid3] = await waitFor("lock holder after handover", async () => {
        const p = await leaderPids();
        return p.length === 1 ? p : null;
      });
      assert.notEqual(pid3, newPid);
      await waitFor(
        "runtime_instances shows the follower as leader",
        async () =>
          JSON.stringify(await recordedLeaders()) === JSON.stringify([follower.instanceId]),
      );
      const j2 = await insert(sql, tick, { n: 2 }, { runAt: new Date(Date.now() + 200) });
      await waitFor("scheduled job promoted after handover", () => completed.has(j2.id));

      // Only the expected error kinds: the lost connection, and what a killed pool reports.
      const unexpected = errors.filter((e) =>
        e.where !== "leader connection lost" &&
        !/57P01|terminat|CONNECTION/i.test(
          String((e.error as Error)?.message ?? e.error) +
            ((e.error as { code?: string })?.code ?? ""),
        )
      );
      assert.deepEqual(unexpected, []);
    } finally {
      await a.shutdown({ timeoutMs: 1000 });
      await b.shutdown({ timeoutMs: 1000 });
    }
  },
});

Deno.test({ name: "close database", ...POOL_TEST, fn: () => t.close() });
