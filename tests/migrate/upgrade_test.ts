/**
 * Upgrade path (docs/migrations.md): a schema built by migrations 001–009 exactly as they were at
 * commit 9904665 (tests/fixtures/schema_v9/) is migrated by this release. Its catalog then equals
 * a fresh install's; its functions are the fixture's last definitions except the bodies listed in
 * REWRITTEN; and a v9 schema holding jobs in every state keeps every job where it was, and a
 * Client finishes every runnable one. Migrations that have shipped never change in place: their
 * text, and the fixture's, is pinned by hash.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import postgres from "postgres";
import { Client, defineJob, migrate, SCHEMA_VERSION } from "../../mod.ts";
import { MIGRATIONS, SQL_FILES } from "../../src/migrations_embedded.ts";
import { testDatabase } from "../support/db.ts";
import { POOL_TEST, TIMINGS, waitFor } from "../support/runtime.ts";

/** sha256 of each shipped migration file; append, never edit. */
const FROZEN: Record<string, string> = {
  "009_baseline": "ae2363ff199b82ebdd818ff144bc1a3e396b0d27d6b231e24c16d444881feafd",
  "010_sql_files": "55422120925a177f7184c060af4931f0cb885196b254c7d4ac2cc2b77399f2de",
};

/** sha256 of the fixture: migrations/001–009 at commit 9904665. */
const FIXTURE: Record<string, string> = {
  "001_storage": "122b5dbf9afef7d40c1b92652c762817fbe89a37b0bdd4a0b1aedd8b989f4b5f",
  "002_enqueue": "b8d17b02ebc0fce66417d49f3edfc9267c5a44b7c4b6aa65b66e56149f464394",
  "003_claim_finalize": "8eb2e115510eafce080767f55c7e7303f9164bab65f5e949fa1d360724ddc30d",
  "004_maintenance": "7abbc14a372ba437acc189c0ba93c1c5c5aadedd16af03648384f5acaf0e2730",
  "005_operations": "9bbde818961da415e8961dd506a551526e437928a50893453f524b10dddac8b8",
  "006_scoped_channels": "4cab25aba15e6ac186526c842cbb902028cb4401fad173deede77e020945c464",
  "007_name_rules": "2f56c1d81a009610da2c4368b9760fd82edf8a4a431c85798c17d14c37cddf67",
  "008_rescue_lifecycle": "49f6fd6561f26f582a6bb9dd8e8c6d6acb4864808a6ed36ee997e9346693c327",
  "009_carry_forward": "84b32ac5db00182ca8092df7c9c97e3f96b3d7bc3b93ae04fd625b074d4ef35c",
};

/**
 * Functions and views whose body this release rewrote on purpose: the ring cursor and receipt
 * arithmetic they inlined became the helpers ring_head, receipt_id and receipt_block, and
 * rotate_ring's and prune_ring's ring lock and cursor read became lock_ring, and
 * prune_ring's check and recheck of its gates became prune_refusal; prune_ring also records
 * queue_stats' recent counts, and insert_job runs as the schema owner with a fixed search_path.
 * acquire_enqueue_shard skips its held-lane scan when the transaction holds none.
 */
const REWRITTEN = [
  "acquire_enqueue_shard",
  "append_ready_job",
  "cancel_job",
  "check_job_names",
  "claim_batch",
  "finalize_attempts",
  "insert_job",
  "jobs",
  "promote_due",
  "prune_ring",
  "rescue_candidates",
  "reserve_bulk_enqueue",
  "ring_cursor",
  "rotate_ring",
  "write_progress",
];
const ADDED = [
  "callback_attempt_open", // callbacks (migration 016)
  "cancel_waiting_job",
  // follow-ups, flows and batches (migration 019)
  "cancel_flow",
  "check_name",
  // admin layer: history and retention (migration 012)
  "copy_slot_to_history",
  "drop_expired_history",
  "enqueue_small_batch", // insertMany's one-statement path for small batches
  "ensure_history_partitions",
  "expire_callbacks", // callbacks (migration 016)
  "finished_in_ring",
  "fire_cron_job",
  "flow_cancel_job",
  "flow_job_finished",
  "flow_propagate",
  "grant_access",
  "insert_keyed_jobs",
  "key_admit_next",
  "key_enter",
  "key_limit",
  "key_lock",
  "key_release",
  "insert_flow",
  "lock_ring",
  "notify_callback", // callbacks (migration 016)
  "park_callback", // callbacks (migration 016)
  // results: waiters of insertAndWait / waitForJob (migration 020)
  "notify_waiters",
  "prune_finished_flows", // flow retention (flow_prune)
  "prune_refusal",
  "queue_stats",
  "rate_budget",
  "rate_spend",
  "receipt_block",
  "receipt_id",
  "register_callback", // callbacks (migration 016)
  "resolve_callback", // callbacks (migration 016)
  "retention_ms",
  "retry_cancelled",
  "ring_head",
  "set_key_limit",
  "set_rate_limit",
  "stats_queues",
  "trigger_cron_job",
  "wait_callback_step", // callbacks (migration 016)
];

const fixtureDir = new URL("../fixtures/schema_v9/", import.meta.url);
const fixture = fs.readdirSync(fixtureDir).filter((f) => f.endsWith(".sql")).sort().map((f) => ({
  version: Number(f.slice(0, 3)),
  name: f.slice(4, -4),
  sql: fs.readFileSync(new URL(f, fixtureDir), "utf8"),
}));

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

/** The schema substitution the fixture was written for (src/schema.ts inSchema at 9904665). */
function oldInSchema(sqlText: string, schema: string): string {
  return schema === "awa" ? sqlText : sqlText.replace(/\bawa\./g, `${schema}.`)
    .replace(/\bSCHEMA IF NOT EXISTS awa;/g, `SCHEMA IF NOT EXISTS ${schema};`);
}

/** Build `schema` as the v9 code did: migrations 001–009 and their version rows. */
async function installV9(sql: postgres.Sql, schema: string): Promise<void> {
  await sql.begin(async (tx) => {
    for (const m of fixture) {
      await tx.unsafe(oldInSchema(m.sql, schema));
      await tx.unsafe(
        `INSERT INTO ${schema}.schema_version (version, description) VALUES ($1, $2)`,
        [m.version, m.name],
      );
    }
  });
}

const t = await testDatabase("migrations_upgrade");
const sql = t.sql;

Deno.test("shipped migrations and the v9 fixture are unchanged", () => {
  for (const [name, hash] of Object.entries(FROZEN)) {
    const m = MIGRATIONS.find((x) => `${String(x.version).padStart(3, "0")}_${x.name}` === name);
    assert.ok(m, `migration ${name} exists`);
    assert.equal(sha256(m.sql), hash, `migration ${name} was edited in place: add a new one`);
  }
  assert.deepEqual(fixture.map((m) => `${String(m.version).padStart(3, "0")}_${m.name}`), [
    ...Object.keys(FIXTURE),
  ]);
  for (const m of fixture) {
    const name = `${String(m.version).padStart(3, "0")}_${m.name}`;
    assert.equal(sha256(m.sql), FIXTURE[name], `fixture ${name} differs from commit 9904665`);
  }
});

/**
 * Everything in the catalog that defines `schema`, one line per object, sorted: relations
 * (with partition bounds and keys), columns, constraints, indexes, sequences, types, functions
 * (arguments, result, attributes, comment and body with white space folded), views, triggers,
 * grants, plus the rows of the ring configuration that migrations insert.
 */
async function catalog(db: postgres.Sql, schema: string): Promise<string[]> {
  const rows = await db.unsafe<{ line: string }[]>(
    `WITH ns AS (SELECT $1::regnamespace AS oid)
    SELECT 'relation ' || c.relname || ' ' || c.relkind::text || c.relpersistence::text
      || coalesce(' acl ' || c.relacl::text, '')
      || coalesce(' of ' || (SELECT p.relname FROM pg_inherits i JOIN pg_class p
        ON p.oid = i.inhparent WHERE i.inhrelid = c.oid), '')
      || coalesce(' ' || pg_get_expr(c.relpartbound, c.oid), '')
      || coalesce(' by ' || CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) END, '')
      || coalesce(' comment ' || obj_description(c.oid, 'pg_class'), '') AS line
    FROM pg_class c, ns WHERE c.relnamespace = ns.oid
    UNION ALL
    SELECT 'column ' || c.relname || '.' || a.attname || ' #' || a.attnum || ' '
      || format_type(a.atttypid, a.atttypmod) || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
      || coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), '')
      || ' ' || a.attidentity::text || a.attgenerated::text || ' ' || a.attcollation::regcollation::text
      || coalesce(' comment ' || col_description(c.oid, a.attnum), '')
    FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
    LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum, ns
    WHERE c.relnamespace = ns.oid AND a.attnum > 0 AND NOT a.attisdropped
    UNION ALL
    SELECT 'constraint ' || coalesce(c.relname, t.typname) || ' ' || k.conname || ' '
      || pg_get_constraintdef(k.oid)
    FROM pg_constraint k LEFT JOIN pg_class c ON c.oid = k.conrelid
    LEFT JOIN pg_type t ON t.oid = k.contypid, ns
    WHERE k.connamespace = ns.oid
    UNION ALL
    SELECT 'index ' || pg_get_indexdef(i.indexrelid)
    FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid, ns WHERE c.relnamespace = ns.oid
    UNION ALL
    SELECT 'sequence ' || c.relname || ' ' || format_type(s.seqtypid, NULL) || ' ' || s.seqstart
      || ' ' || s.seqincrement || ' ' || s.seqmin || ' ' || s.seqmax || ' ' || s.seqcache || ' '
      || s.seqcycle
    FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid, ns WHERE c.relnamespace = ns.oid
    UNION ALL
    SELECT 'type ' || t.typname || ' ' || t.typtype::text || coalesce(' ' || (SELECT string_agg(
      e.enumlabel, ',' ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = t.oid), '')
    FROM pg_type t, ns WHERE t.typnamespace = ns.oid
    UNION ALL
    SELECT 'function ' || p.proname || '(' || pg_get_function_arguments(p.oid) || ') '
      || pg_get_function_result(p.oid) || ' ' || l.lanname || ' ' || p.prokind::text || p.provolatile::text
      || p.proparallel::text || p.prosecdef || p.proisstrict || p.proleakproof
      || coalesce(' set ' || array_to_string(p.proconfig, ','), '')
      || coalesce(' acl ' || p.proacl::text, '')
      || coalesce(' comment ' || obj_description(p.oid, 'pg_proc'), '')
      || ' body ' || regexp_replace(p.prosrc, '\\s+', ' ', 'g')
    FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang, ns WHERE p.pronamespace = ns.oid
    UNION ALL
    SELECT 'view ' || c.relname || ' ' || pg_get_viewdef(c.oid)
    FROM pg_class c, ns WHERE c.relnamespace = ns.oid AND c.relkind IN ('v', 'm')
    UNION ALL
    SELECT 'trigger ' || pg_get_triggerdef(g.oid)
    FROM pg_trigger g JOIN pg_class c ON c.oid = g.tgrelid, ns
    WHERE c.relnamespace = ns.oid AND NOT g.tgisinternal
    UNION ALL
    SELECT 'row ring_config ' || r::text FROM ${schema}.ring_config r
    UNION ALL
    SELECT 'row ring_rotations ' || r.ring || ' ' || r.generation || ' ' || r.slot
    FROM ${schema}.ring_rotations r`,
    [schema],
  );
  return rows.map((r) => r.line).sort();
}

/** A second database on the same server, dropped by the returned `drop`. */
async function scratchDatabase(suffix: string) {
  const name = `${new URL(t.url).pathname.slice(1)}_${suffix}`;
  await sql.unsafe(`CREATE DATABASE ${name}`);
  const url = new URL(t.url);
  url.pathname = "/" + name;
  const db = postgres(url.toString(), { max: 2, onnotice: () => {} });
  return {
    db,
    async drop() {
      await db.end();
      await sql.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    },
  };
}

/** Each function's and view's definition with comments dropped and white space folded. */
async function definitions(db: postgres.Sql, schema: string): Promise<Map<string, string>> {
  const rows = await db.unsafe<{ name: string; def: string }[]>(
    `SELECT p.proname AS name, pg_get_function_arguments(p.oid) || ' ' ||
      pg_get_function_result(p.oid) || ' ' || p.provolatile::text || coalesce(array_to_string(p.proconfig, ','), '')
      || ' ' || p.prosrc AS def
    FROM pg_proc p WHERE p.pronamespace = $1::regnamespace
    UNION ALL
    SELECT c.relname, pg_get_viewdef(c.oid) FROM pg_class c
    WHERE c.relnamespace = $1::regnamespace AND c.relkind = 'v'`,
    [schema],
  );
  const fold = (s: string) => s.replace(/--[^\n]*/g, "").replace(/\s+/g, " ").trim();
  return new Map(rows.map((r) => [r.name, fold(r.def)]));
}

Deno.test({
  name: "a v9 schema upgraded by migrate() has the catalog of a fresh install",
  ...POOL_TEST,
  async fn() {
    const upgraded = await scratchDatabase("v9");
    try {
      for (const schema of ["awa", "awa_alt"]) {
        await installV9(upgraded.db, schema);
        const before = await definitions(upgraded.db, schema);
        const result = await migrate(upgraded.db, { schema });
        assert.deepEqual(
          result.applied,
          MIGRATIONS.filter((m) => m.version > 9).map((m) => m.version),
        );
        assert.deepEqual(result.sqlFiles, SQL_FILES.map((f) => f.file));
        if (schema !== "awa") await migrate(sql, { schema });

        // The baseline and the function files rebuild exactly what 001–009 built.
        assert.deepEqual(await catalog(upgraded.db, schema), await catalog(sql, schema), schema);

        // Every function is the fixture's last definition, but for the planned rewrites.
        const after = await definitions(upgraded.db, schema);
        assert.deepEqual([...after.keys()].filter((n) => !before.has(n)).sort(), [...ADDED].sort());
        assert.deepEqual([...before.keys()].filter((n) => !after.has(n)), []);
        const changed = [...before.keys()].filter((n) => before.get(n) !== after.get(n)).sort();
        assert.deepEqual(changed, REWRITTEN, schema);

        const versions = await upgraded.db.unsafe<{ version: number }[]>(
          `SELECT version FROM ${schema}.schema_version ORDER BY version`,
        );
        assert.deepEqual(versions.map((v) => v.version), [
          ...[1, 2, 3, 4, 5, 6, 7, 8, 9],
          ...MIGRATIONS.filter((m) => m.version > 9).map((m) => m.version),
        ]);
      }
    } finally {
      await upgraded.drop();
    }
  },
});

interface Seeded {
  state: string;
  id: number;
}

const S = "upgrade_from_v9";

/** Build the v9 schema and put jobs in every state, using only the v9 SQL surface. */
async function seedV9(): Promise<Record<string, Seeded>> {
  await installV9(sql, S);
  const insertJob = async (n: number, runAt: string | null = null): Promise<number> => {
    const [{ id }] = await sql.unsafe(
      `SELECT id::int AS id FROM ${S}.insert_job('upgrade_job', $1::text::jsonb, 'upgrade',
        2::smallint, 3::smallint, $2::timestamptz)`,
      [JSON.stringify({ n }), runAt],
    );
    return id;
  };
  const claim = (max: number, free: number | null) =>
    sql.unsafe(
      `SELECT claim_slot, batch_id::text, idx, job_id::int, run_lease::int, held
       FROM ${S}.claim_batch('upgrade', $1, 300, 60, $2::uuid, $3) ORDER BY idx`,
      [max, crypto.randomUUID(), free],
    );
  // Claimed first, so that the claim takes exactly these six; the last one is held (claimed
  // ahead of a free worker, never started).
  const claimedIds = [];
  for (let n = 0; n < 6; n++) claimedIds.push(await insertJob(n));
  const claimed = await claim(6, 5);
  assert.deepEqual(claimed.map((r) => r.job_id), claimedIds);
  assert.deepEqual(claimed.map((r) => r.held), [false, false, false, false, false, true]);
  const item = (i: number, outcome: string, extra: Record<string, unknown> = {}) => ({
    claim_slot: claimed[i].claim_slot,
    batch_id: claimed[i].batch_id,
    idx: claimed[i].idx,
    job_id: claimed[i].job_id,
    run_lease: claimed[i].run_lease,
    outcome,
    ...extra,
  });
  await sql.unsafe(`SELECT * FROM ${S}.finalize_attempts($1::text::jsonb, false, false)`, [
    JSON.stringify([
      item(0, "completed"),
      item(1, "retry", { delay_s: 0.5, error: "transient before the upgrade" }),
      item(2, "fail", { error: "terminal before the upgrade" }),
      item(3, "cancel", { error: "cancelled before the upgrade" }),
    ]),
  ]);
  // Sent to the DLQ by a second claim: retried jobs come back first, so use a fresh job.
  const dlqId = await insertJob(10);
  const [d] = await claim(1, null);
  assert.equal(d.job_id, dlqId);
  const { held: _, ...dItem } = d;
  await sql.unsafe(`SELECT * FROM ${S}.finalize_attempts($1::text::jsonb, false, true)`, [
    JSON.stringify([{ ...dItem, outcome: "fail", error: "to the DLQ before the upgrade" }]),
  ]);
  const available = await insertJob(20);
  const scheduled = await insertJob(21, new Date(Date.now() + 1500).toISOString());
  const readyCancelled = await insertJob(22);
  await sql.unsafe(`SELECT ${S}.cancel_job($1)`, [readyCancelled]);
  const scheduledCancelled = await insertJob(23, new Date(Date.now() + 3_600_000).toISOString());
  await sql.unsafe(`SELECT ${S}.cancel_job($1)`, [scheduledCancelled]);
  return {
    completed: { id: claimedIds[0], state: "completed" },
    retryable: { id: claimedIds[1], state: "retryable" },
    failed: { id: claimedIds[2], state: "failed" },
    cancelled: { id: claimedIds[3], state: "cancelled" },
    running: { id: claimedIds[4], state: "running" },
    held: { id: claimedIds[5], state: "running" },
    dlq: { id: dlqId, state: "failed" },
    available: { id: available, state: "available" },
    scheduled: { id: scheduled, state: "scheduled" },
    readyCancelled: { id: readyCancelled, state: "cancelled" },
    scheduledCancelled: { id: scheduledCancelled, state: "cancelled" },
  };
}

async function statesNow(): Promise<Map<number, { state: string; held: string | null }>> {
  const rows = await sql.unsafe(
    `SELECT DISTINCT ON (id) id::int AS id, state::text AS state, held
     FROM ${S}.jobs ORDER BY id, run_lease DESC`,
  );
  return new Map(rows.map((r) => [r.id as number, { state: r.state, held: r.held }]));
}

Deno.test({
  name: "a v9 schema with jobs in every state migrates, and every job finishes or stays put",
  ...POOL_TEST,
  async fn() {
    const seeded = await seedV9();
    const before = await statesNow();
    for (const [name, s] of Object.entries(seeded)) {
      assert.equal(before.get(s.id)?.state, s.state, `${name} seeded as ${s.state}`);
    }
    assert.equal(before.get(seeded.dlq.id)?.held, "dlq");

    const result = await migrate(sql, { schema: S });
    assert.equal(result.from, 9);
    assert.equal(result.to, SCHEMA_VERSION);
    assert.deepEqual(result.applied, MIGRATIONS.filter((m) => m.version > 9).map((m) => m.version));
    const after = await statesNow();
    assert.equal(after.size, before.size, "no job lost or duplicated by the migration");
    for (const [id, s] of before) {
      // Time may have made the scheduled and retryable jobs due; nothing else moves.
      if (id === seeded.scheduled.id || id === seeded.retryable.id) continue;
      assert.deepEqual(after.get(id), s, `job ${id} kept its state`);
    }

    // The new runtime picks everything up: the stale running and held attempts are rescued,
    // the due jobs are promoted, and a DLQ retry through the new SQL works.
    const job = defineJob<{ n: number }>("upgrade_job", { queue: "upgrade" });
    const runs = new Map<number, number>();
    const client = new Client(t.connect(), {
      schema: S,
      queues: { upgrade: { maxWorkers: 4 } },
      heartbeat: TIMINGS.heartbeat,
      // No ring maintenance: the seeding rotated the rings, so every job sits in a slot prune
      // would reclaim as soon as it is terminal, and this test reads the final states.
      maintenance: { ...TIMINGS.maintenance, rings: false },
    });
    client.work(job, (j) => void runs.set(j.id, (runs.get(j.id) ?? 0) + 1));
    await client.start();
    try {
      await sql.unsafe(`SELECT ${S}.retry_held($1)`, [seeded.dlq.id]);
      const toRun = ["retryable", "running", "held", "dlq", "available", "scheduled"];
      await waitFor("every unfinished job ran after the upgrade", async () => {
        const now = await statesNow();
        return toRun.every((k) => now.get(seeded[k].id)?.state === "completed");
      }, 30_000);
      for (const k of toRun) assert.equal(runs.get(seeded[k].id), 1, `${k} ran once`);
      const final = await statesNow();
      for (
        const k of ["completed", "failed", "cancelled", "readyCancelled", "scheduledCancelled"]
      ) {
        assert.equal(final.get(seeded[k].id)?.state, seeded[k].state, `${k} stayed put`);
        assert.equal(runs.has(seeded[k].id), false, `${k} did not run`);
      }
      assert.equal(final.size, before.size, "nothing lost");
    } finally {
      await client.shutdown({ timeoutMs: 2000 });
    }
  },
});

Deno.test({ name: "close database", ...POOL_TEST, fn: () => t.close() });
