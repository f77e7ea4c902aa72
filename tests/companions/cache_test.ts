/**
 * The TTL cache (docs/cache.md): typed JSON values, expiry enforced on read, single-flight
 * getOrSet in one process (20 concurrent misses, one loader call) and across three processes
 * (one loader call per key), the sweep removing expired rows in bounded batches (directly and
 * on a Client's leader), getOrSet inside a transaction, and typed errors for bad input.
 */
import assert from "node:assert/strict";
import pg from "pg";
import {
  Cache,
  Client,
  defineJob,
  fromPg,
  MAX_CACHE_KEY_LENGTH,
  MAX_CACHE_TTL_MS,
  MAX_CACHE_VALUE_BYTES,
  PayloadTooLargeError,
  ValidationError,
} from "../../mod.ts";
import { cacheSweep } from "../../src/maintenance/cache_sweep.ts";
import { testDatabase } from "../support/db.ts";
import { prepared, tickContext } from "../support/maintenance.ts";
import { POOL_TEST, sleep, TIMINGS, waitFor, withTimings } from "../support/runtime.ts";
import { Child } from "./children.ts";

const t = await testDatabase("cache");
const sql = t.sql;

type User = { id: number; name: string; tags?: string[] };

async function rowCount(namespace: string): Promise<number> {
  const [{ n }] = await sql<{ n: number }[]>`
    SELECT count(*)::int AS n FROM awa.cache_entries WHERE namespace = ${namespace}`;
  return n;
}

Deno.test({
  name: "cache: values round-trip as JSON; set overwrites; delete reports a live entry",
  ...POOL_TEST,
  async fn() {
    const users = new Cache<User | null>(sql, { namespace: "users", ttlMs: 60_000 });
    assert.equal(await users.get("u1"), undefined);
    await users.set("u1", { id: 1, name: "Ann", tags: ["a", "b"] });
    assert.deepEqual(await users.get("u1"), { id: 1, name: "Ann", tags: ["a", "b"] });
    await users.set("u1", { id: 1, name: "Bo" }, { ttlMs: 5000 });
    assert.deepEqual(await users.get("u1"), { id: 1, name: "Bo" });
    await users.set("nobody", null);
    assert.equal(await users.get("nobody"), null);
    // Namespaces are apart.
    const other = new Cache<User>(sql, { namespace: "users.v2", ttlMs: 60_000 });
    assert.equal(await other.get("u1"), undefined);
    assert.equal(await users.delete("u1"), true);
    assert.equal(await users.delete("u1"), false);
    assert.equal(await users.get("u1"), undefined);
  },
});

Deno.test({
  name: "cache: an entry past its TTL is absent on read before any sweep removed it",
  ...POOL_TEST,
  async fn() {
    const c = new Cache<number>(sql, { namespace: "ttl" });
    await c.set("k", 1, { ttlMs: 150 });
    assert.equal(await c.get("k"), 1);
    await sleep(250);
    assert.equal(await c.get("k"), undefined);
    assert.equal(await rowCount("ttl"), 1, "the expired row is still there, unseen");
    assert.equal(await c.delete("k"), false, "deleting an expired entry removed nothing live");
    // getOrSet loads an expired key again.
    await c.set("k", 1, { ttlMs: 150 });
    await sleep(250);
    let calls = 0;
    assert.equal(await c.getOrSet("k", { ttlMs: 60_000 }, () => ++calls + 1), 2);
    assert.equal(calls, 1);
  },
});

Deno.test({
  name: "cache: 20 concurrent getOrSet misses of one key in one process call the loader once",
  ...POOL_TEST,
  async fn() {
    const c = new Cache<{ v: number }>(sql, { namespace: "sf", ttlMs: 60_000 });
    let calls = 0;
    const loader = async () => {
      calls++;
      await sleep(100);
      return { v: 42 };
    };
    const values = await Promise.all(Array.from({ length: 20 }, () => c.getOrSet("k", {}, loader)));
    assert.equal(calls, 1);
    assert.deepEqual(values, Array(20).fill({ v: 42 }));
    // Two Cache objects of one namespace on one pool share the flight too.
    const c2 = new Cache<{ v: number }>(sql, { namespace: "sf", ttlMs: 60_000 });
    calls = 0;
    await Promise.all([
      ...Array.from({ length: 10 }, () => c.getOrSet("k2", {}, loader)),
      ...Array.from({ length: 10 }, () => c2.getOrSet("k2", {}, loader)),
    ]);
    assert.equal(calls, 1);
  },
});

Deno.test({
  name:
    "cache: more concurrent misses than pool connections, with loaders using the pool, all finish",
  ...POOL_TEST,
  async fn() {
    // No connection is held while a loader runs, so a small pool cannot starve its loaders.
    const small = t.connect({ max: 2 });
    const c = new Cache<number>(small, { namespace: "small", ttlMs: 60_000 });
    const keys = Array.from({ length: 12 }, (_, i) => `k${i}`);
    const values = await Promise.all(keys.map((key, i) =>
      c.getOrSet(key, {}, async () => {
        const [{ n }] = await small`SELECT ${i}::int AS n, pg_sleep(0.02)`;
        return n;
      })
    ));
    assert.deepEqual(values, keys.map((_, i) => i));
  },
});

Deno.test({
  name:
    "cache: a failing loader fails every caller of its flight with its own error, and is retried next time",
  ...POOL_TEST,
  async fn() {
    const c = new Cache<number>(sql, { namespace: "fail", ttlMs: 60_000 });
    class Boom extends Error {}
    let calls = 0;
    const results = await Promise.allSettled(
      Array.from({ length: 5 }, () =>
        c.getOrSet("k", {}, async () => {
          calls++;
          await sleep(50);
          throw new Boom("loader failed");
        })),
    );
    assert.equal(calls, 1);
    for (const r of results) {
      assert.ok(r.status === "rejected" && r.reason instanceof Boom, String(r));
    }
    assert.equal(await c.getOrSet("k", {}, () => 7), 7);
    // A loader value that cannot be cached is a typed error, nothing stored.
    await assert.rejects(c.getOrSet("bad", {}, () => undefined as never), ValidationError);
    await assert.rejects(c.getOrSet("bad", {}, () => NaN), ValidationError);
    assert.equal(await c.get("bad"), undefined);
  },
});

Deno.test({
  name: "cache: getOrSet across three processes calls the loader once per key",
  ...POOL_TEST,
  async fn() {
    await sql`CREATE TABLE loader_calls (key text NOT NULL, pid int NOT NULL)`;
    const keys = ["a", "b", "c", "d", "e"];
    const children = [0, 1, 2].map(() => new Child(["getOrSet", t.url, keys.join(","), "4"]));
    try {
      await Promise.all(children.map((c) => c.line((l) => l.ready === true)));
      await Promise.all(children.map((c) => c.send("go")));
      const outs = await Promise.all(children.map((c) => c.line((l) => "values" in l)));
      const calls = await sql<{ key: string; n: number }[]>`
        SELECT key, count(*)::int AS n FROM loader_calls GROUP BY key ORDER BY key`;
      assert.deepEqual([...calls], keys.map((key) => ({ key, n: 1 })));
      // Every process got the one loaded value of each key.
      const byKey = new Map<string, unknown>();
      for (const o of outs) {
        for (const v of o.values as { key: string; by: number }[]) {
          if (!byKey.has(v.key)) byKey.set(v.key, v);
          assert.deepEqual(v, byKey.get(v.key));
        }
      }
      assert.equal(byKey.size, keys.length);
    } finally {
      for (const c of children) assert.equal((await c.stop()).code, 0);
    }
  },
});

Deno.test({
  name: "cache: a lease left by a process that died while loading holds the key until it expires",
  ...POOL_TEST,
  async fn() {
    await sql`
      INSERT INTO awa.cache_entries (namespace, key, value, lease, expires_at)
      VALUES ('dead', 'k', NULL, gen_random_uuid(), clock_timestamp() + interval '400 ms')`;
    const c = new Cache<string>(sql, { namespace: "dead", ttlMs: 60_000 });
    assert.equal(await c.get("k"), undefined, "a lease is no value");
    let calls = 0;
    const started = Date.now();
    const values = await Promise.all(
      Array.from({ length: 3 }, () => c.getOrSet("k", {}, () => `loaded ${++calls}`)),
    );
    assert.deepEqual(values, Array(3).fill("loaded 1"));
    assert.ok(Date.now() - started >= 300, "waited for the lease");
    assert.equal(await c.get("k"), "loaded 1");
  },
});

Deno.test({
  name: "cache: getOrSet in a transaction stores in it; a rollback drops the value",
  ...POOL_TEST,
  async fn() {
    await sql.begin(async (tx) => {
      const c = new Cache<string>(tx, { namespace: "tx", ttlMs: 60_000 });
      assert.equal(await c.getOrSet("k", {}, () => "in tx"), "in tx");
      assert.equal(await c.get("k"), "in tx");
      const outside = new Cache<string>(sql, { namespace: "tx", ttlMs: 60_000 });
      assert.equal(await outside.get("k"), undefined, "not visible before commit");
      throw new Error("roll back");
    }).catch(() => {});
    const c = new Cache<string>(sql, { namespace: "tx", ttlMs: 60_000 });
    assert.equal(await c.get("k"), undefined);
  },
});

Deno.test({
  name: "cache: works on a node-postgres pool",
  ...POOL_TEST,
  async fn() {
    const pool = new pg.Pool({ connectionString: t.url, max: 3 });
    try {
      const c = new Cache<number[]>(fromPg(pool), { namespace: "pg", ttlMs: 60_000 });
      let calls = 0;
      const values = await Promise.all(
        Array.from({ length: 5 }, () => c.getOrSet("k", {}, () => [++calls])),
      );
      assert.deepEqual(values, Array(5).fill([1]));
      await c.set("k", [2]);
      assert.deepEqual(await c.get("k"), [2]);
      assert.equal(await c.delete("k"), true);
    } finally {
      await pool.end();
    }
  },
});

async function expiredRows(namespace: string, n: number): Promise<void> {
  await sql`
    INSERT INTO awa.cache_entries (namespace, key, value, expires_at)
    SELECT ${namespace}, 'k' || i, to_jsonb(i), clock_timestamp() - interval '1 second'
    FROM generate_series(1, ${n}) AS i`;
}

Deno.test({
  name: "cache sweep: expired rows go in batches of batchSize, at most maxBatches per run",
  ...POOL_TEST,
  async fn() {
    await expiredRows("sweep", 2500);
    const live = new Cache<number>(sql, { namespace: "sweep", ttlMs: 60_000 });
    await live.set("alive", 1);
    const svc = prepared(cacheSweep, { batchSize: 1000, maxBatches: 2 }, tickContext(sql));
    assert.deepEqual(await svc.tick(), { cacheRowsSwept: 2000, cacheSweepBatches: 2 });
    assert.equal(await rowCount("sweep"), 501);
    assert.deepEqual(await svc.tick(), { cacheRowsSwept: 2500, cacheSweepBatches: 3 });
    assert.equal(await rowCount("sweep"), 1);
    assert.equal(await live.get("alive"), 1);
    assert.deepEqual(await svc.tick(), { cacheRowsSwept: 2500, cacheSweepBatches: 4 });
  },
});

Deno.test({
  name: "cache sweep: runs on a Client's maintenance leader; bad options are refused",
  ...POOL_TEST,
  async fn() {
    await expiredRows("leader", 300);
    const noop = defineJob<Record<string, never>>("noop", { queue: "cache_q" });
    const client = new Client(sql, {
      queues: { cache_q: { maxWorkers: 1 } },
      ...withTimings({ maintenance: { cache: { intervalMs: 50, batchSize: 100 } } }, TIMINGS),
    });
    client.work(noop, () => {});
    await client.start();
    try {
      // The counters move after the DELETE's reply is read, a moment after its commit is
      // visible to other sessions: wait for both.
      await waitFor("the sweep", async () => {
        const m = client.stats().maintenance!;
        return m.cacheRowsSwept >= 300 && m.cacheSweepBatches >= 3 &&
          await rowCount("leader") === 0;
      });
    } finally {
      await client.shutdown();
    }
    for (const cache of [{ batchSize: 0 }, { maxBatches: 1001 }, { intervalMs: 0 }, { x: 1 }]) {
      assert.throws(
        () => new Client(sql, { queues: { q: {} }, maintenance: { cache } as never }),
        ValidationError,
      );
    }
  },
});

Deno.test({
  name: "cache: bad keys, TTLs, values and options are typed errors and write nothing",
  ...POOL_TEST,
  async fn() {
    const c = new Cache<unknown>(sql, { namespace: "bad" });
    const badKeys = ["", "x".repeat(MAX_CACHE_KEY_LENGTH + 1), "a\u0000b", "\ud800", 1, null];
    for (const key of badKeys) {
      await assert.rejects(c.get(key as string), ValidationError);
      await assert.rejects(c.set(key as string, 1, { ttlMs: 1000 }), ValidationError);
      await assert.rejects(c.delete(key as string), ValidationError);
      await assert.rejects(c.getOrSet(key as string, { ttlMs: 1000 }, () => 1), ValidationError);
    }
    assert.equal(await c.get("x".repeat(MAX_CACHE_KEY_LENGTH)), undefined);
    for (const ttlMs of [0, -1, 1.5, NaN, "10", MAX_CACHE_TTL_MS + 1]) {
      await assert.rejects(c.set("k", 1, { ttlMs: ttlMs as number }), ValidationError);
      await assert.rejects(c.getOrSet("k", { ttlMs: ttlMs as number }, () => 1), ValidationError);
    }
    // No default TTL: each write must give one.
    await assert.rejects(c.set("k", 1), /ttlMs: is required/);
    for (const value of [undefined, () => 1, 1n, Infinity, new Map(), { d: new Date() }]) {
      await assert.rejects(c.set("k", value, { ttlMs: 1000 }), ValidationError);
    }
    const big = "x".repeat(MAX_CACHE_VALUE_BYTES);
    const err = await c.set("k", big, { ttlMs: 1000 }).catch((e) => e);
    assert.ok(err instanceof PayloadTooLargeError);
    assert.equal(err.limitBytes, MAX_CACHE_VALUE_BYTES);
    await c.set("k", big.slice(2), { ttlMs: 1000 });
    assert.equal((await c.get("k") as string).length, MAX_CACHE_VALUE_BYTES - 2);
    await c.delete("k");
    assert.equal(await rowCount("bad"), 0);
    await assert.rejects(c.getOrSet("k", { ttlMs: 1000 }, "no" as never), ValidationError);
    await assert.rejects(c.getOrSet("k", { ttlMs: 1000, x: 1 } as never, () => 1), ValidationError);
    const aborted = AbortSignal.abort(new Error("stop"));
    await assert.rejects(c.getOrSet("k", { ttlMs: 1000, signal: aborted }, () => 1), /stop/);
    for (
      const options of [
        undefined,
        {},
        { namespace: "" },
        { namespace: "a/b" },
        { namespace: "ok", ttlMs: 0 },
        { namespace: "ok", schema: "Nope" },
        { namespace: "ok", leaseMs: 0 },
        { namespace: "ok", other: 1 },
      ]
    ) {
      assert.throws(
        () => new Cache(sql, options as never),
        ValidationError,
        JSON.stringify(options),
      );
    }
    assert.throws(() => new Cache({} as never, { namespace: "ok" }), ValidationError);
  },
});

Deno.test({ name: "cache: teardown", ...POOL_TEST, fn: () => t.close() });
