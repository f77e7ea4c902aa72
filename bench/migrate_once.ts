/**
 * One `migrate()` of Awa and exit — the command a user waits on at deploy time, timed by
 * bench/hyperfine.sh. Usage: deno run -A bench/migrate_once.ts [--drop] URL
 *
 * `--drop` only drops the schema (hyperfine's --prepare step, so every timed run migrates a
 * fresh schema); without it, migrate and report the versions applied.
 */
import postgres from "postgres";
import { migrate } from "../mod.ts";

const args = Deno.args.filter((a) => a !== "--drop");
const drop = Deno.args.includes("--drop");
const url = args[0] ?? Deno.env.get("DATABASE_URL");
const schema = Deno.env.get("AWA_SCHEMA") ?? "awa_hyperfine";
if (!url) {
  console.error("usage: deno run -A bench/migrate_once.ts [--drop] URL (or DATABASE_URL)");
  Deno.exit(2);
}
const sql = postgres(url, { max: 1, onnotice: () => {} });
try {
  if (drop) {
    await sql.unsafe(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } else {
    const res = await migrate(sql, { schema });
    if (Deno.env.get("AWA_VERBOSE")) console.log(JSON.stringify(res));
  }
} finally {
  await sql.end({ timeout: 2 });
}
