/**
 * The notifier: schema-scoped channels (two schemas side by side in one database), re-listen
 * after the listen backend is terminated, and recovery from a LISTEN lost without the
 * connection closing (the probe notices the silence, LISTENs again and wakes the dispatchers).
 */
import assert from "node:assert/strict";
import { Client, defineJob, insert, JobCancelledError, migrate } from "../mod.ts";
import { Notifier } from "../src/runtime/notifier.ts";
import { testDatabase } from "./support/db.ts";
import { POOL_TEST, sleep, TIMINGS, waitFor, withTimings } from "./runtime_support.ts";

const t = await testDatabase("notifier");
const sql = t.sql;
await migrate(sql, { schema: "awa_b" });

/** Backends of this database whose last statement was a LISTEN. */
async function listenPids(): Promise<number[]> {
  const rows = await sql<{ pid: number }[]>`
    SELECT pid FROM pg_stat_activity
    WHERE datname = current_database() AND pid <> pg_backend_pid() AND query ILIKE 'listen%'`;
  return rows.map((r) => r.pid);
}

Deno.test({
  name: "notifier: notices of a topic arrive on the schema's channel, and resume after a kill",
  ...POOL_TEST,
  async fn() {
    const pool = t.connect();
    const got: string[] = [];
    let relistens = 0;
    const n = new Notifier(pool, "awa_b", { checkIntervalMs: 0 });
    try {
      await n.subscribe("q1", (p) => void got.push(p));
      n.onRelisten(() => relistens++);
      // awa_b's SQL names the same channel; the default schema's channel is another one.
      await sql`SELECT pg_notify(awa_b.notify_channel('q1'), 'b')`;
      await sql`SELECT pg_notify(awa.notify_channel('q1'), 'a')`;
      await waitFor("notice b", () => got.includes("b"));
      await sleep(100);
      assert.deepEqual(got, ["b"]);

      const [old] = await waitFor("a LISTEN backend", async () => {
        const p = await listenPids();
        return p.length === 1 ? p : null;
      });
      await sql`SELECT pg_terminate_backend(${old})`;
      await waitFor("re-listen hook ran", () => relistens === 1);
      await sql`SELECT pg_notify(awa_b.notify_channel('q1'), 'after')`;
      await waitFor("notice after re-listen", () => got.includes("after"));
    } finally {
      await n.close();
      await pool.end({ timeout: 1 });
    }
  },
});

Deno.test({
  name: "two schemas side by side: a cancel in one leaves the same job id and lease in the other",
  ...POOL_TEST,
  async fn() {
    const block = defineJob<{ s: string }>("block", { queue: "side" });
    const signals = new Map<string, AbortSignal>();
    const release = new Map<string, () => void>();
    const clients = ["awa", "awa_b"].map((schema) => {
      const c = new Client(t.connect(), { schema, queues: { side: {} }, ...TIMINGS });
      c.work(block, (_job, ctx) => {
        signals.set(schema, ctx.signal);
        return new Promise<string>((resolve) => {
          release.set(schema, () => resolve("done"));
          ctx.signal.addEventListener("abort", () => resolve("aborted"));
        });
      });
      return c;
    });
    const [a, b] = clients;
    const completedInA: number[] = [];
    a.on("completed", ({ job }) => void completedInA.push(job.id));
    try {
      for (const c of clients) await c.start();
      const ja = await insert(sql, block, { s: "a" });
      const jb = await insert(sql, block, { s: "b" }, { schema: "awa_b" });
      assert.equal(ja!.id, jb!.id, "per-schema sequences hand out the same id");
      await waitFor("both running", () => signals.size === 2);
      const [{ s }] = await sql`SELECT awa_b.cancel_job(${jb!.id}) AS s`;
      assert.equal(s, "cancelled");
      await waitFor("b aborted", () => signals.get("awa_b")!.aborted);
      assert.ok(signals.get("awa_b")!.reason instanceof JobCancelledError);
      // Give a mis-scoped notice every chance to arrive in the other schema.
      await sleep(500);
      assert.equal(signals.get("awa")!.aborted, false, "schema awa's job kept running");
      release.get("awa")!();
      await waitFor("a completes", () => completedInA.includes(ja!.id));
      assert.equal(b.stats().running, 0);
    } finally {
      for (const c of clients) await c.shutdown({ timeoutMs: 1000 });
    }
  },
});

Deno.test({
  name: "a silently lost LISTEN: the probe notices, listens again and wakes the dispatcher",
  ...POOL_TEST,
  async fn() {
    const pool = t.connect({ max: 4 });
    const ping = defineJob<{ n: number }>("ping", { queue: "probe_q" });
    const done = new Set<number>();
    const client = new Client(pool, {
      // Only notifications (or the re-listen wakeup) can start a job within the test.
      queues: { probe_q: { pollIntervalMs: 3_600_000 } },
      ...withTimings({ notifier: { checkIntervalMs: 200 } }),
      maintenance: false,
    });
    client.work(ping, () => null);
    client.on("completed", ({ job }) => void done.add(job.id));
    try {
      await client.start();
      const j0 = await insert(sql, ping, { n: 0 });
      await waitFor("notified job completes", () => done.has(j0!.id));
      // The connection stays up but hears nothing any more: what a half-open socket or a
      // re-listen that failed after reconnecting looks like. postgres.js cannot notice this;
      // its listen pool (max 1) runs the UNLISTEN on the listening connection itself.
      const listenPool = (pool.listen as unknown as { sql: typeof pool }).sql;
      await listenPool.unsafe("UNLISTEN *");
      // This job's NOTIFY reaches nobody: only the wakeup after the re-listen can start it.
      const j1 = await insert(sql, ping, { n: 1 });
      await waitFor("job completes after the probe re-listens", () => done.has(j1!.id), 15_000);
      const j2 = await insert(sql, ping, { n: 2 });
      await waitFor("notifications work again", () => done.has(j2!.id), 15_000);
    } finally {
      await client.shutdown({ timeoutMs: 1000 });
      await pool.end({ timeout: 1 });
    }
  },
});

Deno.test({ name: "close database", ...POOL_TEST, fn: () => t.close() });
