/**
 * Random junk into every public producer entry and the exported hash helpers (issue 9 item 13):
 * a call either succeeds or rejects with an AwaError whose code is one of the stable contract
 * outcomes, and the jobs written are exactly those of the calls that succeeded.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  AwaError,
  cancelByUniqueKey,
  defineJob,
  fromPg,
  insert,
  insertMany,
  orderingKeyHash64,
  partitionForOrderingKey,
  partitionHash64,
  periodBucket,
  schemaVersion,
  stateMaskBits,
  uniqueKeyHex,
} from "../../mod.ts";
import { testDatabase } from "../support/db.ts";
import { jobCount, POOL_TEST } from "../support/producer.ts";

const t = await testDatabase("validation_sweep");
const sql = t.sql;
const job = defineJob<unknown>("sweep_job", { queue: "sweep" });

/** Outcomes a caller may see from bad input; a DATABASE code would mean junk reached SQL. */
const ALLOWED = new Set(["VALIDATION", "UNIQUE_CONFLICT", "SCHEMA_MISSING"]);

const loneSurrogate = fc.constantFrom("\ud800", "a\udfff", "\udc00b");
const oddString = fc.oneof(
  fc.string(),
  loneSurrogate,
  fc.constantFrom("", "a\u0000b", "order", "select", "Bad-Name", "odd kind!", "café", "pg_x"),
);
const oddDate = fc.oneof(
  fc.date({ noInvalidDate: false }),
  fc.constantFrom(new Date(8.64e15), new Date(-8.64e15), new Date(-62135596800001), new Date(NaN)),
);
const leaf = fc.oneof(
  fc.anything({ maxDepth: 2 }),
  oddString,
  oddDate,
  fc.bigInt(),
  fc.constantFrom(Symbol("s"), NaN, Infinity, -0, 1.5, 2 ** 53, () => 1, null, undefined),
);
const junk = fc.oneof(
  leaf,
  fc.array(leaf, { maxLength: 3 }),
  fc.dictionary(oddString, leaf, { maxKeys: 3 }),
);

const INSERT_KEYS = [
  "queue",
  "priority",
  "maxAttempts",
  "runAt",
  "tags",
  "metadata",
  "unique",
  "onConflict",
  "orderingKey",
  "schema",
  "batchSize",
  "args",
  "reason",
  "byPeriod",
  "maxAttempt",
  "arg",
  "timing",
];
/** Options objects made mostly of real keys, so deeper checks run too. */
const opts = fc.oneof(
  junk,
  fc.dictionary(
    fc.constantFrom(...INSERT_KEYS),
    fc.oneof(
      junk,
      fc.dictionary(fc.constantFrom("byArgs", "byQueue", "byPeriod", "states", "byArg"), junk),
    ),
    { maxKeys: 4 },
  ),
);
const manyJobs = fc.oneof(
  junk,
  fc.array(
    fc.oneof(
      junk,
      fc.record({ args: junk }),
      fc.tuple(junk, opts).map(([a, o]) => ({ ...(o as object), args: a })),
    ),
    {
      maxLength: 4,
    },
  ),
);

let written = 0;

async function probe(what: string, call: () => unknown): Promise<void> {
  try {
    const out = await call();
    if (what === "insert" && out) written++;
    if (what === "insertMany") written += (out as { count: number }).count;
  } catch (err) {
    assert.ok(err instanceof AwaError, `${what}: raw ${String(err)}`);
    assert.ok(ALLOWED.has(err.code), `${what}: ${err.code} ${err.message}`);
  }
}

Deno.test({
  name:
    "fast-check sweep: junk into producer entries ends in typed errors and writes only successes",
  ...POOL_TEST,
  async fn() {
    const before = await jobCount(sql, "kind = $1", [job.kind]);
    const params = { numRuns: 150, seed: Number(Deno.env.get("SWEEP_SEED") ?? 13) };
    await fc.assert(
      fc.asyncProperty(
        junk,
        opts,
        (a, o) => probe("insert", () => insert(sql, job, a, o as never)),
      ),
      params,
    );
    await fc.assert(
      fc.asyncProperty(
        manyJobs,
        opts,
        (j, o) => probe("insertMany", () => insertMany(sql, job, j as never, o as never)),
      ),
      params,
    );
    await fc.assert(
      fc.asyncProperty(
        opts,
        (o) => probe("cancelByUniqueKey", () => cancelByUniqueKey(sql, job, o as never)),
      ),
      params,
    );
    await fc.assert(
      fc.asyncProperty(junk, (o) => probe("schemaVersion", () => schemaVersion(sql, o as never))),
      params,
    );
    await fc.assert(
      fc.asyncProperty(
        junk,
        junk,
        (k, d) => probe("defineJob", () => defineJob(k as never, d as never)),
      ),
      params,
    );
    await fc.assert(
      fc.asyncProperty(junk, junk, (h, o) => probe("fromPg", () => fromPg(h as never, o as never))),
      params,
    );
    await fc.assert(
      fc.asyncProperty(junk, (db) => probe("insert db", () => insert(db as never, job, {}))),
      params,
    );
    assert.equal(
      await jobCount(sql, "kind = $1", [job.kind]) - before,
      written,
      "rows written = jobs of the successful calls",
    );
    assert.ok(written > 0, "some random calls were valid and succeeded");
  },
});

Deno.test({
  name: "fast-check sweep: junk into the exported hash helpers ends in ValidationError",
  ...POOL_TEST,
  async fn() {
    const params = { numRuns: 300, seed: Number(Deno.env.get("SWEEP_SEED") ?? 7) };
    const helpers: [string, (a: unknown, b: unknown) => unknown][] = [
      ["uniqueKeyHex", (a) => uniqueKeyHex(a as never)],
      [
        "uniqueKeyHex fields",
        (a, b) => uniqueKeyHex({ kind: "k", ...(b as object), args: a } as never),
      ],
      ["orderingKeyHash64", (a) => orderingKeyHash64(a as never)],
      ["partitionHash64", (a) => partitionHash64(a as never)],
      ["partitionForOrderingKey", (a, b) => partitionForOrderingKey(a as never, b as never)],
      ["stateMaskBits", (a) => stateMaskBits(a as never)],
      ["periodBucket", (a, b) => periodBucket(a as never, b as never)],
    ];
    for (const [what, fn] of helpers) {
      await fc.assert(
        fc.asyncProperty(junk, opts, (a, b) => probe(what, () => fn(a, b))),
        params,
      );
    }
  },
});

Deno.test({
  name: "close validation_sweep database",
  ...POOL_TEST,
  async fn() {
    await t.close();
  },
});
