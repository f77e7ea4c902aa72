/**
 * The notifier: one LISTEN connection per database shared by every subscriber in the process,
 * channels LISTENed by reference count, schema-scoped topics (two schemas side by side in one
 * database), payload limits, re-listen after the LISTEN backend is terminated (work and
 * cancels still arrive), and recovery from a LISTEN lost without the connection closing (the
 * probe notices the silence, LISTENs again and wakes the dispatchers).
 *
 * Tests that own every pool they use run with Deno's sanitizers on: a closed notifier leaves
 * no timer, socket or pending operation behind.
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import {
  Client,
  defineJob,
  insert,
  JobCancelledError,
  migrate,
  ValidationError,
} from "../../mod.ts";
import {
  LISTEN_APPLICATION_NAME,
  listenSessionOf,
  MAX_PAYLOAD_BYTES,
  Notifier,
} from "../../src/db/notifier.ts";
import { testDatabase } from "../support/db.ts";
import { POOL_TEST, sleep, TIMINGS, waitFor, withTimings } from "../support/runtime.ts";

const t = await testDatabase("notifier");
await migrate(t.sql, { schema: "awa_b" });

/**
 * A pool the test ends itself: no idle or lifetime timers, so the sanitizers see only what
 * the notifier leaves behind.
 */
function ownPool(): postgres.Sql {
  return postgres(t.url, { max: 2, idle_timeout: 0, max_lifetime: 0, onnotice() {} });
}

/** Backends of the test database that are a notifier's LISTEN connection. */
async function listenBackends(sql: postgres.Sql): Promise<number[]> {
  const rows = await sql<{ pid: number }[]>`
    SELECT pid FROM pg_stat_activity
    WHERE datname = current_database() AND application_name = ${LISTEN_APPLICATION_NAME}
    ORDER BY pid`;
  return rows.map((r) => r.pid);
}

Deno.test("notifier: a topic's notices arrive on its schema's channel, from SQL and notify()", async () => {
  const pool = ownPool();
  try {
    const got: string[] = [];
    const b = new Notifier(pool, "awa_b", { checkIntervalMs: 0 });
    const a = new Notifier(pool, "awa", { checkIntervalMs: 0 });
    await using sub = await b.subscribe("q1", (p) => void got.push(p));
    assert.equal(sub.channel, "awa_b:q1");
    // awa_b's SQL names the same channel; the default schema's channel is another one.
    await pool`SELECT pg_notify(awa_b.notify_channel('q1'), 'sql b')`;
    await pool`SELECT pg_notify(awa.notify_channel('q1'), 'sql a')`;
    await b.notify("q1", "ts b");
    await a.notify("q1", "ts a");
    await waitFor("both notices of awa_b", () => got.length === 2);
    await sleep(100);
    assert.deepEqual(got.sort(), ["sql b", "ts b"]);
  } finally {
    await pool.end();
  }
});

Deno.test("notifier: payloads up to 7999 bytes arrive; longer ones and bad input are refused unsent", async () => {
  const pool = ownPool();
  try {
    const n = new Notifier(pool, "awa", { checkIntervalMs: 0 });
    const got: string[] = [];
    await using _sub = await n.subscribe("big", (p) => void got.push(p));
    const largest = "é".repeat((MAX_PAYLOAD_BYTES - 1) / 2) + "x";
    assert.equal(new TextEncoder().encode(largest).length, 7999);
    await n.notify("big", largest);
    await waitFor("the largest payload", () => got.length === 1);
    assert.equal(got[0], largest);

    // Postgres itself refuses 8000 bytes: the limit is the server's, checked before sending.
    await assert.rejects(pool`SELECT pg_notify('awa:big', ${"x".repeat(8000)})`, /too long/);
    const refused: [unknown, unknown, string][] = [
      ["big", "x".repeat(8000), "payload"],
      ["big", "é".repeat(4000), "payload"],
      ["big", "nul\u0000", "payload"],
      ["big", 42, "payload"],
      ["", "x", "topic"],
      ["q".repeat(60), "x", "topic"],
      [null, "x", "topic"],
    ];
    for (const [topic, payload, field] of refused) {
      await assert.rejects(
        n.notify(topic as string, payload as string),
        (err) => err instanceof ValidationError && err.field === field,
        `${String(topic).slice(0, 10)} / ${String(payload).slice(0, 10)}`,
      );
    }
    await assert.rejects(n.subscribe("big", null as never), ValidationError);
    assert.throws(() => new Notifier(pool, "awa", { checkIntervalMs: -1 }), ValidationError);
    assert.throws(() => new Notifier(pool, "Bad Schema"), ValidationError);
    assert.throws(() => new Notifier({} as never, "awa"), ValidationError);
    await sleep(100);
    assert.equal(got.length, 1, "nothing refused was sent");
  } finally {
    await pool.end();
  }
});

Deno.test("notifier: one LISTEN connection per pool; channels counted; the last unsubscribe closes it", async () => {
  const pool = ownPool();
  try {
    const a = new Notifier(pool, "awa", { checkIntervalMs: 0 });
    const b = new Notifier(pool, "awa_b", { checkIntervalMs: 0 });
    const first: string[] = [];
    const second: string[] = [];
    const s1 = await a.subscribe("t", (p) => void first.push(p));
    const s2 = await a.subscribe("t", (p) => void second.push(p));
    const s3 = await b.subscribe("t", () => {});
    const stats = a.stats();
    assert.equal(stats.channels, 2, "awa:t and awa_b:t");
    assert.equal(stats.subscriptions, 3);
    const pid = await waitFor("the backend pid", () => a.stats().backendPid);
    assert.deepEqual(await listenBackends(pool), [pid], "one connection for both schemas");
    assert.equal(b.stats().backendPid, pid);

    await s1.unsubscribe();
    await s1.unsubscribe(); // idempotent
    assert.equal(a.stats().channels, 2, "awa:t still has a subscriber");
    await a.notify("t", "one");
    await waitFor("the remaining subscriber hears it", () => second.length === 1);
    assert.deepEqual(first, []);

    await s2.unsubscribe();
    assert.equal(a.stats().channels, 1, "awa:t UNLISTENed");
    assert.equal(a.stats().backendPid, pid, "the connection stays for awa_b:t");

    await s3[Symbol.asyncDispose]();
    assert.deepEqual(
      { channels: a.stats().channels, pid: a.stats().backendPid },
      { channels: 0, pid: null },
    );
    await waitFor(
      "the LISTEN backend is gone",
      async () => (await listenBackends(pool)).length === 0,
    );
  } finally {
    await pool.end();
  }
});

Deno.test("notifier: a subscriber arriving while the last one leaves hears its notices", async () => {
  const pool = ownPool();
  try {
    const n = new Notifier(pool, "awa", { checkIntervalMs: 0 });
    for (let round = 0; round < 5; round++) {
      const old = await n.subscribe("hub", () => {});
      const oldPid = await waitFor("the old backend pid", () => n.stats().backendPid);
      // Not awaited: the old connection is still closing when the new subscriber arrives.
      const leaving = old.unsubscribe();
      const got: string[] = [];
      const fresh = await n.subscribe("hub", (p) => void got.push(p));
      const pid = await waitFor("the new backend pid", () => n.stats().backendPid);
      assert.notEqual(pid, oldPid, "a closing connection is never reused");
      await pool`SELECT pg_notify(awa.notify_channel('hub'), ${`r${round}`})`;
      await waitFor("the new subscriber hears it", () => got.length === 1);
      assert.deepEqual(got, [`r${round}`]);
      await leaving;
      await fresh.unsubscribe();
    }
    await waitFor("no LISTEN backend left", async () => (await listenBackends(pool)).length === 0);
  } finally {
    await pool.end();
  }
});

Deno.test("notifier: a subscription the server refuses fails and leaves no connection open", async () => {
  const url = new URL(t.url);
  url.pathname = "/awa_no_such_database";
  const n = new Notifier(url.toString(), "awa", { checkIntervalMs: 0 });
  await assert.rejects(n.subscribe("x", () => {}), /awa_no_such_database/);
  assert.equal(n.stats().backendPid, null);
  assert.equal(n.stats().subscriptions, 0);
});

Deno.test({
  name: "two schemas side by side: a cancel in one leaves the same job id and lease in the other",
  // First of the tests that insert jobs: both schemas' id sequences start at 1.
  async fn() {
    const pools = [ownPool(), ownPool()];
    const block = defineJob<{ s: string }>("block", { queue: "side" });
    const signals = new Map<string, AbortSignal>();
    const release = new Map<string, () => void>();
    const clients = ["awa", "awa_b"].map((schema) => {
      const c = new Client(pools[schema === "awa" ? 0 : 1], {
        schema,
        queues: { side: {} },
        ...TIMINGS,
      });
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
      const ja = await insert(pools[0], block, { s: "a" });
      const jb = await insert(pools[0], block, { s: "b" }, { schema: "awa_b" });
      assert.equal(ja!.id, jb!.id, "per-schema sequences hand out the same id");
      await waitFor("both running", () => signals.size === 2);
      const [{ s }] = await pools[0]`SELECT awa_b.cancel_job(${jb!.id}) AS s`;
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
      await Promise.all(pools.map((p) => p.end()));
    }
  },
});

Deno.test({
  name: "clients on one pool share one LISTEN connection, as do clients on one URL",
  async fn() {
    const pool = ownPool();
    const ping = defineJob<{ n: number }>("share_ping", { queue: "share_a" });
    const pong = defineJob<{ n: number }>("share_pong", { queue: "share_b" });
    const done = new Set<number>();
    const make = (db: postgres.Sql | string, queue: "share_a" | "share_b") => {
      const c = new Client(db, {
        queues: { [queue]: {} },
        heartbeat: TIMINGS.heartbeat,
        maintenance: false,
      });
      if (queue === "share_a") c.work(ping, () => null);
      else c.work(pong, () => null);
      c.on("completed", ({ job }) => void done.add(job.id));
      return c;
    };
    const clients = [
      make(pool, "share_a"),
      make(pool, "share_b"),
      make(t.url, "share_a"),
      make(t.url, "share_b"),
    ];
    try {
      for (const c of clients.slice(0, 2)) await c.start();
      assert.equal((await listenBackends(pool)).length, 1, "two clients on one pool");
      for (const c of clients.slice(2)) await c.start();
      assert.equal((await listenBackends(pool)).length, 2, "plus two clients on one URL");
      const jobs = [await insert(pool, ping, { n: 1 }), await insert(pool, pong, { n: 2 })];
      await waitFor("both queues served", () => jobs.every((j) => done.has(j.id)));
      await clients[0].shutdown({ timeoutMs: 1000 });
      assert.equal((await listenBackends(pool)).length, 2, "the pool's other client listens on");
      await Promise.all(clients.map((c) => c.shutdown({ timeoutMs: 1000 })));
      await waitFor(
        "shutdown of the last clients closes both connections",
        async () => (await listenBackends(pool)).length === 0,
      );
    } finally {
      await Promise.all(clients.map((c) => c.shutdown({ timeoutMs: 1000 })));
      await pool.end({ timeout: 1 });
    }
  },
});

Deno.test({
  name: "LISTEN backend terminated: re-listen reported, work notified again, cancel delivered",
  async fn() {
    const pool = ownPool();
    const ping = defineJob<{ n: number }>("kill_ping", { queue: "kill_q" });
    const block = defineJob<{ n: number }>("kill_block", { queue: "kill_q" });
    const done = new Set<number>();
    const signals = new Map<number, AbortSignal>();
    const client = new Client(pool, {
      // Only a notification (or the re-listen wakeup) can start a job within the test.
      queues: { kill_q: { pollIntervalMs: 3_600_000 } },
      heartbeat: TIMINGS.heartbeat,
      maintenance: false,
    });
    client.work(ping, () => null);
    client.work(block, (job, ctx) => {
      signals.set(job.id, ctx.signal);
      return new Promise((resolve) => ctx.signal.addEventListener("abort", () => resolve(null)));
    });
    client.on("completed", ({ job }) => void done.add(job.id));
    const relistens: string[] = [];
    const watcher = new Notifier(pool, "awa", { checkIntervalMs: 0 });
    try {
      await client.start();
      await using _watch = await watcher.subscribe("kill_watch", () => {}, {
        onRelisten: () => void relistens.push("relisten"),
      });
      const j0 = await insert(pool, ping, { n: 0 });
      await waitFor("notified job completes", () => done.has(j0.id));

      const [old] = await listenBackends(pool);
      assert.equal(watcher.stats().backendPid, old, "the client and the watcher share it");
      await pool`SELECT pg_terminate_backend(${old})`;
      await waitFor("re-listen reported to the subscriber", () => relistens.length === 1);
      const [fresh] = await listenBackends(pool);
      assert.ok(fresh !== undefined && fresh !== old, "a new LISTEN backend");
      assert.equal(watcher.stats().relistens, 1);

      // Let the dispatcher's re-listen wakeup pass, so the next claim needs a notification.
      await sleep(300);
      const claimsBefore = client.stats().claims;
      const j1 = await insert(pool, ping, { n: 1 });
      await waitFor("job after re-listen completes via notification", () => done.has(j1.id));
      assert.ok(client.stats().claims > claimsBefore);

      const j2 = await insert(pool, block, { n: 2 });
      await waitFor("the blocking job runs", () => signals.has(j2.id));
      const [{ s }] = await pool`SELECT awa.cancel_job(${j2.id}) AS s`;
      assert.equal(s, "cancelled");
      await waitFor("cancel notice delivered after re-listen", () => signals.get(j2.id)!.aborted);
      assert.ok(signals.get(j2.id)!.reason instanceof JobCancelledError);
    } finally {
      await client.shutdown({ timeoutMs: 1000 });
      await pool.end({ timeout: 1 });
    }
  },
});

Deno.test({
  name: "a silently lost LISTEN: the probe notices, listens again and wakes the dispatcher",
  async fn() {
    const pool = ownPool();
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
      const j0 = await insert(pool, ping, { n: 0 });
      await waitFor("notified job completes", () => done.has(j0!.id));
      // The connection stays up but hears nothing any more: what a half-open socket or a
      // re-listen that failed after reconnecting looks like. No close event reports it.
      await listenSessionOf(pool)!.unsafe("UNLISTEN *");
      // This job's NOTIFY reaches nobody: only the wakeup after the re-listen can start it.
      const j1 = await insert(pool, ping, { n: 1 });
      await waitFor("job completes after the probe re-listens", () => done.has(j1!.id), 15_000);
      const j2 = await insert(pool, ping, { n: 2 });
      await waitFor("notifications work again", () => done.has(j2!.id), 15_000);
    } finally {
      await client.shutdown({ timeoutMs: 1000 });
      await pool.end({ timeout: 1 });
    }
  },
});

Deno.test({ name: "close database", ...POOL_TEST, fn: () => t.close() });
