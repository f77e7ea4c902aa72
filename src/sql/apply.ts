/**
 * (Re)applying the function and view files of `src/sql/` (docs/migrations.md). Each file is
 * rendered for the schema, hashed (sha256 of the rendered text) and compared with the digest
 * recorded in `<schema>.sql_file_digests`; only files whose digest differs are run, after the
 * drops listed for them in `src/sql/breaking.ts`.
 * @module
 */
import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex, utf8ToBytes } from "@noble/hashes/utils.js";
import type { Executor } from "../db/executor.ts";
import type { SqlFile } from "../migrations_embedded.ts";
import {
  forgetSqlFileDigests,
  readSqlFileDigests,
  recordSqlFileDigests,
} from "../storage/schema.ts";
import { render, storeOf } from "../storage/store.ts";
import type { Drop } from "./breaking.ts";

/** A file ready to run in one schema. */
export interface RenderedFile {
  file: string;
  sql: string;
  /** sha256 of `sql`, hex. */
  digest: string;
}

const renderedFiles = new WeakMap<readonly SqlFile[], Map<string, RenderedFile[]>>();

/** `files` rendered for `schema` (a validated identifier) with their digests, memoised. */
export function renderFiles(files: readonly SqlFile[], schema: string): RenderedFile[] {
  let bySchema = renderedFiles.get(files);
  if (!bySchema) renderedFiles.set(files, bySchema = new Map());
  let out = bySchema.get(schema);
  if (!out) {
    out = files.map((f) => {
      const sql = render(f.sql, schema);
      return { file: f.file, sql, digest: bytesToHex(sha256(utf8ToBytes(sql))) };
    });
    bySchema.set(schema, out);
  }
  return out;
}

/** The statement dropping `d` in `schema`. */
export function dropStatement(d: Drop, schema: string): string {
  return `DROP ${d.kind === "function" ? "FUNCTION" : "VIEW"} IF EXISTS ${render(d.what, schema)}`;
}

/**
 * Inside the caller's transaction (which holds the migrate lock): run every file of `files`
 * whose recorded digest differs, record the new digests, forget files that no longer exist.
 * Returns the files run, in order.
 */
export async function applySqlFiles(
  tx: Executor,
  schema: string,
  files: readonly SqlFile[],
  drops: readonly Drop[],
): Promise<string[]> {
  const rendered = renderFiles(files, schema);
  const store = storeOf(tx, schema);
  const recorded = await readSqlFileDigests(store);
  const changed = rendered.filter((f) => recorded.get(f.file) !== f.digest);
  const present = new Set(rendered.map((f) => f.file));
  const gone = [...recorded.keys()].filter((f) => !present.has(f));
  const changedFiles = new Set(changed.map((f) => f.file));
  // A removed file's drops run whenever what they name still exists; a present file's only
  // when it is re-applied, since its new text may re-create the same identity.
  const dueDrops = drops.filter((d) => changedFiles.has(d.file) || !present.has(d.file));
  const existing = await existingDrops(tx, schema, dueDrops);
  if (changed.length === 0 && gone.length === 0 && existing.length === 0) return [];

  // Bodies may call functions of files applied later in this loop; every file's body is
  // checked by tests/migrate/migrations_test.ts once all exist.
  const [{ prev }] = await tx.query<{ prev: string }>(
    "SELECT current_setting('check_function_bodies') AS prev",
  );
  await tx.query("SELECT set_config('check_function_bodies', 'off', true)");
  for (const d of existing) await tx.query(dropStatement(d, schema));
  for (const f of changed) await tx.query(f.sql);
  await tx.query("SELECT set_config('check_function_bodies', $1, true)", [prev]);

  // Lists travel as JSON text: a driver without type information cannot send arrays.
  if (changed.length > 0) {
    await recordSqlFileDigests(store, changed.map(({ file, digest }) => ({ file, digest })));
  }
  if (gone.length > 0) await forgetSqlFileDigests(store, gone);
  return changed.map((f) => f.file);
}

/** The drops of `drops` whose object exists in `schema`, in list order. */
async function existingDrops(
  tx: Executor,
  schema: string,
  drops: readonly Drop[],
): Promise<Drop[]> {
  if (drops.length === 0) return [];
  const rows = await tx.query<{ i: number }>(
    `SELECT (x.i - 1)::int AS i FROM jsonb_array_elements($1::text::jsonb) WITH ORDINALITY x(d, i)
     WHERE CASE WHEN x.d ->> 'kind' = 'function' THEN to_regprocedure(x.d ->> 'what') IS NOT NULL
       ELSE to_regclass(x.d ->> 'what') IS NOT NULL END
     ORDER BY x.i`,
    [JSON.stringify(drops.map((d) => ({ kind: d.kind, what: render(d.what, schema) })))],
  );
  return rows.map((r) => drops[r.i]);
}
