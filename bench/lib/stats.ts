/** Database-side measurements: dead tuples, table sizes, server facts. */
import type postgres from "postgres";

export interface TableSample {
  dead: number;
  live: number;
  bytes: number;
}

/**
 * `pg_stat_user_tables.n_dead_tup` / `n_live_tup` summed over the plain tables (relkind 'r',
 * which includes every leaf partition) of the given schemas, plus their total size (heap,
 * indexes and TOAST).
 */
export async function sampleTables(sql: postgres.Sql, schemas: string[]): Promise<TableSample> {
  const [row] = await sql<{ dead: string; live: string; bytes: string }[]>`
    SELECT coalesce(sum(s.n_dead_tup), 0)::int8 AS dead,
           coalesce(sum(s.n_live_tup), 0)::int8 AS live,
           coalesce(sum(pg_total_relation_size(c.oid)), 0)::int8 AS bytes
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
    WHERE n.nspname = ANY(${schemas}) AND c.relkind = 'r'`;
  return { dead: Number(row.dead), live: Number(row.live), bytes: Number(row.bytes) };
}

export interface DeadTuples {
  method: "pgstattuple" | "n_dead_tup after ANALYZE (estimate)";
  total: number;
  tables: { table: string; dead: number }[];
}

/**
 * Final dead tuples: exact via `pgstattuple` when the extension is installed, else n_dead_tup
 * after ANALYZE (an estimate). Reports the per-table breakdown of the non-zero tables.
 */
export async function deadTuples(
  sql: postgres.Sql,
  schemas: string[],
  exact: boolean,
): Promise<DeadTuples> {
  let rows: { table: string; dead: string }[];
  if (exact) {
    rows = await sql`
      SELECT format('%I.%I', n.nspname, c.relname) AS table,
             (pgstattuple(c.oid)).dead_tuple_count::int8 AS dead
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = ANY(${schemas}) AND c.relkind = 'r'`;
  } else {
    const tables = await sql<{ t: string }[]>`
      SELECT format('%I.%I', n.nspname, c.relname) AS t
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = ANY(${schemas}) AND c.relkind = 'r'`;
    for (const { t } of tables) await sql.unsafe(`ANALYZE ${t}`);
    await sql`SELECT pg_stat_force_next_flush()`.catch(() => {});
    rows = await sql`
      SELECT format('%I.%I', s.schemaname, s.relname) AS table, s.n_dead_tup::int8 AS dead
      FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
      WHERE s.schemaname = ANY(${schemas}) AND c.relkind = 'r'`;
  }
  const tables = rows.map((r) => ({ table: r.table, dead: Number(r.dead) }));
  return {
    method: exact ? "pgstattuple" : "n_dead_tup after ANALYZE (estimate)",
    total: tables.reduce((a, t) => a + t.dead, 0),
    tables: tables.filter((t) => t.dead > 0).sort((a, b) => b.dead - a.dead),
  };
}

export async function serverFacts(sql: postgres.Sql): Promise<Record<string, string>> {
  const names = [
    "server_version",
    "fsync",
    "synchronous_commit",
    "full_page_writes",
    "shared_buffers",
    "max_connections",
    "autovacuum",
    "autovacuum_naptime",
    "autovacuum_vacuum_scale_factor",
    "autovacuum_vacuum_threshold",
    "wal_level",
    "max_wal_size",
    "work_mem",
    "jit",
  ];
  const rows = await sql<{ name: string; setting: string; unit: string | null }[]>`
    SELECT name, setting, unit FROM pg_settings WHERE name = ANY(${names})`;
  const out: Record<string, string> = {};
  for (const r of rows) out[r.name] = r.unit ? `${r.setting} (${r.unit})` : r.setting;
  const [{ version }] = await sql<{ version: string }[]>`SELECT version()`;
  out.version = version;
  return out;
}
