/**
 * node-postgres through `fromPg`: a `Pool`, a `PoolClient` and a plain `Client`, each inside the
 * caller's own BEGIN…COMMIT/ROLLBACK and on its own; with pg-copy-streams' `from` passed as
 * `copyFrom`, the same through COPY.
 */
import assert from "node:assert/strict";
import pg from "pg";
import { from as copyFrom } from "pg-copy-streams";
import { fromPg } from "../../adapters.ts";
import { DatabaseError, defineJob, insertMany, migrate } from "../../mod.ts";
import { POOL_TEST, testDatabase } from "../support/db.ts";
import { adapterContract } from "./contract.ts";

const t = await testDatabase("adapter_pg");
let statements = 0;
/** COPY streams submitted (pg-copy-streams queries are objects with submit()). */
let copies = 0;

/** Count every statement `client` is sent: node-postgres's `query` is the one way in. */
function counted<C extends pg.ClientBase>(client: C): C {
  if (!Object.hasOwn(client, "query")) {
    const query = client.query;
    // deno-lint-ignore no-explicit-any
    (client as any).query = function (this: C, ...args: unknown[]) {
      statements++;
      if (typeof (args[0] as { submit?: unknown })?.submit === "function") copies++;
      return (query as (...a: unknown[]) => unknown).apply(this, args);
    };
  }
  return client;
}

const pool = new pg.Pool({ connectionString: t.url, max: 4 });
pool.on("connect", (client: pg.PoolClient) => counted(client));
const single = counted(new pg.Client({ connectionString: t.url }));
await single.connect();

/** BEGIN on `client`, run `fn` with the wrapped client, then COMMIT, or ROLLBACK if it threw. */
async function inOwnTransaction(
  client: pg.ClientBase,
  fn: (tx: ReturnType<typeof fromPg>) => Promise<void>,
  options: Parameters<typeof fromPg>[1],
): Promise<void> {
  await client.query("BEGIN");
  try {
    await fn(fromPg(client, options));
    await client.query("COMMIT");
  } catch (err) {
    await client.query("ROLLBACK");
    throw err;
  }
}

adapterContract({
  name: "pg Pool and PoolClient",
  t,
  db: () => fromPg(pool),
  inTransaction: async (fn) => {
    const client = await pool.connect();
    try {
      await inOwnTransaction(client, fn, { inTransaction: true });
    } finally {
      client.release();
    }
  },
  statements: () => statements,
});

adapterContract({
  name: "pg Pool and PoolClient with COPY",
  t,
  db: () => fromPg(pool, { copyFrom }),
  inTransaction: async (fn) => {
    const client = await pool.connect();
    try {
      await inOwnTransaction(client, fn, { inTransaction: true, copyFrom });
    } finally {
      client.release();
    }
  },
  statements: () => statements,
});

Deno.test({
  name: "pg with COPY: a COPY the server refuses rejects with its SQLSTATE; the pool goes on",
  ...POOL_TEST,
  async fn() {
    // A schema that refuses one kind, for a reason only the server knows.
    await migrate(t.sql, { schema: "pgcopyfail" });
    for (const table of ["ready_entries", "deferred_jobs"]) {
      await t.sql.unsafe(`ALTER TABLE pgcopyfail.${table}
        ADD CONSTRAINT test_refuse_kind CHECK (kind <> 'pg_copy_refused')`);
    }
    const refused = defineJob<{ i: number; pad: string }>("pg_copy_refused", { queue: "pgc" });
    const fine = defineJob<{ i: number }>("pg_copy_fine", { queue: "pgc" });
    const small = new pg.Pool({ connectionString: t.url, max: 1 });
    small.on("connect", (client: pg.PoolClient) => counted(client));
    try {
      const db = fromPg(small, { copyFrom });
      const copiesBefore = copies;
      // Past the one-statement limit of small batches, so the batch takes the bulk path.
      const batch = Array.from({ length: 150 }, (_, i) => ({ args: { i } }));
      await insertMany(db, fine, batch, { schema: "pgcopyfail" });
      assert.equal(copies - copiesBefore, 1, "the batch went as one COPY");
      assert.equal(
        (await insertMany(fromPg(small), fine, batch, { schema: "pgcopyfail" })).count,
        150,
      );
      assert.equal(copies - copiesBefore, 1, "without copyFrom, no COPY");
      // Well past one 64 KiB chunk, so the server fails while rows are still being streamed.
      const rows = Array.from({ length: 5000 }, (_, i) => ({ args: { i, pad: "x".repeat(40) } }));
      await assert.rejects(insertMany(db, refused, rows, { schema: "pgcopyfail" }), (err) => {
        assert.ok(err instanceof DatabaseError, String(err));
        assert.equal(err.sqlState, "23514");
        return true;
      });
      const ok = await insertMany(db, fine, [{ args: { i: 1 } }], { schema: "pgcopyfail" });
      assert.equal(ok.count, 1, "the pool's one connection is usable again");
      assert.equal(small.idleCount, small.totalCount, "the client went back to the pool");
    } finally {
      await small.end();
    }
  },
});

adapterContract({
  name: "pg Client",
  t,
  db: () => fromPg(single),
  // Without inTransaction Awa probes the session and nests in a savepoint of the caller's BEGIN.
  inTransaction: (fn) => inOwnTransaction(single, fn, {}),
  statements: () => statements,
}, async () => {
  await single.end();
  await pool.end();
  await t.close();
});
