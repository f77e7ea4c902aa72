/**
 * Keyed drain: how fast one client drains a backlog whose jobs carry concurrency keys, next to
 * the same backlog without keys, in one run on one server. Modes: unlimited (no key), 1,000
 * keys at limit 1, 1,000 keys at limit 4. Each mode inserts `--jobs` jobs (spread round-robin
 * over the keys), then starts a client with `--workers` workers and no-op handlers and times the
 * drain until every job completed. Inserts are not timed.
 *
 *   deno run -A bench/keyed_drain.ts [--jobs 20000] [--keys 1000] [--workers 64] [--rounds 1]
 *
 * Uses DATABASE_URL (creates and drops the database `awa_bench_keyed`), else an embedded
 * PostgreSQL. Prints one line per mode (jobs/s, and the ratio to the unlimited drain) and the
 * dead tuples the key tables hold after the run.
 */
import postgres from "postgres";
import { Client, defineJob, insertMany, migrate, withNoDelay } from "../mod.ts";
import { setConcurrencyLimit } from "../admin.ts";
import { startEmbeddedPostgres } from "../dev/embedded_postgres.ts";

const arg = (name: string, fallback: number) => {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 ? Number(Deno.args[i + 1]) : fallback;
};
const jobs = arg("jobs", 20_000);
const keys = arg("keys", 1000);
const workers = arg("workers", 64);
const rounds = arg("rounds", 1);

let serverUrl = Deno.env.get("DATABASE_URL");
const embedded = serverUrl ? null : await startEmbeddedPostgres();
serverUrl ??= embedded!.url;
const admin = postgres(serverUrl, { max: 1, onnotice: () => {} });
await admin.unsafe("DROP DATABASE IF EXISTS awa_bench_keyed WITH (FORCE)");
await admin.unsafe("CREATE DATABASE awa_bench_keyed");
const url = new URL(serverUrl);
url.pathname = "/awa_bench_keyed";
const sql = postgres(url.toString(), withNoDelay({ max: 12, onnotice: () => {} }));
await migrate(sql);

interface Mode {
  name: string;
  limit: number | null;
}
const modes: Mode[] = [
  { name: "unlimited", limit: null },
  { name: `${keys} keys, limit 1`, limit: 1 },
  { name: `${keys} keys, limit 4`, limit: 4 },
];

async function drain(mode: Mode, round: number): Promise<number> {
  const queue = `keyed_${mode.limit ?? "none"}_${round}`;
  const def = defineJob<{ n: number }>("bench_keyed", { queue });
  if (mode.limit !== null) await setConcurrencyLimit(sql, queue, mode.limit);
  for (let start = 0; start < jobs; start += 5000) {
    const n = Math.min(5000, jobs - start);
    await insertMany(
      sql,
      def,
      Array.from({ length: n }, (_, i) => ({
        args: { n: start + i },
        ...(mode.limit === null ? {} : { concurrencyKey: `key-${(start + i) % keys}` }),
      })),
    );
  }
  let done = 0;
  let finished!: () => void;
  const all = new Promise<void>((r) => (finished = r));
  const client = new Client(sql, {
    queues: { [queue]: { maxWorkers: workers } },
    maintenance: false,
  });
  client.work(def, () => {});
  client.on("completed", () => {
    if (++done === jobs) finished();
  });
  const t0 = performance.now();
  await client.start();
  await all;
  const ms = performance.now() - t0;
  await client.shutdown({ timeoutMs: 5000 });
  return jobs / (ms / 1000);
}

const rates = new Map<string, number[]>();
for (let round = 0; round < rounds; round++) {
  for (const mode of modes) {
    const rate = await drain(mode, round);
    rates.set(mode.name, [...(rates.get(mode.name) ?? []), rate]);
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const base = median(rates.get("unlimited")!);
console.log(`keyed drain: ${jobs} jobs, ${workers} workers, ${rounds} round(s), median jobs/s`);
for (const mode of modes) {
  const r = median(rates.get(mode.name)!);
  console.log(
    `  ${mode.name.padEnd(22)} ${r.toFixed(0).padStart(7)} jobs/s  ${(r / base).toFixed(2)}×`,
  );
}
await sql`ANALYZE awa.key_admissions, awa.key_waiting, awa.queue_flow`;
const dead = await sql<{ relname: string; n: number }[]>`
  SELECT relname, n_dead_tup::int AS n FROM pg_stat_user_tables
  WHERE schemaname = 'awa' AND relname IN ('key_admissions', 'key_waiting', 'queue_flow')
  ORDER BY relname`;
console.log(
  `  dead tuples (n_dead_tup after ANALYZE, an estimate): ${
    dead.map((d) => `${d.relname} ${d.n}`).join(", ")
  }`,
);
await sql.end();
await admin.unsafe("DROP DATABASE IF EXISTS awa_bench_keyed WITH (FORCE)");
await admin.end();
await embedded?.stop();
