/**
 * Upgrade to migration 015 (the cache table): a schema migrated by the release before it (all
 * migrations below 015, every SQL file) gets `cache_entries` as an UNLOGGED table from
 * `migrate()`, and the cache works on it.
 */
import assert from "node:assert/strict";
import { Cache, migrate } from "../../mod.ts";
import { migrateRelease, THIS_RELEASE } from "../../src/migrate.ts";
import { testDatabase } from "../support/db.ts";
import { POOL_TEST } from "../support/runtime.ts";

const t = await testDatabase("companions_migrate");

Deno.test({
  name: "migrate 015: the previous schema gets an UNLOGGED cache_entries table",
  ...POOL_TEST,
  async fn() {
    const schema = "before_cache";
    const previous = {
      ...THIS_RELEASE,
      migrations: THIS_RELEASE.migrations.filter((m) => m.version < 15),
    };
    await migrateRelease(t.sql, schema, previous);
    const exists = async () =>
      (await t.sql`SELECT to_regclass(${schema + ".cache_entries"})::text AS r`)[0].r;
    assert.equal(await exists(), null);
    const result = await migrate(t.sql, { schema });
    assert.ok(result.applied.includes(15), String(result.applied));
    const [{ persistence }] = await t.sql`
      SELECT c.relpersistence AS persistence FROM pg_class c
      JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = ${schema} AND c.relname = 'cache_entries'`;
    assert.equal(persistence, "u");
    const c = new Cache<number>(t.sql, { namespace: "n", ttlMs: 1000, schema });
    await c.set("k", 1);
    assert.equal(await c.get("k"), 1);
  },
});

Deno.test({ name: "migrate 015: teardown", ...POOL_TEST, fn: () => t.close() });
