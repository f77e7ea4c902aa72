/**
 * Migrations and SQL files: the embedded module matches migrations/*.sql and src/sql/, the file
 * layout rules, idempotence, concurrent migrate, re-applying only what changed, explicit drops,
 * the minimum runtime version, custom schemas, a database ahead of the code, and schema-name
 * validation.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import postgres from "postgres";
import {
  Client,
  defineJob,
  insert,
  insertMany,
  migrate,
  migrationSql,
  RuntimeTooOldError,
  SCHEMA_VERSION,
  SchemaTooNewError,
  SchemaTooOldError,
  schemaVersion,
  ValidationError,
  VERSION,
} from "../../mod.ts";
import { MIGRATIONS, SQL_FILES } from "../../src/migrations_embedded.ts";
import { migrateRelease, type Release, THIS_RELEASE } from "../../src/migrate.ts";
import { compareVersions } from "../../src/sql/versions.ts";
import { render } from "../../src/storage/store.ts";
import { embeddedPath, renderEmbeddedMigrations } from "../../dev/build_migrations.ts";
import { testDatabase } from "../support/db.ts";
import { POOL_TEST, TIMINGS } from "../support/runtime.ts";

const t = await testDatabase("migrations");
const sql = t.sql;

Deno.test("embedded migrations equal what dev/build_migrations.ts renders", () => {
  const onDisk = fs.readFileSync(embeddedPath, "utf8");
  assert.ok(
    onDisk === renderEmbeddedMigrations(),
    "src/migrations_embedded.ts is stale: run `deno task migrations:build`",
  );
  const baseline = MIGRATIONS[0].version;
  assert.deepEqual(MIGRATIONS.map((m) => m.version), MIGRATIONS.map((_, i) => baseline + i));
  assert.equal(SCHEMA_VERSION, MIGRATIONS[MIGRATIONS.length - 1].version);
});

Deno.test("migrations hold no functions; each SQL file defines one object named like the file", () => {
  for (const m of MIGRATIONS) {
    assert.doesNotMatch(m.sql, /CREATE\s+(OR\s+REPLACE\s+)?(FUNCTION|VIEW|PROCEDURE)/i, m.name);
  }
  for (const f of SQL_FILES) {
    const defs = [...f.sql.matchAll(/CREATE OR REPLACE (FUNCTION|VIEW) \{\{schema\}\}\.(\w+)/g)];
    assert.equal(defs.length, 1, `${f.file} defines exactly one function or view`);
    const [, kind, name] = defs[0];
    assert.match(
      f.file,
      new RegExp(kind === "VIEW" ? `^views/${name}$` : `^functions/\\w+/${name}$`),
    );
  }
  // Every reference to the schema goes through the token: nothing else is rewritten.
  for (const { sql: text } of [...MIGRATIONS, ...SQL_FILES]) {
    assert.doesNotMatch(text, /\bawa\./);
  }
});

Deno.test("compareVersions orders release versions", () => {
  const ordered = [
    "0.1.0-alpha",
    "0.1.0-alpha.2",
    "0.1.0-alpha.10",
    "0.1.0-beta",
    "0.1.0",
    "0.1.1",
    "0.2.0",
    "0.10.0",
    "1.0.0",
  ];
  for (let i = 0; i < ordered.length; i++) {
    for (let j = 0; j < ordered.length; j++) {
      assert.equal(
        Math.sign(compareVersions(ordered[i], ordered[j])),
        Math.sign(i - j),
        `${ordered[i]} vs ${ordered[j]}`,
      );
    }
  }
  assert.equal(compareVersions("1.2.3+build.5", "1.2.3"), 0);
  assert.throws(() => compareVersions("1.2", "1.2.0"));
});

Deno.test({
  name: "every SQL file's body checks out once all of them exist",
  ...POOL_TEST,
  async fn() {
    // migrate() applies files with body checks off (a body may call a function of a later
    // file); here each file runs again with checks on, against the complete set.
    await sql.begin(async (tx) => {
      await tx.unsafe("SET LOCAL check_function_bodies = on");
      for (const f of SQL_FILES) await tx.unsafe(render(f.sql, "awa"));
    });
  },
});

Deno.test({
  name: "migrate is idempotent and records every version",
  ...POOL_TEST,
  async fn() {
    const again = await migrate(sql);
    assert.deepEqual(again, {
      from: SCHEMA_VERSION,
      to: SCHEMA_VERSION,
      applied: [],
      sqlFiles: [],
    });
    const rows = await sql<{ version: number; description: string }[]>`
      SELECT version, description FROM awa.schema_version ORDER BY version`;
    assert.deepEqual(
      rows.map((r) => [r.version, r.description]),
      MIGRATIONS.map((m) => [m.version, m.name]),
    );
    assert.equal(await schemaVersion(sql), SCHEMA_VERSION);
    assert.equal(await schemaVersion(sql, { schema: "awa_absent" }), 0);
    const digests = await sql<
      { file: string }[]
    >`SELECT file FROM awa.sql_file_digests ORDER BY file`;
    assert.deepEqual(digests.map((d) => d.file), SQL_FILES.map((f) => f.file));
    const [req] = await sql`SELECT min_runtime_version, migrated_by FROM awa.runtime_requirements`;
    assert.deepEqual(req, {
      min_runtime_version: THIS_RELEASE.minRuntimeVersion,
      migrated_by: VERSION,
    });
  },
});

Deno.test({
  name: "concurrent migrate from 4 connections on a fresh database: one applies, all succeed",
  ...POOL_TEST,
  async fn() {
    const name = `${new URL(t.url).pathname.slice(1)}_fresh`;
    await sql.unsafe(`CREATE DATABASE ${name}`);
    const url = new URL(t.url);
    url.pathname = "/" + name;
    const pools = Array.from(
      { length: 4 },
      () => postgres(url.toString(), { max: 1, onnotice: () => {} }),
    );
    try {
      // Open all four connections first so the migrations really start together.
      await Promise.all(pools.map((p) => p`SELECT 1`));
      const results = await Promise.all(pools.map((p) => migrate(p)));
      const appliers = results.filter((r) => r.applied.length > 0);
      assert.equal(appliers.length, 1, JSON.stringify(results));
      assert.deepEqual(appliers[0], {
        from: 0,
        to: SCHEMA_VERSION,
        applied: MIGRATIONS.map((m) => m.version),
        sqlFiles: SQL_FILES.map((f) => f.file),
      });
      for (const r of results.filter((x) => x.applied.length === 0)) {
        assert.deepEqual(r, {
          from: SCHEMA_VERSION,
          to: SCHEMA_VERSION,
          applied: [],
          sqlFiles: [],
        });
      }
      const [{ n }] = await pools[0]<{ n: number }[]>`
        SELECT count(*)::int AS n FROM awa.schema_version`;
      assert.equal(n, MIGRATIONS.length);
    } finally {
      await Promise.all(pools.map((p) => p.end()));
      await sql.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    }
  },
});

Deno.test({
  name: "a custom schema works end to end and references nothing in schema awa",
  ...POOL_TEST,
  async fn() {
    const r = await migrate(sql, { schema: "awa_custom" });
    assert.equal(r.from, 0);
    assert.equal(r.to, SCHEMA_VERSION);
    assert.equal(await schemaVersion(sql, { schema: "awa_custom" }), SCHEMA_VERSION);
    const job = defineJob<{ n: number }>("custom_schema_job");
    const before = await sql`SELECT count(*)::int AS n FROM awa.jobs`;
    const one = await insert(sql, job, { n: 1 }, { schema: "awa_custom", queue: "cq" });
    const later = await insert(sql, job, { n: 2 }, {
      schema: "awa_custom",
      runAt: new Date(Date.now() + 60_000),
      unique: {},
    });
    const many = await insertMany(sql, job, [{ args: { n: 3 } }, { args: { n: 4 } }], {
      schema: "awa_custom",
      queue: "cq",
    });
    const rows = await sql<{ id: string; state: string; n: number }[]>`
      SELECT id::text, state::text, (args->>'n')::int AS n FROM awa_custom.jobs ORDER BY id`;
    assert.deepEqual(rows.map((x) => [Number(x.id), x.state, x.n]), [
      [one!.id, "available", 1],
      [later!.id, "scheduled", 2],
      [many.ids[0], "available", 3],
      [many.ids[1], "available", 4],
    ]);
    const after = await sql`SELECT count(*)::int AS n FROM awa.jobs`;
    assert.equal(after[0].n, before[0].n, "nothing landed in schema awa");
    const [{ claims }] =
      await sql`SELECT count(*)::int AS claims FROM awa_custom.job_unique_claims`;
    assert.equal(claims, 1);
    // The SQL contract exists in the custom schema too.
    const [viaSql] = await sql`SELECT * FROM awa_custom.insert_job('custom_schema_job')`;
    assert.equal(viaSql.state, "available");
    // No function body in the custom schema still points at schema awa.
    const leaks = await sql<{ proname: string }[]>`
      SELECT proname FROM pg_proc WHERE pronamespace = 'awa_custom'::regnamespace
        AND prosrc ~ '\\mawa\\.'`;
    assert.deepEqual(leaks.map((l) => l.proname), []);
    const views = await sql<{ viewname: string }[]>`
      SELECT viewname FROM pg_views WHERE schemaname = 'awa_custom'
        AND definition ~ '\\mawa\\.'`;
    assert.deepEqual(views.map((v) => v.viewname), []);
    // Idempotent in the custom schema as well.
    assert.deepEqual((await migrate(sql, { schema: "awa_custom" })).applied, []);
    const review = migrationSql({ schema: "awa_custom" });
    assert.ok(review.includes("awa_custom.insert_job"));
    assert.ok(!/\bawa\.insert_job\b/.test(review));
    assert.ok(!review.includes("{{schema}}"));
    for (const f of SQL_FILES) assert.ok(review.includes(`-- src/sql/${f.file}.sql\n`), f.file);
    for (const m of MIGRATIONS) assert.ok(review.includes(`-- migration ${m.version}_${m.name}\n`));
  },
});

Deno.test({
  name: "a database ahead of the code makes migrate throw SchemaTooNewError",
  ...POOL_TEST,
  async fn() {
    await migrate(sql, { schema: "awa_future" });
    await sql.unsafe(
      `INSERT INTO awa_future.schema_version (version, description) VALUES ($1, 'from the future')`,
      [SCHEMA_VERSION + 1],
    );
    const err = await migrate(sql, { schema: "awa_future" }).then(
      () => assert.fail("expected SchemaTooNewError"),
      (e) => e,
    );
    assert.ok(err instanceof SchemaTooNewError);
    assert.equal(err.code, "SCHEMA_TOO_NEW");
    assert.equal(err.databaseVersion, SCHEMA_VERSION + 1);
    assert.equal(err.codeVersion, SCHEMA_VERSION);
    assert.match(err.message, /awa_future/);
    // Nothing was applied or changed by the refused call.
    assert.equal(await schemaVersion(sql, { schema: "awa_future" }), SCHEMA_VERSION + 1);
  },
});

Deno.test({
  name: "bad schema names are refused with ValidationError before touching the database",
  ...POOL_TEST,
  async fn() {
    for (const schema of ["Awa", "1awa", "awa;drop", "awa-x", "", "a".repeat(64), "awa.x"]) {
      await assert.rejects(
        migrate(sql, { schema }),
        (e) => e instanceof ValidationError && e.code === "VALIDATION" && e.field === "schema",
        schema,
      );
      assert.throws(() => migrationSql({ schema }), ValidationError);
      await assert.rejects(schemaVersion(sql, { schema }), ValidationError);
    }
    const [{ n }] = await sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM pg_namespace WHERE nspname IN ('Awa', '1awa', 'awa-x')`;
    assert.equal(n, 0);
  },
});

/** This release plus a test-only function file, with `drops`. */
function withProbe(probeSql: string | null, drops: Release["drops"] = []): Release {
  const probe = probeSql === null ? [] : [{ file: "functions/test/awa_probe", sql: probeSql }];
  return { ...THIS_RELEASE, files: [...SQL_FILES, ...probe], drops };
}

const probeFn = (arg: string, body: string) =>
  `CREATE OR REPLACE FUNCTION {{schema}}.awa_probe(p ${arg}) RETURNS ${arg}
   LANGUAGE sql IMMUTABLE AS $$ SELECT ${body} $$;`;

Deno.test({
  name: "migrate re-applies only the SQL files whose text changed, dropping what is listed",
  ...POOL_TEST,
  async fn() {
    const S = "awa_changes";
    // Through a driver without type information, which cannot send arrays.
    const db = t.connect({ fetch_types: false });
    await migrate(db, { schema: S });
    const probe = async (arg: number) =>
      (await sql.unsafe(`SELECT ${S}.awa_probe(${arg}) AS v`))[0].v;
    const exists = async (signature: string) =>
      (await sql.unsafe(`SELECT to_regprocedure($1) IS NOT NULL AS e`, [`${S}.${signature}`]))[0].e;

    // A recorded digest that no longer matches: that file alone runs again.
    await sql.unsafe(
      `UPDATE ${S}.sql_file_digests SET digest = repeat('0', 64)
       WHERE file = 'functions/claim/claim_batch'`,
    );
    assert.deepEqual((await migrate(db, { schema: S })).sqlFiles, ["functions/claim/claim_batch"]);
    assert.deepEqual((await migrate(db, { schema: S })).sqlFiles, []);

    // A new file, then a new text of it.
    const added = await migrateRelease(db, S, withProbe(probeFn("int", "p + 1")));
    assert.deepEqual(added.sqlFiles, ["functions/test/awa_probe"]);
    assert.equal(await probe(1), 2);
    const changed = await migrateRelease(db, S, withProbe(probeFn("int", "p + 2")));
    assert.deepEqual(changed, {
      from: SCHEMA_VERSION,
      to: SCHEMA_VERSION,
      applied: [],
      sqlFiles: ["functions/test/awa_probe"],
    });
    assert.equal(await probe(1), 3);

    // A signature change: the old identity is listed, dropped, and the new one created.
    const drops = [{
      file: "functions/test/awa_probe",
      kind: "function" as const,
      what: "{{schema}}.awa_probe(int)",
    }];
    const retyped = withProbe(probeFn("bigint", "p + 3"), drops);
    assert.deepEqual((await migrateRelease(db, S, retyped)).sqlFiles, [
      "functions/test/awa_probe",
    ]);
    assert.equal(await exists("awa_probe(int)"), false);
    assert.equal(await exists("awa_probe(bigint)"), true);
    assert.equal(await probe(1), "4");
    // Unchanged: the drop does not run again (it would not find the old identity anyway, and
    // the file's own identity is only dropped when the file is re-applied).
    assert.deepEqual((await migrateRelease(db, S, retyped)).sqlFiles, []);
    assert.equal(await exists("awa_probe(bigint)"), true);

    // The file removed: its listed drop runs while the object exists, and its digest goes.
    const removed = withProbe(null, [{
      file: "functions/test/awa_probe",
      kind: "function",
      what: "{{schema}}.awa_probe(bigint)",
    }]);
    assert.deepEqual((await migrateRelease(db, S, removed)).sqlFiles, []);
    assert.equal(await exists("awa_probe(bigint)"), false);
    const [{ n }] = await sql.unsafe(
      `SELECT count(*)::int AS n FROM ${S}.sql_file_digests WHERE file = 'functions/test/awa_probe'`,
    );
    assert.equal(n, 0);
    assert.deepEqual(await migrate(db, { schema: S }), {
      from: SCHEMA_VERSION,
      to: SCHEMA_VERSION,
      applied: [],
      sqlFiles: [],
    });
  },
});

Deno.test({
  name: "a schema that needs a newer runtime refuses this one with RuntimeTooOldError",
  ...POOL_TEST,
  async fn() {
    const S = "awa_newer";
    await migrate(sql, { schema: S });
    const job = defineJob<{ n: number }>("needs_newer_job");
    const isTooOld = (action: RegExp) => (e: unknown) =>
      e instanceof RuntimeTooOldError && e.code === "RUNTIME_TOO_OLD" &&
      e.requiredVersion === "99.0.0" && e.runningVersion === VERSION &&
      action.test(e.message) && e.message.includes(S) && e.message.includes("99.0.0");

    // A newer release recorded that runtimes before 99.0.0 cannot use its SQL.
    await sql.unsafe(`UPDATE ${S}.runtime_requirements SET min_runtime_version = '99.0.0'`);
    const fresh = t.connect();
    await assert.rejects(insert(fresh, job, { n: 1 }, { schema: S }), isTooOld(/run against it/));
    const client = new Client(t.connect(), {
      schema: S,
      queues: { default: { maxWorkers: 1 } },
      ...TIMINGS,
    });
    client.work(job, () => {});
    await assert.rejects(client.start(), isTooOld(/run against it/));
    const [{ n }] = await sql.unsafe(`SELECT count(*)::int AS n FROM ${S}.jobs`);
    assert.equal(n, 0, "nothing was written");

    // ...and that release ran migrate() last: this older migrate() must not put its functions
    // back over the newer ones.
    await sql.unsafe(`UPDATE ${S}.runtime_requirements SET migrated_by = '99.0.0'`);
    await sql.unsafe(`UPDATE ${S}.sql_file_digests SET digest = repeat('0', 64)`);
    await assert.rejects(migrate(sql, { schema: S }), isTooOld(/migrate it/));
    const [{ stale }] = await sql.unsafe(
      `SELECT count(*)::int AS stale FROM ${S}.sql_file_digests WHERE digest = repeat('0', 64)`,
    );
    assert.equal(stale, SQL_FILES.length, "the refused migrate applied nothing");
  },
});

Deno.test({
  name: "a schema older than the baseline is refused by migrate with SchemaTooOldError",
  ...POOL_TEST,
  async fn() {
    const S = "awa_ancient";
    await sql.unsafe(`CREATE SCHEMA ${S}`);
    await sql.unsafe(`CREATE TABLE ${S}.schema_version (version integer PRIMARY KEY,
      description text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
    await sql.unsafe(`INSERT INTO ${S}.schema_version VALUES (5, 'storage')`);
    await assert.rejects(
      migrate(sql, { schema: S }),
      (e) =>
        e instanceof SchemaTooOldError && e.code === "SCHEMA_TOO_OLD" &&
        e.databaseVersion === 5 && /baseline \(migration 9\)/.test(e.message),
    );
    assert.equal(await schemaVersion(sql, { schema: S }), 5);
  },
});

Deno.test({
  name: "close migrations database",
  ...POOL_TEST,
  async fn() {
    await t.close();
  },
});
