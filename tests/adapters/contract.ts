/**
 * The behaviour every adapter must show on real Postgres, as a set of Deno tests: jobs inserted
 * in the ORM's transaction vanish with its rollback and, after its commit, are visible and run
 * by a Client; the handle outside a transaction makes `insertMany` atomic on its own; and
 * `insertMany` sends a fixed number of statements per batch, however many jobs it carries.
 * Not a test file itself: each `*_test.ts` here calls {@link adapterContract}.
 */
import assert from "node:assert/strict";
import { Client, type Db, defineJob, insert, insertMany, UniqueConflictError } from "../../mod.ts";
import type { TestDatabase } from "../support/db.ts";
import { jobCount } from "../support/producer.ts";
import { POOL_TEST, TIMINGS, waitFor } from "../support/runtime.ts";

/** What an adapter test supplies. */
export interface AdapterUnderTest {
  /** Name in test titles. */
  name: string;
  t: TestDatabase;
  /** The adapted handle outside any transaction. */
  db: () => Db;
  /**
   * Run `fn` in the ORM's own transaction with the adapted transaction handle: committed when
   * `fn` resolves, rolled back (and the error rethrown) when it throws.
   */
  inTransaction: (fn: (tx: Db) => Promise<void>) => Promise<unknown>;
  /** Statements the driver has sent so far, counted by a driver hook. */
  statements: () => number;
}

/** Jobs of one insertMany batch in the statement-count test. */
const MANY = 500;

/** One contract test. */
export interface ContractCase {
  name: string;
  fn: () => Promise<void>;
}

/**
 * Register the contract tests of one adapter with `Deno.test`, then `close` (end the ORM's
 * pools and the test database) as the file's last test.
 */
export function adapterContract(a: AdapterUnderTest, close?: () => Promise<void>): void {
  for (const c of adapterCases(a)) Deno.test({ name: c.name, ...POOL_TEST, fn: c.fn });
  if (close) Deno.test({ name: `close ${a.name} database`, ...POOL_TEST, fn: close });
}

/** The contract tests of one adapter, for any runner (Deno's, or the Bun runner's). */
export function adapterCases(a: AdapterUnderTest): ContractCase[] {
  const queue = `adapter_${a.name.replace(/\W/g, "_").toLowerCase()}`;
  const job = defineJob<{ tag: string; n: number }>(`${queue}_job`, { queue });
  const count = (tag: string) =>
    jobCount(a.t.sql, "kind = $1 AND args->>'tag' = $2", [job.kind, tag]);

  const cases: ContractCase[] = [];
  cases.push({
    name: `${a.name}: a rollback of the ORM's transaction takes its jobs with it`,
    async fn() {
      const failure = new Error("roll back");
      await assert.rejects(
        a.inTransaction(async (tx) => {
          await insert(tx, job, { tag: "rolled_back", n: 0 });
          await insertMany(tx, job, [
            { args: { tag: "rolled_back", n: 1 } },
            { args: { tag: "rolled_back", n: 2 }, runAt: new Date(Date.now() + 3_600_000) },
          ]);
          assert.equal(await count("rolled_back"), 0, "nothing is visible before the end");
          throw failure;
        }),
        (err) => err === failure,
      );
      assert.equal(await count("rolled_back"), 0);
    },
  });

  cases.push({
    name: `${a.name}: after a commit the jobs are visible and a Client runs them`,
    async fn() {
      const ids: number[] = [];
      await a.inTransaction(async (tx) => {
        ids.push((await insert(tx, job, { tag: "committed", n: 0 })).id);
        const many = await insertMany(tx, job, [
          { args: { tag: "committed", n: 1 } },
          { args: { tag: "committed", n: 2 }, tags: ["a\tb", 'c"d'], metadata: { x: "\\" } },
        ]);
        ids.push(...many.ids.map((id) => id!));
      });
      assert.equal(await count("committed"), 3);
      const [row] = await a.t.sql`SELECT tags, metadata FROM awa.jobs WHERE id = ${ids[2]}`;
      assert.deepEqual(row.tags, ["a\tb", 'c"d'], "tags survive the bulk path");
      assert.deepEqual(row.metadata, { x: "\\" }, "metadata survives the bulk path");

      const done = new Set<number>();
      const client = new Client(a.t.url, {
        queues: { [queue]: { maxWorkers: 2 } },
        ...TIMINGS,
      });
      client.work(job, (job) => {
        done.add(job.id);
        return null;
      });
      await client.start();
      try {
        await waitFor("the committed jobs completed", () => ids.every((id) => done.has(id)));
      } finally {
        await client.shutdown({ timeoutMs: 5000 });
      }
    },
  });

  cases.push({
    name: `${a.name}: outside a transaction insertMany is atomic on its own`,
    async fn() {
      const db = a.db();
      await insert(db, job, { tag: "taken", n: 0 }, { unique: {} });
      await assert.rejects(
        insertMany(db, job, [
          { args: { tag: "atomic", n: 1 } },
          { args: { tag: "taken", n: 0 }, unique: {} },
        ]),
        UniqueConflictError,
      );
      assert.equal(await count("atomic"), 0, "the failed batch left no job behind");
      const ok = await insertMany(db, job, [{ args: { tag: "atomic", n: 2 } }]);
      assert.equal(ok.count, 1);
      assert.equal(await count("atomic"), 1);
    },
  });

  cases.push({
    name: `${a.name}: insertMany of ${MANY} jobs sends a fixed number of statements`,
    async fn() {
      const jobs = (tag: string, n: number) =>
        Array.from({ length: n }, (_, i) => ({
          args: { tag, n: i },
          ...(i % 5 === 0 ? { runAt: new Date(Date.now() + 3_600_000) } : {}),
        }));
      const sent = async (tag: string, n: number) => {
        let during = 0;
        await a.inTransaction(async (tx) => {
          const before = a.statements();
          await insertMany(tx, job, jobs(tag, n));
          during = a.statements() - before;
        });
        return during;
      };
      await sent("warm", 2);
      await sent("warm_many", MANY);
      const few = await sent("few", 2);
      const many = await sent("many", MANY);
      const more = await sent("more", 2 * MANY);
      assert.equal(await count("many"), MANY);
      assert.equal(await count("more"), 2 * MANY);
      assert.ok(few > 0, "the statement hook counted nothing");
      // A small batch takes one statement in place of the reservation and the COPY.
      assert.ok(few <= many, `2 jobs took ${few} statements, ${MANY} took ${many}`);
      assert.equal(more, many, `${2 * MANY} jobs took ${more} statements, ${MANY} took ${many}`);
      assert.ok(many <= 6, `one batch took ${many} statements`);
    },
  });
  return cases;
}
