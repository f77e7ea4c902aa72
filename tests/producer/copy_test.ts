/**
 * insertMany's COPY path when the server rejects the data (issue 9 item 3): the call rejects
 * promptly with a typed error and the connection goes back to the pool clean, and input the
 * server would reject is refused before anything is sent.
 */
import assert from "node:assert/strict";
import {
  DatabaseError,
  defineJob,
  insert,
  insertMany,
  migrate,
  ValidationError,
} from "../../mod.ts";
import { testDatabase } from "../support/db.ts";
import { POOL_TEST, writtenRows } from "../support/producer.ts";

const t = await testDatabase("producer_copy");
const job = defineJob<Record<string, unknown>>("copy_job", { queue: "copy" });
const rejected = defineJob<Record<string, unknown>>("copy_rejected", { queue: "copy" });

// A schema whose tables refuse one kind: the server fails the COPY for a reason validation
// cannot know, exactly like bad data would.
await migrate(t.sql, { schema: "copyfail" });
await t.sql.unsafe(`ALTER TABLE copyfail.ready_entries
  ADD CONSTRAINT test_refuse_kind CHECK (kind <> 'copy_rejected')`);
await t.sql.unsafe(`ALTER TABLE copyfail.deferred_jobs
  ADD CONSTRAINT test_refuse_kind CHECK (kind <> 'copy_rejected')`);

/** Reject if `p` has not settled within `ms` (a hang is the defect under test). */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout>;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} still pending after ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

Deno.test({
  name:
    "a COPY the server rejects fails promptly with DatabaseError and the pool (max 1) still works",
  ...POOL_TEST,
  async fn() {
    const sql = t.connect({ max: 1 });
    const before = await writtenRows(sql, "copyfail");
    const cases: [string, { args: Record<string, unknown>; runAt?: Date }[]][] = [
      ["one ready row", [{ args: { a: 1 } }]],
      ["one deferred row", [{ args: { a: 1 }, runAt: new Date(Date.now() + 3_600_000) }]],
      // Well past one 64 KiB chunk, so the server fails while rows are still being streamed.
      [
        "a long batch",
        Array.from({ length: 5000 }, (_, i) => ({ args: { i, pad: "x".repeat(40) } })),
      ],
    ];
    for (const [what, jobs] of cases) {
      const err = await within(
        insertMany(sql, rejected, jobs, { schema: "copyfail" }).then(
          () => assert.fail(`${what}: the COPY should have failed`),
          (e) => e,
        ),
        15_000,
        `insertMany (${what})`,
      );
      assert.ok(err instanceof DatabaseError, `${what}: ${err}`);
      assert.equal(err.sqlState, "23514", what);
      // The single connection is back, outside any transaction.
      const [{ one }] = await within(sql`SELECT 1 AS one`, 5_000, "next query");
      assert.equal(one, 1);
      const ok = await within(
        insertMany(sql, job, [{ args: { after: what } }], { schema: "copyfail" }),
        5_000,
        "next insertMany",
      );
      assert.equal(ok.count, 1);
    }
    const after = await writtenRows(sql, "copyfail");
    assert.equal(after.ready_entries, before.ready_entries + cases.length, "only the good jobs");
    assert.equal(after.deferred_jobs, before.deferred_jobs);
    await sql.end();
  },
});

Deno.test({
  name:
    "input the server would reject in COPY is refused before sending (key surrogate, runAt range)",
  ...POOL_TEST,
  async fn() {
    const sql = t.connect({ max: 1 });
    const before = await writtenRows(sql);
    const probes: [string, () => Promise<unknown>, string][] = [
      ["args key", () => insertMany(sql, job, [{ args: { ["k\ud800"]: 1 } }]), "jobs[0].args"],
      [
        "metadata key",
        () => insertMany(sql, job, [{ args: {}, metadata: { ["m\udc00"]: 1 } }]),
        "jobs[0].metadata",
      ],
      [
        "runAt 8.64e15",
        () => insertMany(sql, job, [{ args: {}, runAt: new Date(8.64e15) }]),
        "jobs[0].runAt",
      ],
      ["insert args key", () => insert(sql, job, { ["\ud800"]: 1 }), "args"],
      ["insert runAt", () => insert(sql, job, {}, { runAt: new Date(8.64e15) }), "opts.runAt"],
    ];
    for (const [what, call, field] of probes) {
      const err = await within(call().then(() => null, (e) => e), 5_000, what);
      assert.ok(err instanceof ValidationError, `${what}: ${err}`);
      assert.equal(err.field, field, what);
    }
    assert.deepEqual(await writtenRows(sql), before, "nothing was written");
    await sql.end();
  },
});

Deno.test({
  name: "close producer_copy database",
  ...POOL_TEST,
  async fn() {
    await t.close();
  },
});
