/**
 * Leadership across a server restart (issue 19 item 5): two clients run against an embedded
 * PostgreSQL that is stopped and started again. Every connection dies, the leader's lock with
 * them; after recovery exactly one client leads, and no maintenance step runs on a deposed
 * leader. Election failures during the outage back off and are reported sparsely.
 *
 * Every `awa.promote_due` call (the most frequent step) is logged with the client's
 * application name and whether a session of that client held the leader lock at the time.
 */
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import postgres from "postgres";
import { Client, defineJob, insert, migrate } from "../../mod.ts";
import { startEmbeddedPostgres } from "../../dev/embedded_postgres.ts";
import { jobState, POOL_TEST, sleep, waitFor, withTimings } from "../support/runtime.ts";

const server = await startEmbeddedPostgres();
const adminUrl = server.url;
const url = adminUrl.replace(/\/postgres$/, "/awa_outage");
{
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe("CREATE DATABASE awa_outage");
  await admin.end();
}
const sql = postgres(url, { max: 4, onnotice: () => {}, fetch_types: false });
await migrate(sql);
await sql.unsafe(`
  CREATE TABLE public.step_log (app text NOT NULL, held boolean NOT NULL,
    at timestamptz NOT NULL DEFAULT clock_timestamp());
  ALTER FUNCTION awa.promote_due(int) RENAME TO promote_due_unlogged;
  CREATE FUNCTION awa.promote_due(p_limit int DEFAULT 4096) RETURNS int LANGUAGE plpgsql AS $$
  BEGIN
    -- held: the leader lock is held by a session of this step's client.
    INSERT INTO public.step_log (app, held)
    SELECT current_setting('application_name'), EXISTS (
      SELECT 1 FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
      WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
        AND l.classid = oid((4708303813012965710::bigint >> 32) & 4294967295)
        AND l.objid = oid(4708303813012965710::bigint & 4294967295)
        AND a.application_name = current_setting('application_name'));
    RETURN awa.promote_due_unlogged(p_limit);
  END $$;`);
const [{ setting: dataDir }] = await sql<{ setting: string }[]>`
  SELECT setting FROM pg_settings WHERE name = 'data_directory'`;

const postmasterPid = () =>
  Number(fs.readFileSync(path.join(dataDir, "postmaster.pid"), "utf8").split("\n")[0]);

/** Fast shutdown of the running postmaster; resolves once it has gone. */
async function stopServer(): Promise<void> {
  Deno.kill(postmasterPid(), "SIGINT");
  await waitFor("postmaster gone", () => !fs.existsSync(path.join(dataDir, "postmaster.pid")));
}

/** Start the postmaster again with the command line it last ran with. */
async function startServer(): Promise<void> {
  const opts = fs.readFileSync(path.join(dataDir, "postmaster.opts"), "utf8").trim();
  const [bin, ...args] = [...opts.matchAll(/"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2]);
  const owner = Deno.uid() === 0
    ? {
      uid: Number(execFileSync("id", ["-u", "postgres"]).toString()),
      gid: Number(execFileSync("id", ["-g", "postgres"]).toString()),
    }
    : {};
  const child = spawn(bin, args, { ...owner, cwd: "/tmp", detached: true, stdio: "ignore" });
  child.unref();
  await waitFor(
    "server accepts connections",
    async () => {
      const probe = postgres(url, {
        max: 1,
        onnotice: () => {},
        fetch_types: false,
        connect_timeout: 2,
      });
      try {
        await probe`SELECT 1`;
        return true;
      } finally {
        await probe.end({ timeout: 0 });
      }
    },
    30_000,
    50,
  );
}

Deno.test({
  name: "after a server restart exactly one client leads and no deposed leader runs a step",
  ...POOL_TEST,
  async fn() {
    const timings = withTimings({
      maintenance: { leader: { pingMs: 1000 }, promote: { intervalMs: 20 } },
    });
    const tick = defineJob<{ n: number }>("tick", { queue: "outage" });
    const electionReports: Record<string, number> = { a: 0, b: 0 };
    const completed = new Set<number>();
    const make = (name: string) => {
      // No type lookup on connect: postgres.js leaves its rejection unhandled when a new
      // connection dies during the lookup (issue 19 item 4). A short reconnect backoff:
      // postgres.js's default grows to 20 s. Neither is what this test is about.
      const pool = postgres(url, {
        max: 4,
        onnotice: () => {},
        fetch_types: false,
        backoff: (n: number) => Math.min(0.05 * 2 ** n, 1),
        connection: { application_name: name },
      });
      const c = new Client(pool, { queues: { outage: {} }, ...timings });
      c.work(tick, () => name);
      c.on("completed", ({ job }) => void completed.add(job.id));
      c.on("error", (e) => {
        if (e.where === "leader election") electionReports[name]++;
      });
      return { c, pool };
    };
    const a = make("a");
    const b = make("b");
    const clients: Record<string, Client> = { a: a.c, b: b.c };
    let bothBelievedMs = 0;
    try {
      await a.c.start();
      await b.c.start();
      const first = await waitFor("one leader", () => {
        const l = Object.keys(clients).filter((k) => clients[k].isLeader);
        return l.length === 1 ? l[0] : null;
      });
      await sleep(300);

      await stopServer();
      const downAt = new Date();
      await sleep(3000);
      await startServer();
      const upAt = new Date();

      // Until leadership settles, measure how long both clients believed they led.
      let settled: string | null = null;
      for (let stableSince = 0; Date.now() - upAt.getTime() < 30_000;) {
        const leaders = Object.keys(clients).filter((k) => clients[k].isLeader);
        if (leaders.length === 2) bothBelievedMs += 25;
        if (leaders.length === 1 && leaders[0] === settled) {
          if (Date.now() - stableSince > 2500) break;
        } else {
          settled = leaders.length === 1 ? leaders[0] : null;
          stableSince = Date.now();
        }
        await sleep(25);
      }
      assert.ok(settled, "exactly one client leads after recovery");
      const leader = settled!;

      // The lock has one holder, and it is the leader's.
      const holders = await sql<{ app: string }[]>`
        SELECT a.application_name AS app FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
          AND l.classid = oid((4708303813012965710::bigint >> 32) & 4294967295)
          AND l.objid = oid(4708303813012965710::bigint & 4294967295)`;
      assert.deepEqual(holders.map((h) => h.app), [leader]);

      const [{ first: firstStep }] = await sql<{ first: Date | null }[]>`
        SELECT min(at) AS first FROM public.step_log WHERE at > ${upAt}`;
      const steps = await sql<{ app: string; n: number; deposed: number }[]>`
        SELECT app, count(*)::int AS n, count(*) FILTER (WHERE NOT held)::int AS deposed
        FROM public.step_log WHERE at > ${downAt} GROUP BY app ORDER BY app`;
      console.log(
        `leader before: ${first}, after: ${leader}; steps after the restart by client: ` +
          `${JSON.stringify(steps)}; first step ${
            firstStep!.getTime() - upAt.getTime()
          } ms after ` +
          `the server was up; both believed they led for ${bothBelievedMs} ms; ` +
          `election errors reported: ${JSON.stringify(electionReports)}`,
      );
      assert.deepEqual(
        steps.map((s) => s.deposed),
        steps.map(() => 0),
        "steps run by a client that did not hold the lock",
      );
      assert.deepEqual(steps.map((s) => s.app), [leader], "only the new leader ran steps");

      // Maintenance works under the settled leader.
      const j = await insert(sql, tick, { n: 1 }, { runAt: new Date(Date.now() + 300) });
      await waitFor("scheduled job promoted and completed", () => completed.has(j.id));
      assert.equal((await jobState(sql, j.id))?.state, "completed");
      // Three seconds of failed elections: a handful of reports, not one per attempt.
      for (const n of Object.values(electionReports)) assert.ok(n <= 8, `${n} reports`);
    } finally {
      const stopped = Promise.all([
        a.c.shutdown({ timeoutMs: 1000 }),
        b.c.shutdown({ timeoutMs: 1000 }),
      ]);
      await Promise.race([
        stopped,
        sleep(15_000).then(() => Promise.reject(new Error("shutdown hung"))),
      ]);
      await a.pool.end({ timeout: 1 });
      await b.pool.end({ timeout: 1 });
    }
  },
});

Deno.test({
  name: "stop the embedded server",
  ...POOL_TEST,
  async fn() {
    await sql.end({ timeout: 1 });
    if (fs.existsSync(path.join(dataDir, "postmaster.pid"))) await stopServer();
    await server.stop();
  },
});
