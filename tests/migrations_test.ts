/**
 * Migrations: embedded module matches migrations/*.sql, idempotence, concurrent migrate, custom
 * schemas, a database ahead of the code, and schema-name validation.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import postgres from "postgres";
import {
  defineJob,
  insert,
  insertMany,
  migrate,
  migrationSql,
  SCHEMA_VERSION,
  SchemaTooNewError,
  schemaVersion,
  ValidationError,
} from "../mod.ts";
import { MIGRATIONS } from "../src/migrations_embedded.ts";
import { embeddedPath, renderEmbeddedMigrations } from "../dev/build_migrations.ts";
import { testDatabase } from "./support/db.ts";
import { POOL_TEST } from "./producer_support.ts";

const t = await testDatabase("migrations");
const sql = t.sql;

Deno.test("embedded migrations equal what dev/build_migrations.ts renders", () => {
  const onDisk = fs.readFileSync(embeddedPath, "utf8");
  assert.ok(
    onDisk === renderEmbeddedMigrations(),
    "src/migrations_embedded.ts is stale: run `deno task migrations:build`",
  );
  assert.deepEqual(MIGRATIONS.map((m) => m.version), MIGRATIONS.map((_, i) => i + 1));
  assert.equal(SCHEMA_VERSION, MIGRATIONS.length);
});

Deno.test({
  name: "migrate is idempotent and records every version",
  ...POOL_TEST,
  async fn() {
    const again = await migrate(sql);
    assert.deepEqual(again, { from: SCHEMA_VERSION, to: SCHEMA_VERSION, applied: [] });
    const rows = await sql<{ version: number; description: string }[]>`
      SELECT version, description FROM awa.schema_version ORDER BY version`;
    assert.deepEqual(
      rows.map((r) => [r.version, r.description]),
      MIGRATIONS.map((m) => [m.version, m.name]),
    );
    assert.equal(await schemaVersion(sql), SCHEMA_VERSION);
    assert.equal(await schemaVersion(sql, { schema: "awa_absent" }), 0);
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
      });
      for (const r of results.filter((x) => x.applied.length === 0)) {
        assert.deepEqual(r, { from: SCHEMA_VERSION, to: SCHEMA_VERSION, applied: [] });
      }
      const [{ n }] = await pools[0]<{ n: number }[]>`
        SELECT count(*)::int AS n FROM awa.schema_version`;
      assert.equal(n, SCHEMA_VERSION);
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
    assert.ok(migrationSql({ schema: "awa_custom" }).includes("awa_custom.insert_job"));
    assert.ok(!/\bawa\.insert_job\b/.test(migrationSql({ schema: "awa_custom" })));
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

Deno.test({
  name: "close migrations database",
  ...POOL_TEST,
  async fn() {
    await t.close();
  },
});
