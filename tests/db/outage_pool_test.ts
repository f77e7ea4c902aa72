/**
 * Pools built with `withNoDelay()` survive refused connections like plain postgres.js pools:
 * once the server is back, queries succeed again (issue 19, item 1). Runs its own embedded
 * PostgreSQL, which it stops and starts.
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { Client, defineJob, insert, migrate, withNoDelay } from "../../mod.ts";
import { startEmbeddedPostgres } from "../../dev/embedded_postgres.ts";
import { runtimePoolOptions } from "../../src/runtime/pool.ts";
import { POOL_TEST, sleep, TIMINGS, waitFor } from "../support/runtime.ts";
import { settleWithin, trackUncaughtErrors, trackUnhandledRejections } from "../support/outage.ts";

const unhandled = trackUnhandledRejections();
const uncaught = trackUncaughtErrors();
const server = await startEmbeddedPostgres();

Deno.test({
  name: "withNoDelay pool of 2: refused connections cost no pool slot",
  ...POOL_TEST,
  async fn() {
    const sql = postgres(server.url, withNoDelay({ max: 2, onnotice: () => {} }));
    try {
      await sql`SELECT 1`;
      await server.halt("fast");
      // More refused queries than the pool has connections: each must fail, none may hang.
      for (let i = 0; i < 6; i++) {
        const r = await settleWithin(sql`SELECT 1`, 5000);
        assert.equal(r.status, "rejected", `query ${i} while the server is down`);
      }
      await server.resume();
      const t0 = performance.now();
      const r = await settleWithin(sql`SELECT 1 AS one`, 5000);
      assert.equal(r.status, "fulfilled", `query after restart: ${r.status}`);
      console.log(
        `withNoDelay pool: first query after restart took ${
          (performance.now() - t0).toFixed(0)
        } ms`,
      );
      // Both slots work: two queries at once.
      const both = await settleWithin(
        Promise.all([sql`SELECT pg_sleep(0.05)`, sql`SELECT 2`]),
        5000,
      );
      assert.equal(both.status, "fulfilled");
    } finally {
      await sql.end({ timeout: 1 });
    }
    assert.deepEqual(unhandled, []);
  },
});

Deno.test({
  name: "Client from a URL (pool 2) works again after the server was down",
  ...POOL_TEST,
  async fn() {
    const admin = postgres(server.url, { max: 1, onnotice: () => {} });
    await migrate(admin);
    const job = defineJob<{ n: number }>("outage_pool_job", { queue: "outage_pool" });
    const done: number[] = [];
    const tags: unknown[] = [];
    const client = new Client(server.url, {
      queues: { outage_pool: { maxWorkers: 4, pollIntervalMs: 50 } },
      poolSize: 2,
      ...TIMINGS,
    });
    client.work(job, (j) => {
      tags.push(j.tags);
      return "ok";
    });
    client.on("completed", ({ job }) => void done.push(job.id));
    client.on("error", () => {});
    try {
      await client.start();
      const first = await insert(admin, job, { n: 1 }, { tags: ["a", "b,c"] });
      await waitFor("the first job completes", () => done.includes(first!.id));
      // The pool has no array type lookup: tags still arrive as an array.
      assert.deepEqual(tags[0], ["a", "b,c"]);
      await server.halt("fast");
      await sleep(1500); // claims, heartbeats and the leader hit refused connections
      await server.resume();
      const upAt = performance.now();
      const second = await insert(admin, job, { n: 2 });
      await waitFor(
        "a job inserted after the restart completes",
        () => done.includes(second!.id),
        15_000,
      );
      console.log(
        `Client from URL: job completed ${(performance.now() - upAt).toFixed(0)} ms after restart`,
      );
      const stop = await settleWithin(client.shutdown({ timeoutMs: 2000 }), 10_000);
      assert.equal(stop.status, "fulfilled", "shutdown finishes");
    } finally {
      await settleWithin(client.shutdown({ timeoutMs: 500 }), 10_000);
      await admin.end({ timeout: 1 });
    }
    assert.deepEqual(unhandled, []);
  },
});

Deno.test({
  name: "withNoDelay: a transaction or reserved connection whose backend dies fails, not crashes",
  ...POOL_TEST,
  async fn() {
    const sql = postgres(server.url, withNoDelay({ max: 2, onnotice: () => {} }));
    const killer = postgres(server.url, { max: 1, onnotice: () => {} });
    try {
      // A transaction: postgres.js sends its own ROLLBACK after the query fails.
      let pid = 0;
      const tx = sql.begin(async (t) => {
        pid = (await t<{ pid: number }[]>`SELECT pg_backend_pid() AS pid`)[0].pid;
        await t`SELECT pg_sleep(5)`;
      });
      await waitFor("the transaction's backend pid", () => pid);
      await killer`SELECT pg_terminate_backend(${pid})`;
      const r = await settleWithin(tx, 5000);
      assert.equal(r.status, "rejected", "the transaction fails");
      // A reserved connection whose backend dies: its query fails and nothing crashes. It is
      // not released: postgres.js 3.4.9's release() puts a connection that has closed back
      // among the open ones, and queries the pool hands it then hang (with a plain pool as
      // well); a dead session is left to postgres.js, which moves it to its closed
      // connections and reconnects it on demand. The executor's reserve() does the same.
      const conn = await sql.reserve();
      const [{ pid: rpid }] = await conn<{ pid: number }[]>`SELECT pg_backend_pid() AS pid`;
      const slow = conn`SELECT pg_sleep(5)`;
      await sleep(50);
      await killer`SELECT pg_terminate_backend(${rpid})`;
      assert.equal((await settleWithin(slow, 5000)).status, "rejected");
      // Queries handed to the dead connection fail (transient errors); none hangs, and the
      // pool answers again right after.
      const first = await settleWithin(Promise.allSettled([sql`SELECT 1`, sql`SELECT 2`]), 5000);
      assert.equal(first.status, "fulfilled", "queries right after the kill settle");
      await waitFor("the pool answers on both connections", async () => {
        const r = await settleWithin(Promise.all([sql`SELECT 1`, sql`SELECT 2`]), 5000);
        assert.notEqual(r.status, "pending", "a query hangs");
        return r.status === "fulfilled";
      }, 3000);
      await sleep(200);
      assert.deepEqual(uncaught, [], "no uncaught exception");
    } finally {
      await sql.end({ timeout: 1 });
      await killer.end({ timeout: 1 });
    }
    await sleep(200);
    assert.deepEqual(unhandled, [], "no unhandled rejection");
  },
});

Deno.test({
  name: "runtime pools under a 1 ms statement_timeout: new connections reject nothing unhandled",
  ...POOL_TEST,
  async fn() {
    const admin = postgres(server.url, { max: 1, onnotice: () => {} });
    await admin`CREATE DATABASE awa_short_timeout`;
    await admin`ALTER DATABASE awa_short_timeout SET statement_timeout = '1ms'`;
    const u = new URL(server.url);
    u.pathname = "/awa_short_timeout";
    try {
      // Each fresh pool opens a new connection: the step postgres.js's type lookup runs on.
      for (let i = 0; i < 15; i++) {
        const sql = postgres(u.toString(), runtimePoolOptions(1));
        await settleWithin(sql`SELECT 1`, 2000);
        await sql.end({ timeout: 1 });
      }
      await sleep(100);
      assert.deepEqual(unhandled, [], "no unhandled rejection");
    } finally {
      await admin`DROP DATABASE awa_short_timeout WITH (FORCE)`;
      await admin.end({ timeout: 1 });
    }
  },
});

Deno.test({ name: "stop the server", ...POOL_TEST, fn: () => server.stop() });
