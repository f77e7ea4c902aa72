/**
 * Job kind and queue names follow one rule in TypeScript and in SQL (issue 9 item 19): the same
 * list of good and bad names, plus random ones, goes through `checkKind` / `checkQueue` and
 * through the public SQL contract `awa.insert_job`, and both must agree on every name.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { ValidationError } from "../../mod.ts";
import { checkKind, checkQueue } from "../../src/job.ts";
import { testDatabase } from "../support/db.ts";
import { POOL_TEST } from "../support/producer.ts";
import type { TransactionSql } from "postgres";

const t = await testDatabase("validation_names");
const sql = t.sql;

const FIXED = [
  "a",
  "A",
  "0",
  "_",
  "send_email",
  "A_b.c:d-e",
  "q1.high:2-x",
  "_leading_underscore",
  "x".repeat(59),
  "x".repeat(60),
  "k".repeat(200),
  "k".repeat(201),
  "",
  " ",
  "odd kind!",
  "odd queue",
  "café",
  "é",
  "日本",
  ".a",
  ":a",
  "-a",
  "a\n",
  "\na",
  "a\t",
  "a b",
  "a/b",
  "a'b",
  'a"b',
  "a;b",
  "a@b",
  "@cancel",
  "a~b",
  "A-Z",
  "Ä",
];

function tsAccepts(check: (v: unknown) => unknown, name: string): boolean {
  try {
    check(name);
    return true;
  } catch (err) {
    assert.ok(err instanceof ValidationError, String(err));
    return false;
  }
}

/** Whether awa.insert_job accepts the name; a rejection must be the documented 23514. */
async function sqlAccepts(tx: TransactionSql, kind: string, queue: string): Promise<boolean> {
  try {
    await tx.savepoint((sp) => sp`SELECT * FROM awa.insert_job(${kind}, '{}', ${queue})`);
    return true;
  } catch (err) {
    const e = err as { code?: string; message?: string };
    assert.equal(e.code, "23514", `${JSON.stringify([kind, queue])}: ${e.message}`);
    assert.match(e.message ?? "", /^awa: /);
    return false;
  }
}

async function compare(names: string[]): Promise<void> {
  const rollback = new Error("rollback");
  await sql.begin(async (tx) => {
    for (const name of names) {
      assert.equal(
        await sqlAccepts(tx, name, "default"),
        tsAccepts(checkKind, name),
        `kind ${JSON.stringify(name)}`,
      );
      assert.equal(
        await sqlAccepts(tx, "k", name),
        tsAccepts(checkQueue, name),
        `queue ${JSON.stringify(name)}`,
      );
    }
    throw rollback;
  }).catch((err) => {
    if (err !== rollback) throw err;
  });
}

Deno.test({
  name: "kind and queue names: TypeScript and awa.insert_job agree on a fixed list",
  ...POOL_TEST,
  async fn() {
    await compare(FIXED);
    // Both sides rejected the examples.
    assert.equal(tsAccepts(checkKind, "odd kind!"), false);
    assert.equal(tsAccepts(checkQueue, "café"), false);
    // The COPY path of insertMany checks its batch's names with the same function.
    for (const [kinds, queues] of [[["odd kind!"], ["q"]], [["k"], ["café"]]]) {
      await assert.rejects(
        sql`SELECT awa.check_batch_names(${kinds}::text[], ${queues}::text[])`,
        (e: { code?: string }) => e.code === "23514",
      );
    }
    await sql`SELECT awa.check_batch_names(${["a.b", "c"]}::text[], ${["q:1"]}::text[])`;
  },
});

Deno.test({
  name: "kind and queue names: TypeScript and awa.insert_job agree on random names",
  ...POOL_TEST,
  async fn() {
    const chars = ["a", "Z", "0", "_", ".", ":", "-", " ", "é", "!", "\n", "/", "\u00ff"];
    const names = fc.sample(
      fc.oneof(
        fc.string({ unit: fc.constantFrom(...chars), maxLength: 8 }),
        fc.string({ unit: fc.constantFrom("a", "_", "."), minLength: 55, maxLength: 64 }),
      ),
      { numRuns: 150, seed: 19 },
    );
    await compare(names);
  },
});

Deno.test({
  name: "close validation_names database",
  ...POOL_TEST,
  async fn() {
    await t.close();
  },
});
