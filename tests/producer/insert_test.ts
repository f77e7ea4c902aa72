/**
 * `insert()`: transactions, scheduling, uniqueness, ordering-key routing, NOTIFY, validation
 * before any write, and the node-postgres adapter. Real Postgres only.
 */
import assert from "node:assert/strict";
import pg from "pg";
import {
  AwaError,
  defineJob,
  fromPg,
  insert,
  insertMany,
  type InsertOptions,
  orderingKeyHash64,
  UniqueConflictError,
  uniqueKeyHex,
  ValidationError,
} from "../../mod.ts";
import { testDatabase } from "../support/db.ts";
import { deferred, jobCount, POOL_TEST, writtenRows } from "../support/producer.ts";

const t = await testDatabase("producer_insert");
const sql = t.sql;
const email = defineJob<{ to: string; n?: number }>("send_email", { queue: "email" });
const anyJob = defineJob<unknown>("any_job");

async function stateOf(id: number): Promise<string | undefined> {
  const rows = await sql<{ state: string }[]>`SELECT state::text FROM awa.jobs WHERE id = ${id}`;
  return rows[0]?.state;
}

Deno.test({
  name: "insert inside sql.begin is visible after commit and gone after rollback",
  ...POOL_TEST,
  async fn() {
    const committed = await sql.begin((tx) => insert(tx, email, { to: "commit@example.com" }));
    assert.equal(committed.state, "available");
    assert.equal(committed.queue, "email");
    assert.equal(committed.kind, "send_email");
    assert.equal(await stateOf(committed.id), "available");

    let rolledBackId = 0;
    await assert.rejects(
      sql.begin(async (tx) => {
        const j = await insert(tx, email, { to: "rollback@example.com" });
        rolledBackId = j.id;
        // Visible inside its own transaction...
        const [{ n }] = await tx<{ n: number }[]>`
          SELECT count(*)::int AS n FROM awa.jobs WHERE id = ${j.id}`;
        assert.equal(n, 1);
        throw new Error("roll back");
      }),
      /roll back/,
    );
    assert.ok(rolledBackId > 0);
    // ...and nowhere after the rollback.
    assert.equal(await stateOf(rolledBackId), undefined);
    const [{ n }] = await sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM awa.ready_entries WHERE job_id = ${rolledBackId}`;
    assert.equal(n, 0);
  },
});

Deno.test({
  name: "defaults land in the row; runAt in the future makes the job scheduled",
  ...POOL_TEST,
  async fn() {
    const j = await insert(sql, anyJob, { a: 1 });
    assert.equal(j.queue, "default");
    assert.equal(j.priority, 2);
    assert.equal(j.maxAttempts, 25);
    assert.equal(j.uniqueKey, null);
    const runAt = new Date(Date.now() + 3_600_000);
    const s = await insert(sql, email, { to: "later@example.com" }, {
      runAt,
      priority: 4,
      maxAttempts: 3,
      tags: ["a", "b"],
      metadata: { source: "test" },
    });
    assert.equal(s.state, "scheduled");
    assert.equal(s.enqueueShard, null);
    assert.equal(s.runAt.getTime(), runAt.getTime());
    const [row] = await sql<
      {
        state: string;
        run_at: Date;
        priority: number;
        max_attempts: number;
        tags: string[];
        metadata: unknown;
        args: unknown;
      }[]
    >`SELECT state::text, run_at, priority, max_attempts, tags, metadata, args
      FROM awa.jobs WHERE id = ${s.id}`;
    assert.equal(row.state, "scheduled");
    assert.equal(row.run_at.getTime(), runAt.getTime());
    assert.equal(row.priority, 4);
    assert.equal(row.max_attempts, 3);
    assert.deepEqual(row.tags, ["a", "b"]);
    assert.deepEqual(row.metadata, { source: "test" });
    assert.deepEqual(row.args, { to: "later@example.com" });
    // A past runAt runs now.
    const past = await insert(sql, email, { to: "past@example.com" }, {
      runAt: new Date(Date.now() - 60_000),
    });
    assert.equal(past.state, "available");
    assert.equal(await stateOf(past.id), "available");
  },
});

Deno.test({
  name: "unique conflict raises UniqueConflictError; onConflict skip resolves to null",
  ...POOL_TEST,
  async fn() {
    const first = await insert(sql, email, { to: "u@example.com" }, { unique: {} });
    const expected = uniqueKeyHex({ kind: "send_email", args: { to: "u@example.com" } });
    assert.equal(first.uniqueKey, expected);
    const err = await insert(sql, email, { to: "u@example.com" }, { unique: {} }).then(
      () => assert.fail("expected a conflict"),
      (e) => e,
    );
    assert.ok(err instanceof UniqueConflictError);
    assert.ok(err instanceof AwaError);
    assert.equal(err.code, "UNIQUE_CONFLICT");
    assert.equal(err.constraint, "idx_awa_jobs_unique");
    assert.equal(err.uniqueKey, expected);
    const skipped = await insert(sql, email, { to: "u@example.com" }, {
      unique: {},
      onConflict: "skip",
    });
    assert.equal(skipped, null);
    assert.equal(await jobCount(sql, "args->>'to' = 'u@example.com'"), 1);
    // Inside a transaction the conflict aborts only that transaction, and nothing is kept.
    await assert.rejects(
      sql.begin(async (tx) => {
        await insert(tx, email, { to: "other@example.com" });
        await insert(tx, email, { to: "u@example.com" }, { unique: {} });
      }),
      UniqueConflictError,
    );
    assert.equal(await jobCount(sql, "args->>'to' = 'other@example.com'"), 0);
  },
});

Deno.test({
  name: "unique byQueue, byArgs, byPeriod and states",
  ...POOL_TEST,
  async fn() {
    const report = defineJob<{ day: number }>("unique_report");
    // byQueue: same args in two queues are distinct keys; without byQueue they collide.
    await insert(sql, report, { day: 1 }, { queue: "qa", unique: { byQueue: true } });
    await insert(sql, report, { day: 1 }, { queue: "qb", unique: { byQueue: true } });
    await insert(sql, report, { day: 1 }, { queue: "qa", unique: {} });
    await assert.rejects(
      insert(sql, report, { day: 1 }, { queue: "qb", unique: {} }),
      UniqueConflictError,
    );
    // byArgs false: any args collide.
    await insert(sql, report, { day: 2 }, { queue: "qc", unique: { byArgs: false } });
    await assert.rejects(
      insert(sql, report, { day: 3 }, { queue: "qc", unique: { byArgs: false } }),
      UniqueConflictError,
    );
    // byPeriod: different buckets are different keys; the same bucket collides.
    const p1 = await insert(sql, report, { day: 4 }, { unique: { byPeriod: 480000 } });
    assert.equal(
      p1.uniqueKey,
      uniqueKeyHex({ kind: "unique_report", args: { day: 4 }, periodBucket: 480000 }),
    );
    await insert(sql, report, { day: 4 }, { unique: { byPeriod: 480001 } });
    await insert(sql, report, { day: 4 }, { unique: { byPeriod: 480001n + 1n } });
    await assert.rejects(
      insert(sql, report, { day: 4 }, { unique: { byPeriod: 480000 } }),
      UniqueConflictError,
    );
    // states: a scheduled job whose mask leaves out `scheduled` takes no claim.
    const later = new Date(Date.now() + 3_600_000);
    const only = { states: ["available" as const] };
    const s1 = await insert(sql, report, { day: 5 }, { runAt: later, unique: only });
    const s2 = await insert(sql, report, { day: 5 }, { runAt: later, unique: only });
    assert.equal(s1.state, "scheduled");
    assert.equal(s2.state, "scheduled");
    const [{ n }] = await sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM awa.job_unique_claims WHERE job_id IN (${s1.id}, ${s2.id})`;
    assert.equal(n, 0);
    // ...but an available one does, and a second available one conflicts.
    const a1 = await insert(sql, report, { day: 5 }, { unique: only });
    await assert.rejects(insert(sql, report, { day: 5 }, { unique: only }), UniqueConflictError);
    const [mask] = await sql<{ unique_states: string }[]>`
      SELECT unique_states::text FROM awa.ready_entries WHERE job_id = ${a1.id}`;
    assert.equal(mask.unique_states, "01000000");
    // Default mask on the row.
    const d = await insert(sql, report, { day: 6 }, { unique: {} });
    const [dm] = await sql<{ unique_states: string }[]>`
      SELECT unique_states::text FROM awa.ready_entries WHERE job_id = ${d.id}`;
    assert.equal(dm.unique_states, "11111000");
  },
});

Deno.test({
  name: "orderingKey routes to shard H(key) mod enqueue_shards",
  ...POOL_TEST,
  async fn() {
    const [{ shards }] = await sql<{ shards: number }[]>`
      SELECT awa.queue_shards('routing') AS shards`;
    assert.equal(shards, 4, "default enqueue_shards is 4");
    const keys = ["", "customer-42", "order:7f3a", "ключ", "k-" + "x".repeat(100)];
    for (const key of keys) {
      const j = await insert(sql, anyJob, { key }, { queue: "routing", orderingKey: key });
      assert.equal(j.enqueueShard, Number(orderingKeyHash64(key) % 4n), `key ${key}`);
    }
    // Vectors: "" → 1, customer-42 → 0, order:7f3a → 2 at S = 4.
    const byKey = async (queue: string, key: string) =>
      (await insert(sql, anyJob, {}, { queue, orderingKey: key }))!.enqueueShard;
    assert.equal(await byKey("routing", ""), 1);
    assert.equal(await byKey("routing", "customer-42"), 0);
    assert.equal(await byKey("routing", "order:7f3a"), 2);
    // Byte keys route like their UTF-8 string.
    const bytes = new TextEncoder().encode("customer-42");
    assert.equal(
      (await insert(sql, anyJob, {}, { queue: "routing", orderingKey: bytes }))!
        .enqueueShard,
      0,
    );
    // A queue configured with 8 shards: mod 8 → 5, 4, 2.
    await sql`INSERT INTO awa.queue_meta (queue, enqueue_shards) VALUES ('eight', 8)`;
    assert.equal(await byKey("eight", ""), 5);
    assert.equal(await byKey("eight", "customer-42"), 4);
    assert.equal(await byKey("eight", "order:7f3a"), 2);
    // One shard: always 0.
    await sql`INSERT INTO awa.queue_meta (queue, enqueue_shards) VALUES ('one', 1)`;
    assert.equal(await byKey("one", "order:7f3a"), 0);
    const rows = await sql<{ enqueue_shard: number }[]>`
      SELECT enqueue_shard FROM awa.ready_entries WHERE queue = 'eight' ORDER BY lane_seq`;
    assert.deepEqual(rows.map((r) => r.enqueue_shard), [5, 4, 2]);
  },
});

Deno.test({
  name: "NOTIFY awa:<queue> is delivered only after commit",
  ...POOL_TEST,
  async fn() {
    const listener = t.connect({ max: 1 });
    const seen: string[] = [];
    const marker = deferred();
    const woke = deferred();
    await listener.listen("awa:notify_q", () => {
      seen.push("awa:notify_q");
      woke.resolve();
    });
    await listener.listen("test_marker", () => {
      seen.push("test_marker");
      marker.resolve();
    });
    const inTx = deferred();
    const commit = deferred();
    const tx = sql.begin(async (tx) => {
      await insert(tx, anyJob, {}, { queue: "notify_q" });
      inTx.resolve();
      await commit.promise;
    });
    await inTx.promise;
    // Notifications are delivered in commit order: once the marker (committed after the insert
    // ran) arrives, an uncommitted NOTIFY would have been delivered already if it leaked.
    await t.sql`SELECT pg_notify('test_marker', '')`;
    await marker.promise;
    assert.deepEqual(seen, ["test_marker"]);
    commit.resolve();
    await tx;
    await woke.promise;
    assert.deepEqual(seen, ["test_marker", "awa:notify_q"]);

    // A rolled-back insert never notifies; a scheduled job does not notify either.
    const marker2 = deferred();
    await listener.listen("test_marker2", () => marker2.resolve());
    await assert.rejects(sql.begin(async (tx) => {
      await insert(tx, anyJob, {}, { queue: "notify_q" });
      throw new Error("abort");
    }));
    await insert(sql, anyJob, {}, { queue: "notify_q", runAt: new Date(Date.now() + 60_000) });
    await t.sql`SELECT pg_notify('test_marker2', '')`;
    await marker2.promise;
    assert.deepEqual(seen, ["test_marker", "awa:notify_q"]);
    await listener.end();
  },
});

/** Every invalid input: expected field (exact or prefix) of the ValidationError. */
const badInputs: [string, (db: typeof sql) => Promise<unknown>, string][] = [
  ["kind with a space", (db) => insert(db, { kind: "bad kind", defaults: {} }, {}), "kind"],
  ["empty kind", (db) => insert(db, { kind: "", defaults: {} }, {}), "kind"],
  ["kind over 200", (db) => insert(db, { kind: "k".repeat(201), defaults: {} }, {}), "kind"],
  ["queue with a space", (db) => insert(db, anyJob, {}, { queue: "bad queue" }), "opts.queue"],
  ["empty queue", (db) => insert(db, anyJob, {}, { queue: "" }), "opts.queue"],
  ["queue of 60 bytes", (db) => insert(db, anyJob, {}, { queue: "q".repeat(60) }), "opts.queue"],
  [
    "queue of 30 chars = 60 UTF-8 bytes",
    (db) => insert(db, anyJob, {}, { queue: "é".repeat(30) }),
    "opts.queue",
  ],
  ["args function", (db) => insert(db, anyJob, { f: () => 1 }), "args.f"],
  ["args bigint", (db) => insert(db, anyJob, { b: 1n }), "args.b"],
  ["args NaN", (db) => insert(db, anyJob, { x: NaN }), "args.x"],
  ["args Infinity", (db) => insert(db, anyJob, { x: [Infinity] }), "args.x[0]"],
  ["args circular", (db) => {
    const a: Record<string, unknown> = {};
    a.self = a;
    return insert(db, anyJob, a);
  }, "args.self"],
  ["args class instance", (db) => insert(db, anyJob, { when: new Date() }), "args.when"],
  ["args Map", (db) => insert(db, anyJob, new Map()), "args"],
  ["args \\u0000 in a string", (db) => insert(db, anyJob, { s: "a\u0000b" }), "args.s"],
  ["args \\u0000 in a key", (db) => insert(db, anyJob, { ["a\u0000"]: 1 }), "args"],
  ["args lone surrogate", (db) => insert(db, anyJob, { s: "\ud800" }), "args.s"],
  ["args undefined", (db) => insert(db, anyJob, undefined), "args"],
  ["priority 0", (db) => insert(db, anyJob, {}, { priority: 0 }), "opts.priority"],
  ["priority 5", (db) => insert(db, anyJob, {}, { priority: 5 }), "opts.priority"],
  ["priority 1.5", (db) => insert(db, anyJob, {}, { priority: 1.5 }), "opts.priority"],
  [
    "priority as string",
    (db) => insert(db, anyJob, {}, { priority: "2" as unknown as number }),
    "opts.priority",
  ],
  ["maxAttempts 0", (db) => insert(db, anyJob, {}, { maxAttempts: 0 }), "opts.maxAttempts"],
  ["maxAttempts -1", (db) => insert(db, anyJob, {}, { maxAttempts: -1 }), "opts.maxAttempts"],
  ["maxAttempts 1001", (db) => insert(db, anyJob, {}, { maxAttempts: 1001 }), "opts.maxAttempts"],
  [
    "runAt string",
    (db) => insert(db, anyJob, {}, { runAt: "2030-01-01" as unknown as Date }),
    "opts.runAt",
  ],
  [
    "runAt number",
    (db) => insert(db, anyJob, {}, { runAt: Date.now() as unknown as Date }),
    "opts.runAt",
  ],
  ["runAt invalid Date", (db) => insert(db, anyJob, {}, { runAt: new Date("nope") }), "opts.runAt"],
  ["payload over 1 MiB", (db) => insert(db, anyJob, { blob: "x".repeat(1 << 20) }), "args"],
  [
    "payload over 1 MiB in UTF-8 bytes (600k two-byte characters)",
    (db) => insert(db, anyJob, { blob: "é".repeat(600_000) }),
    "args",
  ],
  [
    "metadata over 1 MiB",
    (db) => insert(db, anyJob, {}, { metadata: { blob: "x".repeat(1 << 20) } }),
    "args",
  ],
  [
    "1.5 in args with unique.byArgs",
    (db) => insert(db, anyJob, { x: 1.5 }, { unique: {} }),
    "args.x",
  ],
  [
    "2**60 in args with unique.byArgs",
    (db) => insert(db, anyJob, { a: [2 ** 60] }, { unique: { byArgs: true } }),
    "args.a[0]",
  ],
  [
    "unknown option key",
    (db) => insert(db, anyJob, {}, { queu: "x" } as unknown as InsertOptions),
    "opts.queu",
  ],
  [
    "args passed as an option",
    (db) => insert(db, anyJob, {}, { args: {} } as unknown as InsertOptions),
    "opts.args",
  ],
  [
    "unknown unique option key",
    (db) =>
      insert(db, anyJob, {}, { unique: { byArg: false } as unknown as InsertOptions["unique"] }),
    "opts.unique.byArg",
  ],
  [
    "reserved awa: metadata key",
    (db) => insert(db, anyJob, {}, { metadata: { "awa:traceparent": "00-abc" } }),
    "opts.metadata.awa:traceparent",
  ],
  [
    "metadata array",
    (db) => insert(db, anyJob, {}, { metadata: [] as unknown as Record<string, unknown> }),
    "opts.metadata",
  ],
  ["21 tags", (db) => insert(db, anyJob, {}, { tags: Array(21).fill("t") }), "opts.tags"],
  ["empty tag", (db) => insert(db, anyJob, {}, { tags: [""] }), "opts.tags[0]"],
  [
    "bad unique state",
    (db) => insert(db, anyJob, {}, { unique: { states: ["done" as "completed"] } }),
    "opts.unique.states",
  ],
  ["byPeriod 1.5", (db) => insert(db, anyJob, {}, { unique: { byPeriod: 1.5 } }), "opts.unique"],
  [
    "byPeriod beyond int64",
    (db) => insert(db, anyJob, {}, { unique: { byPeriod: 1n << 63n } }),
    "opts.unique.byPeriod",
  ],
  [
    "orderingKey number",
    (db) => insert(db, anyJob, {}, { orderingKey: 42 as unknown as string }),
    "opts.orderingKey",
  ],
  [
    "onConflict ignore",
    (db) => insert(db, anyJob, {}, { onConflict: "ignore" as "skip" }),
    "opts.onConflict",
  ],
  ["bad schema", (db) => insert(db, anyJob, {}, { schema: "Bad-Schema" }), "opts.schema"],
  [
    "insertMany unknown batch option",
    (db) => insertMany(db, anyJob, [{ args: {} }], { batchsize: 5 } as never),
    "opts.batchsize",
  ],
  [
    "insertMany batchSize 0",
    (db) => insertMany(db, anyJob, [{ args: {} }], { batchSize: 0 }),
    "opts.batchSize",
  ],
  [
    "args validator rejects",
    (db) =>
      insert(
        db,
        defineJob<{ n: number }>("validated", {
          validate: (a) => {
            if (a.n < 0) throw new Error("n must be >= 0");
          },
        }),
        { n: -1 },
      ),
    "args",
  ],
];

Deno.test({
  name: "every invalid input raises a typed ValidationError before anything is written",
  ...POOL_TEST,
  async fn() {
    let queries = 0;
    const counted = t.connect({ max: 1, debug: () => queries++ });
    const before = await writtenRows(sql);
    const [seqBefore] = await sql`SELECT last_value::text FROM awa.job_id_seq`;
    for (const [label, run, field] of badInputs) {
      const err = await Promise.resolve().then(() => run(counted)).then(
        () => assert.fail(`${label}: expected a ValidationError`),
        (e) => e,
      );
      assert.ok(err instanceof ValidationError, `${label}: got ${err}`);
      assert.equal(err.code, "VALIDATION", label);
      assert.ok(
        err.field === field || err.field.startsWith(field),
        `${label}: field ${err.field} should start with ${field}`,
      );
    }
    assert.equal(queries, 0, "no statement reached the database");
    assert.deepEqual(await writtenRows(sql), before);
    const [seqAfter] = await sql`SELECT last_value::text FROM awa.job_id_seq`;
    assert.equal(seqAfter.last_value, seqBefore.last_value, "no job id was even reserved");
    // Non-integral numbers are fine when the args are not part of a unique key.
    const ok = await insert(sql, anyJob, { x: 1.5, big: 2 ** 60 });
    assert.equal(ok.state, "available");
    // Just under the limit is accepted: 1 MiB minus the JSON framing.
    const framing = JSON.stringify({ blob: "" }).length + 2; // + "{}" metadata
    const edge = await insert(sql, anyJob, { blob: "x".repeat((1 << 20) - framing) });
    assert.equal(edge.state, "available");
    // A bad kind is also refused at definition time.
    assert.throws(() => defineJob("bad kind"), ValidationError);
    assert.throws(() => defineJob("k", { queue: "q".repeat(60) }), ValidationError);
    await counted.end();
  },
});

Deno.test({
  name: "node-postgres adapter: fromPg(client) and fromPg(client, { inTransaction: true })",
  ...POOL_TEST,
  async fn() {
    const client = new pg.Client({ connectionString: t.url });
    await client.connect();
    try {
      // Autocommit through the adapter.
      const j = await insert(fromPg(client), email, { to: "pg@example.com" });
      assert.equal(await stateOf(j!.id), "available");

      // Inside the caller's BEGIN ... ROLLBACK: nothing remains.
      await client.query("BEGIN");
      const inTx = fromPg(client, { inTransaction: true });
      const r1 = await insert(inTx, email, { to: "pg-rollback@example.com" });
      const many = await insertMany(inTx, email, [
        { args: { to: "pg-many-1@example.com" } },
        { args: { to: "pg-many-2@example.com" }, priority: 1 },
      ]);
      assert.equal(many.count, 2);
      const inside = await client.query(
        "SELECT count(*)::int AS n FROM awa.jobs WHERE id = ANY($1)",
        [
          [r1!.id, ...many.ids],
        ],
      );
      assert.equal(inside.rows[0].n, 3);
      await client.query("ROLLBACK");
      assert.equal(await jobCount(sql, "id = ANY($1)", [[r1!.id, ...many.ids]]), 0);

      // BEGIN ... COMMIT keeps them.
      await client.query("BEGIN");
      const kept = await insertMany(inTx, email, [
        { args: { to: "pg-keep-1@example.com" } },
        { args: { to: "pg-keep-2@example.com" }, runAt: new Date(Date.now() + 60_000) },
      ]);
      await client.query("COMMIT");
      assert.equal(await stateOf(kept.ids[0]!), "available");
      assert.equal(await stateOf(kept.ids[1]!), "scheduled");

      // insertMany without a caller transaction is atomic on its own.
      await insert(fromPg(client), email, { to: "pg-dup@example.com" }, { unique: {} });
      await assert.rejects(
        insertMany(fromPg(client), email, [
          { args: { to: "pg-fresh@example.com" } },
          { args: { to: "pg-dup@example.com" }, unique: {} },
        ]),
        (e) => e instanceof UniqueConflictError && e.constraint === "idx_awa_jobs_unique",
      );
      assert.equal(await jobCount(sql, "args->>'to' = 'pg-fresh@example.com'"), 0);
      const skipped = await insertMany(fromPg(client), email, [
        { args: { to: "pg-fresh@example.com" } },
        { args: { to: "pg-dup@example.com" }, unique: {} },
      ], { onConflict: "skip" });
      assert.equal(skipped.count, 1);
      assert.equal(skipped.ids[1], null);
      // The connection is usable afterwards (no transaction left open).
      const { rows } = await client.query("SELECT 1 AS one");
      assert.equal(rows[0].one, 1);
      assert.throws(() => fromPg({} as never), ValidationError);
    } finally {
      await client.end();
    }
  },
});

Deno.test({
  name: "close insert database",
  ...POOL_TEST,
  async fn() {
    await t.close();
  },
});
