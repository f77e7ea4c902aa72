/**
 * The executor's LISTEN and reserved sessions, for postgres.js and node-postgres on real
 * Postgres: all channels of a pool share one listen connection, a lost listen connection is
 * replaced and every subscriber is told, and a reserved session keeps its state until released.
 */
import assert from "node:assert/strict";
import pg from "pg";
import { type Executor, fromPg, toExecutor } from "../../src/db/executor.ts";
import { testDatabase } from "../support/db.ts";
import { POOL_TEST } from "../support/producer.ts";

const t = await testDatabase("executor_listen");
const sql = t.sql;

/** Poll `check` every 10 ms until it holds; fail naming `what` after 20 s (a hang, not speed). */
async function eventually(what: string, check: () => boolean | Promise<boolean>): Promise<void> {
  const until = Date.now() + 20_000;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`never happened: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Backends of this database whose last statement was a LISTEN (the listen connections). */
async function listenBackends(): Promise<number[]> {
  const rows = await sql<{ pid: number }[]>`
    SELECT pid FROM pg_stat_activity
    WHERE datname = current_database() AND pid <> pg_backend_pid() AND query ILIKE 'listen %'`;
  return rows.map((r) => r.pid);
}

interface Inbox {
  got: string[];
  relistens: number;
}

async function subscribe(ex: Executor, channel: string) {
  const inbox: Inbox = { got: [], relistens: 0 };
  const listening = await ex.listen!(
    channel,
    (payload) => inbox.got.push(payload),
    () => inbox.relistens++,
  );
  return { inbox, listening };
}

async function notify(channel: string, payload: string): Promise<void> {
  await sql`SELECT pg_notify(${channel}, ${payload})`;
}

/** Listen on two channels, lose the listen connection, unlisten one, then the other. */
async function exerciseListen(ex: Executor, prefix: string): Promise<void> {
  const a = await subscribe(ex, `${prefix}:a`);
  const b = await subscribe(ex, `${prefix}:b`);
  await notify(`${prefix}:a`, "1");
  await notify(`${prefix}:b`, "1");
  await eventually("first notices", () => a.inbox.got.length === 1 && b.inbox.got.length === 1);
  assert.deepEqual(a.inbox, { got: ["1"], relistens: 0 }, "the first LISTEN is no re-listen");

  const backends = await listenBackends();
  assert.equal(backends.length, 1, "both channels share one listen connection");
  await sql`SELECT pg_terminate_backend(${backends[0]})`;
  await eventually(
    "re-listen on both channels",
    () => a.inbox.relistens > 0 && b.inbox.relistens > 0,
  );
  await eventually("a new listen connection", async () => {
    const now = await listenBackends();
    return now.length === 1 && now[0] !== backends[0];
  });
  await notify(`${prefix}:a`, "2");
  await eventually("a notice after the re-listen", () => a.inbox.got.includes("2"));

  await a.listening.unlisten();
  // One listen connection delivers notices in commit order: once b's arrives, a's would have.
  await notify(`${prefix}:a`, "3");
  await notify(`${prefix}:b`, "3");
  await eventually("b still listens", () => b.inbox.got.includes("3"));
  assert.ok(!a.inbox.got.includes("3"), "no notice after unlisten");
  await b.listening.unlisten();
}

Deno.test({
  name: "postgres.js listen: one connection, re-listen after its loss, unlisten",
  ...POOL_TEST,
  async fn() {
    const own = t.connect();
    const ex = toExecutor(own);
    await exerciseListen(ex, "pgjs");
    await own.end({ timeout: 1 });
  },
});

Deno.test({
  name:
    "node-postgres listen: one checked-out client, re-listen after its loss, released at last unlisten",
  ...POOL_TEST,
  async fn() {
    const pool = new pg.Pool({ connectionString: t.url, max: 3 });
    try {
      const ex = toExecutor(fromPg(pool));
      await exerciseListen(ex, "nodepg");
      await eventually(
        "the listen connection closed",
        async () => (await listenBackends()).length === 0,
      );
      assert.equal(pool.waitingCount, 0);
      assert.equal(pool.idleCount, pool.totalCount, "no client left checked out");
    } finally {
      await pool.end();
    }
  },
});

Deno.test({
  name: "node-postgres listen: a failing first LISTEN rejects and leaves no client checked out",
  ...POOL_TEST,
  async fn() {
    const pool = new pg.Pool({ connectionString: t.url, max: 2 });
    try {
      const ex = toExecutor(fromPg(pool));
      // A channel is an identifier, and Postgres refuses an empty one.
      await assert.rejects(ex.listen!("", () => {}));
      assert.equal(pool.idleCount, pool.totalCount, "the listen client went back");
      const ok = await subscribe(ex, "after_failure");
      await notify("after_failure", "x");
      await eventually("a later listen works", () => ok.inbox.got.includes("x"));
      await ok.listening.unlisten();
    } finally {
      await pool.end();
    }
  },
});

/** A reserved session keeps session state, runs atomic blocks, and goes back on release. */
async function exerciseReserve(ex: Executor): Promise<void> {
  const r = await ex.reserve!();
  try {
    assert.equal(r.listen, undefined, "a reserved session has no listen");
    assert.equal(r.reserve, undefined, "a reserved session reserves nothing");
    const [{ pid }] = await r.query<{ pid: number }>("SELECT pg_backend_pid() AS pid");
    await r.query("SELECT set_config('awa_test.v', 'kept', false)");
    const [again] = await r.query<{ pid: number; v: string }>(
      "SELECT pg_backend_pid() AS pid, current_setting('awa_test.v', true) AS v",
    );
    assert.deepEqual(again, { pid, v: "kept" }, "same session, state kept");
    await r.query("CREATE TEMP TABLE reserved_rows (n int)");
    await assert.rejects(
      r.atomic(async (tx) => {
        await tx.query("INSERT INTO reserved_rows VALUES (1)");
        throw new Error("undo");
      }),
      /undo/,
    );
    await r.atomic((tx) => tx.query("INSERT INTO reserved_rows VALUES (2)"));
    const rows = await r.query<{ n: number }>("SELECT n FROM reserved_rows");
    assert.deepEqual(rows.map((x) => x.n), [2], "the failed block rolled back, the other kept");
    await r.query("DROP TABLE reserved_rows");
  } finally {
    r.release();
  }
}

Deno.test({
  name:
    "postgres.js reserve: one session until release; transactions have neither listen nor reserve",
  ...POOL_TEST,
  async fn() {
    const one = t.connect({ max: 1 });
    const ex = toExecutor(one);
    await exerciseReserve(ex);
    // With one connection, this answers only if release gave it back.
    const [{ n }] = await ex.query<{ n: number }>("SELECT 1 AS n");
    assert.equal(n, 1);
    await ex.atomic((tx) => {
      assert.equal(tx.listen, undefined);
      assert.equal(tx.reserve, undefined);
      return Promise.resolve();
    });
    await one.end({ timeout: 1 });
  },
});

Deno.test({
  name: "node-postgres reserve: one checked-out client until release; a single client has neither",
  ...POOL_TEST,
  async fn() {
    const pool = new pg.Pool({ connectionString: t.url, max: 2 });
    try {
      const ex = toExecutor(fromPg(pool));
      await exerciseReserve(ex);
      assert.equal(pool.idleCount, pool.totalCount, "the reserved client went back");
      const client = await pool.connect();
      try {
        const single = toExecutor(fromPg(client));
        assert.equal(single.listen, undefined);
        assert.equal(single.reserve, undefined);
      } finally {
        client.release();
      }
    } finally {
      await pool.end();
    }
  },
});

Deno.test({
  name: "close executor_listen database",
  ...POOL_TEST,
  async fn() {
    await t.close();
  },
});
