/**
 * Pins the public SQL enqueue contract `awa.insert_job` v1 (docs/sql-enqueue-contract.md). A
 * migration that changes any of this must fail here: such a change needs a new function name.
 */
import assert from "node:assert/strict";
import { defineJob, insert, UniqueConflictError, uniqueKeyHex } from "../../mod.ts";
import { testDatabase } from "../support/db.ts";
import { deferred, POOL_TEST } from "../support/producer.ts";

const t = await testDatabase("sql_contract");
const sql = t.sql;

interface PgErr {
  code: string;
  message: string;
  constraint_name?: string;
}

async function pgError(p: Promise<unknown>): Promise<PgErr> {
  try {
    await p;
  } catch (e) {
    return e as PgErr;
  }
  return assert.fail("expected a Postgres error");
}

Deno.test({
  name: "signature: one function, exact regprocedure, argument names and defaults, result",
  ...POOL_TEST,
  async fn() {
    const procs = await sql<{ sig: string }[]>`
      SELECT p.oid::regprocedure::text AS sig FROM pg_proc p
      JOIN pg_namespace n ON n.oid = p.pronamespace
      WHERE n.nspname = 'awa' AND p.proname = 'insert_job'`;
    assert.deepEqual(procs.map((p) => p.sig), [
      "awa.insert_job(text,jsonb,text,smallint,smallint,timestamp with time zone,jsonb,text[]," +
      "bytea,bit,bytea,jsonb)",
    ], "exactly one signature, no overloads");
    const [f] = await sql<{ args: string; result: string; comment: string; volatile: string }[]>`
      SELECT pg_get_function_arguments(p.oid) AS args, pg_get_function_result(p.oid) AS result,
        obj_description(p.oid, 'pg_proc') AS comment, p.provolatile AS volatile
      FROM pg_proc p WHERE p.oid = 'awa.insert_job'::regproc`;
    assert.equal(
      f.args,
      [
        "p_kind text",
        "p_args jsonb DEFAULT '{}'::jsonb",
        "p_queue text DEFAULT 'default'::text",
        "p_priority smallint DEFAULT 2",
        "p_max_attempts smallint DEFAULT 25",
        "p_run_at timestamp with time zone DEFAULT NULL::timestamp with time zone",
        "p_metadata jsonb DEFAULT '{}'::jsonb",
        "p_tags text[] DEFAULT '{}'::text[]",
        "p_unique_key bytea DEFAULT NULL::bytea",
        'p_unique_states bit DEFAULT NULL::"bit"',
        "p_ordering_key bytea DEFAULT NULL::bytea",
        "p_opts jsonb DEFAULT '{}'::jsonb",
      ].join(", "),
    );
    assert.equal(f.result, "SETOF awa.inserted_job");
    assert.equal(f.volatile, "v");
    assert.equal(
      f.comment,
      "awa.insert_job v1 — public SQL enqueue contract; see docs/sql-enqueue-contract.md",
    );
    assert.ok(f.comment.startsWith("awa.insert_job v1"));
  },
});

Deno.test({
  name: "row type awa.inserted_job: column names and types in order",
  ...POOL_TEST,
  async fn() {
    const cols = await sql<{ name: string; type: string }[]>`
      SELECT attname AS name, format_type(atttypid, atttypmod) AS type FROM pg_attribute
      WHERE attrelid = 'awa.inserted_job'::regclass AND attnum > 0 AND NOT attisdropped
      ORDER BY attnum`;
    assert.deepEqual(cols.map((c) => `${c.name} ${c.type}`), [
      "id bigint",
      "kind text",
      "queue text",
      "state text",
      "priority smallint",
      "max_attempts smallint",
      "run_at timestamp with time zone",
      "created_at timestamp with time zone",
      "unique_key bytea",
      "enqueue_shard smallint",
    ]);
  },
});

Deno.test({
  name: "defaults and nulls: a kind alone inserts an available job with documented defaults",
  ...POOL_TEST,
  async fn() {
    const [r] = await sql`SELECT * FROM awa.insert_job('contract_default')`;
    assert.equal(r.kind, "contract_default");
    assert.equal(r.queue, "default");
    assert.equal(r.state, "available");
    assert.equal(r.priority, 2);
    assert.equal(r.max_attempts, 25);
    assert.equal(r.unique_key, null);
    assert.ok(r.enqueue_shard >= 0 && r.enqueue_shard < 4);
    assert.ok(r.run_at instanceof Date);
    // Explicit NULLs mean the same defaults.
    const [n] = await sql`
      SELECT * FROM awa.insert_job('contract_nulls', NULL, NULL, NULL, NULL, NULL, NULL, NULL,
        NULL, NULL, NULL, NULL)`;
    assert.equal(n.queue, "default");
    assert.equal(n.priority, 2);
    assert.equal(n.max_attempts, 25);
    assert.equal(n.state, "available");
    const [row] = await sql`SELECT args, metadata, tags FROM awa.jobs WHERE id = ${n.id}`;
    assert.deepEqual(row, { args: {}, metadata: {}, tags: [] });
    // Named arguments, a future run_at → scheduled with no shard; a past one → available.
    const [s] = await sql`
      SELECT * FROM awa.insert_job(p_kind => 'contract_named', p_queue => 'contract_q',
        p_priority => 1::smallint, p_run_at => now() + interval '1 hour')`;
    assert.equal(s.state, "scheduled");
    assert.equal(s.enqueue_shard, null);
    assert.equal(s.priority, 1);
    const [p] = await sql`
      SELECT * FROM awa.insert_job(p_kind => 'contract_named', p_run_at => now() - interval '1 hour')`;
    assert.equal(p.state, "available");
    // Ordering key routes by Algorithm H: customer-42 → shard 0, order:7f3a → 2 (S = 4).
    const [k1] = await sql`
      SELECT enqueue_shard FROM awa.insert_job('contract_key',
        p_ordering_key => convert_to('customer-42', 'UTF8'))`;
    const [k2] = await sql`
      SELECT enqueue_shard FROM awa.insert_job('contract_key',
        p_ordering_key => convert_to('order:7f3a', 'UTF8'))`;
    assert.equal(k1.enqueue_shard, 0);
    assert.equal(k2.enqueue_shard, 2);
  },
});

Deno.test({
  name: "SQLSTATEs: 23514 'awa: invalid <field>', 22023 for opts",
  ...POOL_TEST,
  async fn() {
    const cases: [string, () => Promise<unknown>, string, string][] = [
      ["empty kind", () => sql`SELECT awa.insert_job('')`, "23514", "awa: invalid kind"],
      ["null kind", () => sql`SELECT awa.insert_job(NULL)`, "23514", "awa: invalid kind"],
      [
        "kind over 200",
        () => sql`SELECT awa.insert_job(${"k".repeat(201)})`,
        "23514",
        "awa: invalid kind",
      ],
      [
        "queue over 59 bytes",
        () => sql`SELECT awa.insert_job('k', p_queue => ${"é".repeat(30)})`,
        "23514",
        "awa: invalid queue",
      ],
      [
        "empty queue",
        () => sql`SELECT awa.insert_job('k', p_queue => '')`,
        "23514",
        "awa: invalid queue",
      ],
      [
        "priority 0",
        () => sql`SELECT awa.insert_job('k', p_priority => 0::smallint)`,
        "23514",
        "awa: invalid priority",
      ],
      [
        "priority 5",
        () => sql`SELECT awa.insert_job('k', p_priority => 5::smallint)`,
        "23514",
        "awa: invalid priority",
      ],
      [
        "max_attempts 0",
        () => sql`SELECT awa.insert_job('k', p_max_attempts => 0::smallint)`,
        "23514",
        "awa: invalid max_attempts",
      ],
      [
        "max_attempts 1001",
        () => sql`SELECT awa.insert_job('k', p_max_attempts => 1001::smallint)`,
        "23514",
        "awa: invalid max_attempts",
      ],
      [
        "21 tags",
        () => sql`SELECT awa.insert_job('k', p_tags => array_fill('t'::text, ARRAY[21]))`,
        "23514",
        "awa: invalid tags",
      ],
      [
        "metadata not an object",
        () => sql`SELECT awa.insert_job('k', p_metadata => '[]'::jsonb)`,
        "23514",
        "awa: invalid metadata",
      ],
      [
        "unique key of 15 bytes",
        () => sql`SELECT awa.insert_job('k', p_unique_key => decode(repeat('ab', 15), 'hex'))`,
        "23514",
        "awa: invalid unique_key",
      ],
      [
        "unknown opts key",
        () => sql`SELECT awa.insert_job('k', p_opts => '{"on_conflcit":"skip"}'::jsonb)`,
        "22023",
        "awa: unknown opts key",
      ],
      [
        "opts not an object",
        () => sql`SELECT awa.insert_job('k', p_opts => '[]'::jsonb)`,
        "22023",
        "awa: invalid opts",
      ],
      [
        "on_conflict bad value",
        () => sql`SELECT awa.insert_job('k', p_opts => '{"on_conflict":"ignore"}'::jsonb)`,
        "22023",
        "awa: invalid opts.on_conflict",
      ],
      [
        "on_conflict wrong type",
        () => sql`SELECT awa.insert_job('k', p_opts => '{"on_conflict":true}'::jsonb)`,
        "22023",
        "awa: invalid opts.on_conflict",
      ],
    ];
    const [{ before }] = await sql`SELECT count(*)::int AS before FROM awa.jobs`;
    for (const [label, run, code, prefix] of cases) {
      const err = await pgError(run());
      assert.equal(err.code, code, `${label}: ${err.message}`);
      assert.ok(err.message.startsWith(prefix), `${label}: "${err.message}" starts with ${prefix}`);
    }
    const [{ after }] = await sql`SELECT count(*)::int AS after FROM awa.jobs`;
    assert.equal(after, before, "failed calls wrote nothing");
  },
});

Deno.test({
  name: "23505 idx_awa_jobs_unique; on_conflict skip returns zero rows",
  ...POOL_TEST,
  async fn() {
    const key = "00112233445566778899aabbccddeeff";
    const first = await sql`
      SELECT * FROM awa.insert_job('contract_unique', p_unique_key => decode(${key}, 'hex'))`;
    assert.equal(first.length, 1);
    assert.equal(first[0].unique_key.toString("hex"), key);
    const err = await pgError(sql`
      SELECT * FROM awa.insert_job('contract_unique', p_unique_key => decode(${key}, 'hex'))`);
    assert.equal(err.code, "23505");
    assert.equal(err.constraint_name, "idx_awa_jobs_unique");
    const skipped = await sql`
      SELECT * FROM awa.insert_job('contract_unique', p_unique_key => decode(${key}, 'hex'),
        p_opts => '{"on_conflict":"skip"}')`;
    assert.equal(skipped.length, 0);
    const explicit = await pgError(sql`
      SELECT * FROM awa.insert_job('contract_unique', p_unique_key => decode(${key}, 'hex'),
        p_opts => '{"on_conflict":"error"}')`);
    assert.equal(explicit.code, "23505");
    // A mask without `available` takes no claim for an available job.
    const free = await sql`
      SELECT * FROM awa.insert_job('contract_unique', p_unique_key => decode(${key}, 'hex'),
        p_unique_states => B'10000000')`;
    assert.equal(free.length, 1);
    const [{ n }] = await sql`
      SELECT count(*)::int AS n FROM awa.job_unique_claims WHERE unique_key = decode(${key}, 'hex')`;
    assert.equal(n, 1);
  },
});

const U_VECTORS = [
  {
    name: "U1",
    hex: "bee8bfbcd9d48e51f79059a523039018",
    kind: "send_email",
    args: { to: "u1@example.com" },
    queue: "default",
    unique: { byArgs: false },
  },
  {
    name: "U2",
    hex: "93c3005f70fde2c5aa06779be3818fd1",
    kind: "send_email",
    args: { to: "alice@example.com", subject: "Welcome" },
    queue: "email",
    unique: { byQueue: true },
  },
  {
    name: "U3",
    hex: "1472157aec659600b951bf45e186c77a",
    kind: "daily_report",
    args: { z: [3, { b: true, a: null }], "é": "naïve", a: -7 },
    queue: "default",
    unique: { byPeriod: 480000 },
  },
];

Deno.test({
  name: "U1–U3: keys from TS block SQL duplicates and keys given to SQL block TS duplicates",
  ...POOL_TEST,
  async fn() {
    for (const v of U_VECTORS) {
      const def = defineJob<unknown>(v.kind);
      // Direction 1: the TS producer computes the key; a SQL producer passing the vector collides.
      const ts = await insert(sql, def, v.args, { queue: v.queue, unique: v.unique });
      assert.equal(ts.uniqueKey, v.hex, `${v.name} computed by TS`);
      const err = await pgError(sql`
        SELECT * FROM awa.insert_job(${v.kind}, ${sql.json(v.args)}, ${v.queue},
          p_unique_key => decode(${v.hex}, 'hex'), p_unique_states => B'11111000')`);
      assert.equal(err.code, "23505", v.name);
      assert.equal(err.constraint_name, "idx_awa_jobs_unique");
    }
    // Release the claims, then go the other way round.
    await sql`TRUNCATE awa.job_unique_claims`;
    for (const v of U_VECTORS) {
      const [row] = await sql`
        SELECT * FROM awa.insert_job(${v.kind}, ${sql.json(v.args)}, ${v.queue},
          p_unique_key => decode(${v.hex}, 'hex'))`;
      assert.equal(row.unique_key.toString("hex"), v.hex);
      await assert.rejects(
        insert(sql, defineJob<unknown>(v.kind), v.args, { queue: v.queue, unique: v.unique }),
        (e) => e instanceof UniqueConflictError && e.uniqueKey === v.hex,
        v.name,
      );
    }
    assert.equal(uniqueKeyHex({ kind: "send_email" }), U_VECTORS[0].hex);
  },
});

Deno.test({
  name: "NOTIFY awa:<queue> only after commit; rollback leaves nothing",
  ...POOL_TEST,
  async fn() {
    const listener = t.connect({ max: 1 });
    const seen: string[] = [];
    const marker = deferred();
    const woke = deferred();
    await listener.listen("awa:contract_n", () => {
      seen.push("job");
      woke.resolve();
    });
    await listener.listen("contract_marker", () => {
      seen.push("marker");
      marker.resolve();
    });
    const ran = deferred();
    const commit = deferred();
    let id = "";
    const tx = sql.begin(async (tx) => {
      const [r] =
        await tx`SELECT id::text FROM awa.insert_job('contract_n', p_queue => 'contract_n')`;
      id = r.id;
      ran.resolve();
      await commit.promise;
    });
    await ran.promise;
    await sql`SELECT pg_notify('contract_marker', '')`;
    await marker.promise;
    assert.deepEqual(seen, ["marker"], "no wake-up before commit");
    commit.resolve();
    await tx;
    await woke.promise;
    assert.deepEqual(seen, ["marker", "job"]);
    assert.equal((await sql`SELECT 1 FROM awa.jobs WHERE id = ${id}`).length, 1);

    // Rollback: no row in any plane, no claim, no notification.
    const key = "ffeeddccbbaa99887766554433221100";
    let rolled = "";
    await assert.rejects(sql.begin(async (tx) => {
      const [a] = await tx`
        SELECT id::text FROM awa.insert_job('contract_n', p_queue => 'contract_n',
          p_unique_key => decode(${key}, 'hex'))`;
      await tx`SELECT awa.insert_job('contract_n', p_queue => 'contract_n',
          p_run_at => now() + interval '1 day')`;
      rolled = a.id;
      throw new Error("rollback");
    }));
    const marker2 = deferred();
    await listener.listen("contract_marker2", () => marker2.resolve());
    await sql`SELECT pg_notify('contract_marker2', '')`;
    await marker2.promise;
    assert.deepEqual(seen, ["marker", "job"]);
    assert.equal((await sql`SELECT 1 FROM awa.jobs WHERE id = ${rolled}`).length, 0);
    assert.equal(
      (await sql`SELECT 1 FROM awa.job_unique_claims WHERE unique_key = decode(${key}, 'hex')`)
        .length,
      0,
    );
    const [{ n }] = await sql`
      SELECT count(*)::int AS n FROM awa.jobs WHERE queue = 'contract_n'`;
    assert.equal(n, 1);
    await listener.end();
  },
});

Deno.test({
  name: "close contract database",
  ...POOL_TEST,
  async fn() {
    await t.close();
  },
});
