/**
 * node-postgres handles (issue 9 items 1 and 2): a `Pool` runs every multi-statement operation
 * on one checked-out client, and a client inside the caller's own transaction never gets that
 * transaction committed behind its back.
 */
import assert from "node:assert/strict";
import pg from "pg";
import {
  cancelByUniqueKey,
  defineJob,
  fromPg,
  insert,
  insertMany,
  migrate,
  SCHEMA_VERSION,
  schemaVersion,
  TransactionStateError,
  UniqueConflictError,
  ValidationError,
} from "../../mod.ts";
import { testDatabase } from "../support/db.ts";
import { jobCount, POOL_TEST } from "../support/producer.ts";

const t = await testDatabase("producer_pg");
const sql = t.sql;
const job = defineJob<{ batch: number; n: number }>("pg_pool_job", { queue: "pg_pool" });

/** Every client of `pool` is back and idle. */
function assertAllReleased(pool: pg.Pool): void {
  assert.equal(pool.waitingCount, 0, "nobody waits for a client");
  assert.equal(pool.idleCount, pool.totalCount, "every checked-out client was released");
}

Deno.test({
  name: "fromPg(pool): 8 concurrent insertMany, half failing on a unique conflict, are each atomic",
  ...POOL_TEST,
  async fn() {
    const pool = new pg.Pool({ connectionString: t.url, max: 4 });
    try {
      const db = fromPg(pool);
      // The key the failing batches clash with, taken up front.
      await insert(db, job, { batch: -1, n: 0 }, { unique: {} });
      const results = await Promise.allSettled(
        Array.from({ length: 8 }, (_, batch) =>
          insertMany(
            db,
            job,
            Array.from({ length: 20 }, (_, n) =>
              batch % 2 === 1 && n === 15
                ? { args: { batch: -1, n: 0 }, unique: {} }
                : { args: { batch, n } }),
          )),
      );
      for (const [batch, r] of results.entries()) {
        const rows = await jobCount(sql, "(args->>'batch')::int = $1", [batch]);
        if (batch % 2 === 1) {
          assert.equal(r.status, "rejected", `batch ${batch} must fail`);
          assert.ok(
            (r as PromiseRejectedResult).reason instanceof UniqueConflictError,
            String((r as PromiseRejectedResult).reason),
          );
          assert.equal(rows, 0, `failed batch ${batch} left rows behind`);
        } else {
          assert.equal(
            r.status,
            "fulfilled",
            `batch ${batch}: ${String((r as never as PromiseRejectedResult).reason)}`,
          );
          assert.equal((r as PromiseFulfilledResult<{ count: number }>).value.count, 20);
          assert.equal(rows, 20, `successful batch ${batch} lost jobs`);
        }
      }
      assertAllReleased(pool);
    } finally {
      await pool.end();
    }
  },
});

Deno.test({
  name: "fromPg(pool): concurrent migrate, unique insert and cancelByUniqueKey stay correct",
  ...POOL_TEST,
  async fn() {
    const pool = new pg.Pool({ connectionString: t.url, max: 4 });
    try {
      const db = fromPg(pool);
      // Three racing migrations of one fresh schema: the advisory lock must be held in the same
      // transaction that applies the migrations, so exactly one applies them.
      const migrations = await Promise.all(
        [0, 1, 2].map(() => migrate(db, { schema: "pool_mig" })),
      );
      assert.equal(migrations.filter((m) => m.applied.length > 0).length, 1);
      assert.equal(await schemaVersion(db, { schema: "pool_mig" }), SCHEMA_VERSION);

      // Racing unique inserts of one key: exactly one wins, the others conflict.
      const racers = await Promise.allSettled(
        Array.from({ length: 6 }, () => insert(db, job, { batch: 99, n: 1 }, { unique: {} })),
      );
      assert.equal(racers.filter((r) => r.status === "fulfilled").length, 1);
      for (const r of racers) {
        if (r.status === "rejected") assert.ok(r.reason instanceof UniqueConflictError);
      }
      const cancels = await Promise.all(
        Array.from({ length: 4 }, () => cancelByUniqueKey(db, job, { args: { batch: 99, n: 1 } })),
      );
      assert.equal(cancels.filter((id) => id !== null).length, 1, "one cancel wins");
      assertAllReleased(pool);
    } finally {
      await pool.end();
    }
  },
});

Deno.test({
  name: "fromPg(pool): a failed operation releases its client and the pool keeps working",
  ...POOL_TEST,
  async fn() {
    const pool = new pg.Pool({ connectionString: t.url, max: 1 });
    try {
      const db = fromPg(pool);
      await insert(db, job, { batch: 200, n: 0 }, { unique: {} });
      for (let i = 0; i < 3; i++) {
        await assert.rejects(
          insertMany(db, job, [{ args: { batch: 200, n: 0 }, unique: {} }]),
          UniqueConflictError,
        );
      }
      const ok = await insertMany(db, job, [{ args: { batch: 201, n: 0 } }]);
      assert.equal(ok.count, 1);
      assertAllReleased(pool);
      assert.throws(() => fromPg(pool, { inTransaction: true }), ValidationError);
    } finally {
      await pool.end();
    }
  },
});

Deno.test({
  name: "fromPg(pool): a connection that dies mid-operation is discarded, not returned to the pool",
  ...POOL_TEST,
  async fn() {
    // A schema whose scheduled-job table kills the inserting backend: the atomic operation fails,
    // its ROLLBACK fails too, and the client must be released with the error.
    await migrate(sql, { schema: "killer" });
    await sql.unsafe(`CREATE FUNCTION killer.die() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN PERFORM pg_terminate_backend(pg_backend_pid()); RETURN NEW; END $$`);
    await sql.unsafe(`CREATE TRIGGER die BEFORE INSERT ON killer.deferred_jobs
      FOR EACH ROW EXECUTE FUNCTION killer.die()`);
    const pool = new pg.Pool({ connectionString: t.url, max: 1 });
    pool.on("error", () => {});
    try {
      const db = fromPg(pool);
      const later = new Date(Date.now() + 3_600_000);
      await assert.rejects(
        insertMany(db, job, [{ args: { batch: 400, n: 0 } }, {
          args: { batch: 400, n: 1 },
          runAt: later,
        }], {
          schema: "killer",
        }),
      );
      assertAllReleased(pool);
      const ok = await insertMany(db, job, [{ args: { batch: 401, n: 0 } }], { schema: "killer" });
      assert.equal(ok.count, 1, "the pool hands out a fresh, working connection");
      assert.equal(await jobCount(sql, "(args->>'batch')::int = 400"), 0);
    } finally {
      await pool.end();
    }
  },
});

Deno.test({
  name: "fromPg(client) inside the caller's BEGIN never commits it: ROLLBACK removes everything",
  ...POOL_TEST,
  async fn() {
    await sql`CREATE TABLE IF NOT EXISTS business_rows (note text)`;
    const client = new pg.Client({ connectionString: t.url });
    await client.connect();
    try {
      const db = fromPg(client);
      await client.query("BEGIN");
      await client.query("INSERT INTO business_rows VALUES ('order 1')");
      const many = await insertMany(db, job, [
        { args: { batch: 300, n: 0 } },
        { args: { batch: 300, n: 1 }, runAt: new Date(Date.now() + 60_000) },
      ]);
      const one = await insert(db, job, { batch: 300, n: 2 });
      assert.equal(many.count, 2);
      // A failing insertMany inside the caller's transaction undoes only its own work.
      await assert.rejects(
        insertMany(db, job, [
          { args: { batch: 300, n: 3 }, unique: {} },
          { args: { batch: 300, n: 3 }, unique: {} },
        ]),
        UniqueConflictError,
      );
      const inside = await client.query(
        "SELECT count(*)::int AS n FROM awa.jobs WHERE (args->>'batch')::int = 300",
      );
      assert.equal(inside.rows[0].n, 3, "the caller's transaction is still usable");
      await client.query("ROLLBACK");

      const [{ n: business }] = await sql<{ n: number }[]>`
        SELECT count(*)::int AS n FROM business_rows`;
      assert.equal(business, 0, "the caller's business row was committed behind its back");
      assert.equal(await jobCount(sql, "(args->>'batch')::int = 300"), 0);
      assert.equal(await jobCount(sql, "id = $1", [one!.id]), 0);

      // Outside a transaction the same handle commits on its own.
      const alone = await insertMany(db, job, [{ args: { batch: 301, n: 0 } }]);
      assert.equal(await jobCount(sql, "id = $1", [alone.ids[0]]), 1);
      const { rows } = await client.query("SELECT 1 AS one");
      assert.equal(rows[0].one, 1);

      // An aborted caller transaction gets a typed error, not a commit attempt.
      await client.query("BEGIN");
      await client.query("SELECT 1/0").catch(() => {});
      await assert.rejects(
        insertMany(db, job, [{ args: { batch: 302, n: 0 } }]),
        TransactionStateError,
      );
      await client.query("ROLLBACK");
      assert.equal(await jobCount(sql, "(args->>'batch')::int = 302"), 0);
    } finally {
      await client.end();
    }
  },
});

Deno.test({
  name: "close producer_pg database",
  ...POOL_TEST,
  async fn() {
    await t.close();
  },
});
