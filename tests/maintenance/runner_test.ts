/**
 * The service runner under the leader: services run only while their client leads, fenced to
 * its term; a lost lock stops them and the successor's run after every statement of the old
 * term; a failing tick is reported and waits longer each time; shutdown stops everything.
 * Any service object works: these tests run a probe service of their own.
 */
import assert from "node:assert/strict";
import { ValidationError } from "../../mod.ts";
import { toExecutor } from "../../src/db/executor.ts";
import {
  fencedSql,
  LEADER_LOCK_KEY,
  LeadershipLost,
  tryLeaderLock,
  unlockLeaderLock,
} from "../../src/maintenance/fence.ts";
import { openLockSession, resolveLeader } from "../../src/maintenance/leader.ts";
import { resolveMaintenance } from "../../src/maintenance/registry.ts";
import { MaintenanceRunner, type MaintenanceService } from "../../src/maintenance/service.ts";
import { storeOf } from "../../src/storage/store.ts";
import { testDatabase } from "../support/db.ts";
import { SETTINGS } from "../support/maintenance.ts";
import { POOL_TEST, sleep, waitFor } from "../support/runtime.ts";

const t = await testDatabase("maintenance_runner");
const sql = t.sql;
await sql`CREATE TABLE public.probe_log (runner text NOT NULL,
  at timestamptz NOT NULL DEFAULT clock_timestamp())`;

/** Backends holding the leader lock of schema `awa` in this database. */
async function lockHolders(): Promise<number[]> {
  const rows = await sql<{ pid: number }[]>`
    SELECT l.pid FROM pg_locks l
    WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND ((l.classid::bigint << 32) | l.objid::bigint) = ${LEADER_LOCK_KEY}::bigint`;
  return rows.map((r) => r.pid);
}

/** A service that logs each tick through the fenced store, or fails while `fail()` says so. */
function probe(
  name: string,
  fail: () => boolean = () => false,
): MaintenanceService<string, undefined, { intervalMs: number }, { ticks: number[] }> {
  return {
    name: "probe",
    resolve: () => ({ intervalMs: 20 }),
    newStats: () => ({ ticks: [] }),
    async tick(ctx, _options, stats) {
      stats.ticks.push(Date.now());
      if (fail()) throw new Error("probe failed");
      await ctx.store.run("probeLog", "INSERT INTO public.probe_log (runner) VALUES ($1)", [name]);
    },
  };
}

interface Probe {
  runner: MaintenanceRunner;
  ticks: number[];
  errors: string[];
  lockSql: ReturnType<typeof openLockSession>;
}

function runner(
  name: string,
  electionRetryMs: number,
  fail?: () => boolean,
  pool = sql,
): Probe {
  const service = probe(name, fail);
  const stats = service.newStats();
  const errors: string[] = [];
  const lockSql = openLockSession(t.url);
  const r = new MaintenanceRunner(
    {
      sql: pool,
      lockSql,
      schema: "awa",
      instanceId: crypto.randomUUID(),
      emitError: (err, where) => void errors.push(`${where}: ${err}`),
      emit: () => {},
    },
    resolveLeader({ electionRetryMs, pingMs: 100 }, "maintenance.leader"),
    [{ service, options: service.resolve(undefined, "maintenance.probe", SETTINGS) }],
    stats,
  );
  return { runner: r, ticks: stats.ticks, errors, lockSql };
}

async function stop(...ps: Probe[]): Promise<void> {
  for (const p of ps) {
    await p.runner.stop();
    await p.lockSql.end({ timeout: 1 });
  }
}

async function logged(name: string): Promise<Date[]> {
  const rows = await sql<{ at: Date }[]>`
    SELECT at FROM public.probe_log WHERE runner = ${name} ORDER BY at`;
  return rows.map((r) => r.at);
}

Deno.test({
  name:
    "runner: services run only under leadership, stop on a lost lock, resume under the successor",
  ...POOL_TEST,
  async fn() {
    // a retries elections only after a minute, so that b is the successor.
    const a = runner("a", 60_000);
    const b = runner("b", 100);
    try {
      a.runner.start();
      await waitFor("a leads", () => a.runner.isLeader);
      b.runner.start();
      await waitFor("a ticks", async () => (await logged("a")).length >= 5);
      assert.equal(b.runner.isLeader, false);
      assert.deepEqual(b.ticks, [], "a follower runs no service");
      assert.equal(b.runner.stats().elections, 0);

      const [pid] = await lockHolders();
      await sql`SELECT pg_terminate_backend(${pid})`;
      await waitFor("a notices", () => !a.runner.isLeader);
      assert.ok(a.errors.some((e) => e.startsWith("leader connection lost")), a.errors.join("\n"));
      await waitFor("b leads and ticks", async () => (await logged("b")).length >= 3);

      const aTicks = a.ticks.length;
      await sleep(300);
      assert.equal(a.ticks.length, aTicks, "a deposed runner starts no tick");
      // The successor passed the fence: every statement of the old term came before its own.
      const lastOfA = (await logged("a")).at(-1)!;
      const firstOfB = (await logged("b"))[0];
      assert.ok(lastOfA < firstOfB, `a logged at ${lastOfA.toISOString()} after b began`);
      assert.deepEqual(a.runner.stats(), { leader: false, elections: 1, ticks: a.ticks });
    } finally {
      await stop(a, b);
    }
    assert.deepEqual(await lockHolders(), [], "shutdown gave the lock back");
    const ticks = b.ticks.length;
    await sleep(100);
    assert.equal(b.ticks.length, ticks, "no tick after shutdown");
  },
});

Deno.test({
  name: "runner: a leader whose checks cannot answer stops calling itself leader",
  ...POOL_TEST,
  async fn() {
    // One pooled connection: a long statement on it holds back every check and every tick.
    const pool = t.connect({ max: 1 });
    const a = runner("hang", 60_000, undefined, pool);
    try {
      a.runner.start();
      await waitFor("it leads and ticks", async () => (await logged("hang")).length >= 2);
      const blocker = pool`SELECT pg_sleep(4)`.catch(() => {});
      const blockedAt = Date.now();
      // Unconfirmed for 3 ping intervals (at least 1 s) ends the term, long before the pool
      // answers again; a check that timed out must not count as a confirmation.
      await waitFor("it stops leading", () => !a.runner.isLeader, 3000);
      assert.ok(Date.now() - blockedAt < 3500, "deposed while the pool still hangs");
      await blocker;
    } finally {
      await stop(a);
      await pool.end({ timeout: 1 });
    }
  },
});

Deno.test({
  name: "runner: a failing tick is reported sparsely and waits twice as long each time",
  ...POOL_TEST,
  async fn() {
    let failing = true;
    const p = runner("f", 100, () => failing);
    try {
      p.runner.start();
      await waitFor("six failed ticks", () => p.ticks.length >= 6, 10_000);
      failing = false;
      // Interval 20 ms: after n failures the next tick waits 20 · 2^n ms (at most 2 s).
      const gaps = p.ticks.slice(1, 6).map((at, i) => at - p.ticks[i]);
      gaps.forEach((gap, i) => assert.ok(gap >= 20 * 2 ** (i + 1) - 2, `gaps ${gaps}`));
      const reports = p.errors.filter((e) => e.startsWith("maintenance probe: "));
      assert.ok(reports.length >= 4 && reports.length < p.ticks.length, p.errors.join("\n"));
      await waitFor("ticks succeed again", async () => (await logged("f")).length >= 3);
      assert.equal(p.runner.isLeader, true, "failures of a service do not cost leadership");
    } finally {
      await stop(p);
    }
  },
});

Deno.test({
  name: "fence: a statement of a deposed term is refused and changes nothing",
  ...POOL_TEST,
  async fn() {
    const lockSql = openLockSession(t.url);
    try {
      const term = await tryLeaderLock(lockSql, "awa");
      assert.ok(term);
      let current: typeof term | null = term;
      const store = storeOf(toExecutor(fencedSql(sql, () => current)), "awa");
      const insert = (runner: string) =>
        store.run("probeLog", "INSERT INTO public.probe_log (runner) VALUES ($1)", [runner]);
      await insert("fenced");
      await sql`SELECT pg_terminate_backend(${term.pid})`;
      await waitFor("lock released", async () => (await lockHolders()).length === 0);
      await assert.rejects(insert("fenced"), LeadershipLost);
      current = null;
      await assert.rejects(insert("fenced"), LeadershipLost);
      assert.equal((await logged("fenced")).length, 1);
      await unlockLeaderLock(lockSql).catch(() => {});
    } finally {
      await lockSql.end({ timeout: 1 });
    }
  },
});

Deno.test({
  name: "registry: maintenance options select and configure services, false turns one off",
  ...POOL_TEST,
  fn() {
    const names = (m: ReturnType<typeof resolveMaintenance>) =>
      m?.services.map((s) => s.service.name);
    assert.equal(resolveMaintenance(false, SETTINGS), null);
    assert.deepEqual(names(resolveMaintenance(true, SETTINGS)), [
      "promote",
      "rescue",
      "rings",
      "fold",
      "runtimes",
      "cache",
      "history",
      "dlq_cleanup",
      "cron",
      "callback_timeouts",
      "flow_prune",
    ]);
    const m = resolveMaintenance({ fold: false, promote: { intervalMs: 7 } }, SETTINGS)!;
    assert.deepEqual(names(m), [
      "promote",
      "rescue",
      "rings",
      "runtimes",
      "cache",
      "history",
      "dlq_cleanup",
      "cron",
      "callback_timeouts",
      "flow_prune",
    ]);
    assert.equal(m.services[0].options.intervalMs, 7);
    assert.deepEqual(m.leader, { electionRetryMs: 10_000, pingMs: 5000 });
    assert.ok("folds" in m.stats, "a service turned off still has its counters");
    for (
      const [input, field] of [
        [{ cronjobs: {} }, "maintenance.cronjobs"],
        [{ leader: { pingMs: 0 } }, "maintenance.leader.pingMs"],
        ["yes", "maintenance"],
      ] as const
    ) {
      assert.throws(
        () => resolveMaintenance(input, SETTINGS),
        (e: unknown) => e instanceof ValidationError && e.field === field,
        JSON.stringify(input),
      );
    }
  },
});

Deno.test({ name: "close database", ...POOL_TEST, fn: () => t.close() });
