/**
 * Schema version checks (issue 9 item 12): producers and `Client.start()` refuse a schema that is
 * missing, older or newer than this code, with typed errors, and producers pay the check's round
 * trip once per database handle, not per insert.
 */
import assert from "node:assert/strict";
import {
  cancelByUniqueKey,
  Client,
  ClientStateError,
  defineJob,
  insert,
  insertMany,
  migrate,
  SCHEMA_VERSION,
  SchemaMissingError,
  SchemaTooNewError,
  SchemaTooOldError,
} from "../../mod.ts";
import { testDatabase } from "../support/db.ts";
import { POOL_TEST } from "../support/producer.ts";

const t = await testDatabase("producer_schema");
const sql = t.sql;
const job = defineJob<{ n: number }>("schema_job", { queue: "schema_q" });

await migrate(sql, { schema: "too_new" });
await sql.unsafe("UPDATE too_new.schema_version SET version = 99 WHERE version = $1", [
  SCHEMA_VERSION,
]);
await migrate(sql, { schema: "too_old" });
await sql.unsafe("DELETE FROM too_old.schema_version WHERE version = $1", [SCHEMA_VERSION]);

type ErrorClass = typeof SchemaTooNewError | typeof SchemaTooOldError | typeof SchemaMissingError;

const cases: [string, ErrorClass][] = [
  ["too_new", SchemaTooNewError],
  ["too_old", SchemaTooOldError],
  ["not_there", SchemaMissingError],
];

Deno.test({
  name: "insert, insertMany and cancelByUniqueKey refuse missing, too old and too new schemas",
  ...POOL_TEST,
  async fn() {
    for (const [schema, Err] of cases) {
      await assert.rejects(insert(sql, job, { n: 1 }, { schema }), Err, `insert ${schema}`);
      await assert.rejects(
        insertMany(sql, job, [{ args: { n: 1 } }], { schema }),
        Err,
        `insertMany ${schema}`,
      );
      await assert.rejects(
        sql.begin((tx) => insertMany(tx, job, [{ args: { n: 1 } }], { schema })),
        Err,
        `insertMany in a transaction ${schema}`,
      );
      await assert.rejects(
        cancelByUniqueKey(sql, job, { args: { n: 1 }, schema }),
        Err,
        `cancelByUniqueKey ${schema}`,
      );
    }
    for (const schema of ["too_new", "too_old"]) {
      const [{ n }] = await sql.unsafe<{ n: number }[]>(
        `SELECT count(*)::int AS n FROM ${schema}.ready_entries`,
      );
      assert.equal(n, 0, `nothing was written into ${schema}`);
    }
  },
});

Deno.test({
  name: "Client.start() refuses missing, too old and too new schemas",
  ...POOL_TEST,
  async fn() {
    for (const [schema, Err] of cases) {
      const client = new Client(sql, { schema, queues: { schema_q: { maxWorkers: 1 } } });
      client.work(job, () => {});
      await assert.rejects(client.start(), Err, `Client.start ${schema}`);
      // A refused start leaves nothing running: shutdown resolves, a second start is refused.
      await client.shutdown();
      await assert.rejects(client.start(), ClientStateError);
    }
  },
});

Deno.test({
  name: "producers check the schema once per handle, not once per insert",
  ...POOL_TEST,
  async fn() {
    // Count the statements the producer sends through the handle it was given.
    const statements: string[] = [];
    const counted = new Proxy(sql, {
      get(target, prop, receiver) {
        if (prop !== "unsafe") return Reflect.get(target, prop, receiver);
        return (text: string, ...rest: never[]) => {
          statements.push(text);
          return target.unsafe(text, ...rest);
        };
      },
    });
    for (let i = 0; i < 5; i++) await insert(counted, job, { n: i });
    assert.equal(statements.length, 6, statements.join("\n---\n"));
    for (let i = 0; i < 3; i++) await insertMany(counted, job, [{ args: { n: i } }]);
    const checks = statements.filter((s) => s.includes("to_regclass"));
    assert.equal(checks.length, 1, "one schema check for eight producer calls");
  },
});

Deno.test({
  name: "a schema dropped after it was checked raises SchemaMissingError",
  ...POOL_TEST,
  async fn() {
    await migrate(sql, { schema: "dropped_later" });
    await insert(sql, job, { n: 1 }, { schema: "dropped_later" });
    await sql.unsafe("DROP SCHEMA dropped_later CASCADE");
    await assert.rejects(
      insert(sql, job, { n: 2 }, { schema: "dropped_later" }),
      SchemaMissingError,
    );
    await assert.rejects(
      insertMany(sql, job, [{ args: { n: 2 } }], { schema: "dropped_later" }),
      SchemaMissingError,
    );
  },
});

Deno.test({
  name: "close producer_schema database",
  ...POOL_TEST,
  async fn() {
    await t.close();
  },
});
