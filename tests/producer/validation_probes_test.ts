/**
 * Fixed probes of the public producer API (issue 9 items 13 and 14): every bad input ends in a
 * typed AwaError naming the field, never a raw PostgresError, TypeError or RangeError, and
 * nothing is written. Async validators are refused instead of running unawaited.
 */
import assert from "node:assert/strict";
import {
  AwaError,
  cancelByUniqueKey,
  type Db,
  defineJob,
  fromPg,
  insert,
  insertMany,
  migrate,
  orderingKeyHash64,
  partitionForOrderingKey,
  partitionHash64,
  periodBucket,
  SchemaMissingError,
  schemaVersion,
  stateMaskBits,
  uniqueKeyHex,
  ValidationError,
} from "../../mod.ts";
import { MAX_JSON_DEPTH } from "../../src/validate.ts";
import { testDatabase } from "../support/db.ts";
import { POOL_TEST, writtenRows } from "../support/producer.ts";

const t = await testDatabase("validation_probes");
const sql = t.sql;
const job = defineJob<Record<string, unknown>>("probe_job", { queue: "probe" });

function nested(depth: number): Record<string, unknown> {
  let v: Record<string, unknown> = {};
  for (let i = 0; i < depth; i++) v = { d: v };
  return v;
}

const YEAR_0 = new Date(Date.parse("0001-01-01T00:00:00.000Z") - 1);
const YEAR_10000 = new Date(Date.parse("9999-12-31T23:59:59.999Z") + 1);
const NEGATIVE_YEAR = new Date(Date.parse("-000001-06-01T00:00:00.000Z"));
const sparse: { args: Record<string, unknown> }[] = [];
sparse[1] = { args: {} };

type Probe = [string, () => unknown, string | typeof SchemaMissingError];

const probes: Probe[] = [
  // Times Postgres cannot read back.
  ["runAt year 0", () => insert(sql, job, {}, { runAt: YEAR_0 }), "opts.runAt"],
  ["runAt year 10000", () => insert(sql, job, {}, { runAt: YEAR_10000 }), "opts.runAt"],
  ["runAt negative year", () => insert(sql, job, {}, { runAt: NEGATIVE_YEAR }), "opts.runAt"],
  ["runAt invalid", () => insert(sql, job, {}, { runAt: new Date(NaN) }), "opts.runAt"],
  [
    "insertMany runAt year 10000",
    () => insertMany(sql, job, [{ args: {}, runAt: YEAR_10000 }]),
    "jobs[0].runAt",
  ],
  // Lone surrogates in keys and tags.
  ["args key surrogate", () => insert(sql, job, { ["a\ud800"]: 1 }), "args"],
  ["nested args key surrogate", () => insert(sql, job, { x: { ["\udfff"]: 1 } }), "args.x"],
  [
    "metadata key surrogate",
    () => insert(sql, job, {}, { metadata: { ["\ud800"]: 1 } }),
    "opts.metadata",
  ],
  ["insert tag surrogate", () => insert(sql, job, {}, { tags: ["t\ud800"] }), "opts.tags[0]"],
  [
    "insertMany tag surrogate",
    () => insertMany(sql, job, [{ args: {}, tags: ["t\ud800"] }]),
    "jobs[0].tags[0]",
  ],
  [
    "orderingKey surrogate",
    () => insert(sql, job, {}, { orderingKey: "k\ud800" }),
    "opts.orderingKey",
  ],
  // Schema names.
  ["schema order", () => insert(sql, job, {}, { schema: "order" }), "opts.schema"],
  [
    "schema select",
    () => insertMany(sql, job, [{ args: {} }], { schema: "select" }),
    "opts.schema",
  ],
  ["schema pg_", () => insert(sql, job, {}, { schema: "pg_awa" }), "opts.schema"],
  ["migrate schema order", () => migrate(sql, { schema: "order" }), "schema"],
  ["missing schema insert", () => insert(sql, job, {}, { schema: "nowhere" }), SchemaMissingError],
  [
    "missing schema cancel",
    () => cancelByUniqueKey(sql, job, { args: {}, schema: "nowhere" }),
    SchemaMissingError,
  ],
  // cancelByUniqueKey options.
  [
    "cancel reason NUL",
    () => cancelByUniqueKey(sql, job, { args: {}, reason: "a\0b" }),
    "opts.reason",
  ],
  [
    "cancel reason boolean",
    () => cancelByUniqueKey(sql, job, { args: {}, reason: true as never }),
    "opts.reason",
  ],
  ["cancel byPeriod 1.5", () => cancelByUniqueKey(sql, job, { byPeriod: 1.5 }), "opts.byPeriod"],
  ["cancel byPeriod NaN", () => cancelByUniqueKey(sql, job, { byPeriod: NaN }), "opts.byPeriod"],
  ["cancel null options", () => cancelByUniqueKey(sql, job, null as never), "opts"],
  ["cancel misspelt arg", () => cancelByUniqueKey(sql, job, { arg: {} } as never), "opts.arg"],
  [
    "cancel args surrogate",
    () => cancelByUniqueKey(sql, job, { args: { ["\ud800"]: 1 } }),
    "opts.args",
  ],
  // null and unknown options everywhere.
  ["migrate null", () => migrate(sql, null as never), "options"],
  ["migrate unknown", () => migrate(sql, { schemas: "x" } as never), "options.schemas"],
  ["schemaVersion null", () => schemaVersion(sql, null as never), "options"],
  ["defineJob null", () => defineJob("k", null as never), "defaults"],
  ["defineJob misspelt", () => defineJob("k", { queu: "x" } as never), "defaults.queu"],
  ["insert null options", () => insert(sql, job, {}, null as never), "opts"],
  ["insertMany null options", () => insertMany(sql, job, [{ args: {} }], null as never), "opts"],
  [
    "insertMany batch unique",
    () => insertMany(sql, job, [{ args: {} }], { unique: {} } as never),
    "opts.unique",
  ],
  [
    "insertMany per-job schema",
    () => insertMany(sql, job, [{ args: {}, schema: "awa" } as never]),
    "jobs[0].schema",
  ],
  [
    "fromPg options null",
    () => fromPg({ query: () => Promise.resolve({ rows: [] }) }, null as never),
    "options",
  ],
  // Database handles.
  ["URL string as db", () => insert("postgres://x" as never, job, {}), "db"],
  ["fromPg({})", () => fromPg({} as never), "client"],
  ["forged pg executor", () => insert({ kind: "pg" } as unknown as Db, job, {}), "db"],
  // Shapes.
  ["hand-made definition", () => insert(sql, { kind: "k" } as never, {}), "job"],
  ["null definition", () => insertMany(sql, null as never, [{ args: {} }]), "job"],
  ["cancel bad kind", () => cancelByUniqueKey(sql, { kind: "a b" } as never, {}), "job.kind"],
  ["sparse jobs", () => insertMany(sql, job, sparse), "jobs[0]"],
  ["sparse args array", () => insert(sql, job, { a: [1, , 3] }), "args.a[1]"],
  ["args 6000 deep", () => insert(sql, job, nested(6000)), "args"],
  ["unique args 6000 deep", () => insert(sql, job, nested(6000), { unique: {} }), "args"],
  [
    "Symbol priority",
    () => insert(sql, job, {}, { priority: Symbol("p") as never }),
    "opts.priority",
  ],
  ["BigInt priority", () => insert(sql, job, {}, { priority: 1n as never }), "opts.priority"],
  ["Symbol queue", () => insert(sql, job, {}, { queue: Symbol("q") as never }), "opts.queue"],
  [
    "BigInt maxAttempts",
    () => insert(sql, job, {}, { maxAttempts: 3n as never }),
    "opts.maxAttempts",
  ],
  [
    "Symbol onConflict",
    () => insert(sql, job, {}, { onConflict: Symbol() as never }),
    "opts.onConflict",
  ],
  ["Symbol in args", () => insert(sql, job, { s: Symbol("x") }), "args.s"],
  ["BigInt in args", () => insert(sql, job, { b: 5n }), "args.b"],
  [
    "Symbol batchSize",
    () => insertMany(sql, job, [{ args: {} }], { batchSize: Symbol() as never }),
    "opts.batchSize",
  ],
  // Exported hash helpers.
  ["uniqueKeyHex null", () => uniqueKeyHex(null as never), "input"],
  ["uniqueKeyHex kind number", () => uniqueKeyHex({ kind: 1 as never }), "kind"],
  ["uniqueKeyHex misspelt", () => uniqueKeyHex({ kind: "k", arg: {} } as never), "input.arg"],
  [
    "uniqueKeyHex bucket 1.5",
    () => uniqueKeyHex({ kind: "k", periodBucket: 1.5 }),
    "unique.byPeriod",
  ],
  [
    "uniqueKeyHex bucket 2^63",
    () => uniqueKeyHex({ kind: "k", periodBucket: 1n << 63n }),
    "unique.byPeriod",
  ],
  [
    "uniqueKeyHex queue Symbol",
    () => uniqueKeyHex({ kind: "k", queue: Symbol() as never }),
    "queue",
  ],
  ["uniqueKeyHex deep args", () => uniqueKeyHex({ kind: "k", args: nested(6000) }), "args"],
  ["orderingKeyHash64 number", () => orderingKeyHash64(5 as never), "key"],
  ["orderingKeyHash64 surrogate", () => orderingKeyHash64("\ud800"), "key"],
  ["partitionHash64 null", () => partitionHash64(null as never), "key"],
  ["partitionForOrderingKey -1", () => partitionForOrderingKey("k", -1), "n"],
  ["partitionForOrderingKey 1.5", () => partitionForOrderingKey("k", 1.5), "n"],
  ["partitionForOrderingKey NaN", () => partitionForOrderingKey("k", NaN), "n"],
  ["stateMaskBits unknown", () => stateMaskBits(["nope" as never]), "states"],
  ["stateMaskBits null", () => stateMaskBits(null as never), "states"],
  ["periodBucket invalid Date", () => periodBucket(60, new Date(NaN)), "at"],
  ["periodBucket 0", () => periodBucket(0), "periodSeconds"],
  ["periodBucket BigInt", () => periodBucket(60n as never), "periodSeconds"],
];

Deno.test({
  name: "fixed probes: every bad input raises a typed AwaError naming the field, writing nothing",
  ...POOL_TEST,
  async fn() {
    const before = await writtenRows(sql);
    for (const [what, call, expected] of probes) {
      let err: unknown;
      try {
        await call();
      } catch (e) {
        err = e;
      }
      assert.ok(err instanceof AwaError, `${what}: expected an AwaError, got ${String(err)}`);
      if (typeof expected === "string") {
        assert.ok(err instanceof ValidationError, `${what}: ${err}`);
        assert.equal(err.field, expected, `${what}: ${err.message}`);
      } else {
        assert.ok(err instanceof expected, `${what}: ${err}`);
      }
    }
    assert.deepEqual(await writtenRows(sql), before, "nothing was written");
  },
});

Deno.test({
  name: `args nested to the documented depth (${MAX_JSON_DEPTH}) are accepted`,
  ...POOL_TEST,
  async fn() {
    const ok = await insert(sql, job, nested(MAX_JSON_DEPTH - 1), { unique: {} });
    assert.ok(ok);
    await assert.rejects(insert(sql, job, nested(MAX_JSON_DEPTH)), ValidationError);
  },
});

Deno.test({
  name: "async validators: refused at defineJob; a validator returning a promise fails the insert",
  ...POOL_TEST,
  async fn() {
    assert.throws(
      () => defineJob<{ n: number }>("async_validated", { validate: async () => {} }),
      (e) => e instanceof ValidationError && e.field === "defaults.validate",
    );
    // A plain function that returns a (rejecting) promise slips past defineJob; the insert must
    // refuse it without leaving an unhandled rejection (Deno fails the test on one).
    const sneaky = defineJob<{ n: number }>("promise_validated", {
      validate: ((args: { n: number }) =>
        args.n < 0 ? Promise.reject(new Error("negative")) : Promise.resolve()) as never,
    });
    const before = await writtenRows(sql);
    for (const n of [-1, 1]) {
      await assert.rejects(
        insert(sql, sneaky, { n }),
        (e) => e instanceof ValidationError && e.field === "job.defaults.validate",
      );
      await assert.rejects(insertMany(sql, sneaky, [{ args: { n } }]), ValidationError);
    }
    assert.deepEqual(await writtenRows(sql), before, "no unvalidated insert");
    // A synchronous validator still works.
    const sync = defineJob<{ n: number }>("sync_validated", {
      validate: (a) => {
        if (a.n < 0) throw new Error("n must not be negative");
      },
    });
    await assert.rejects(insert(sql, sync, { n: -1 }), /n must not be negative/);
    assert.ok(await insert(sql, sync, { n: 1 }));
  },
});

Deno.test({
  name: "close validation_probes database",
  ...POOL_TEST,
  async fn() {
    await t.close();
  },
});
