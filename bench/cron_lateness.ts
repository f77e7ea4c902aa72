/**
 * Cron fire lateness: how long after its fire time each cron job is enqueued (the job's
 * `created_at` minus its `cron_fire_time`, both on the server's clock). One leading client fires
 * an every-second schedule plus `--extra` idle schedules for `--seconds`.
 *
 *   deno run -A bench/cron_lateness.ts [--seconds 180] [--interval-ms 1000] [--extra 100]
 *
 * Uses DATABASE_URL (creates and drops the database `awa_bench_cron`), else an embedded
 * PostgreSQL. Prints one line: fires, p50, p95, p99 and max lateness in ms.
 */
import postgres from "postgres";
import { Client, defineJob, migrate } from "../mod.ts";
import { startEmbeddedPostgres } from "../dev/embedded_postgres.ts";

const arg = (name: string, fallback: number) => {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 ? Number(Deno.args[i + 1]) : fallback;
};
const seconds = arg("seconds", 180);
const intervalMs = arg("interval-ms", 1000);
const extra = arg("extra", 100);

let serverUrl = Deno.env.get("DATABASE_URL");
const embedded = serverUrl ? null : await startEmbeddedPostgres();
serverUrl ??= embedded!.url;
const admin = postgres(serverUrl, { max: 1, onnotice: () => {} });
await admin.unsafe("DROP DATABASE IF EXISTS awa_bench_cron WITH (FORCE)");
await admin.unsafe("CREATE DATABASE awa_bench_cron");
const url = new URL(serverUrl);
url.pathname = "/awa_bench_cron";
const sql = postgres(url.toString(), { max: 4, onnotice: () => {} });
await migrate(sql);

const tick = defineJob<Record<string, never>>("bench_tick", { queue: "bench_cron" });
const client = new Client(sql, {
  queues: { bench_side: {} },
  maintenance: { cron: { intervalMs } },
});
client.cron("every_second", "* * * * * *", tick, {});
for (let i = 0; i < extra; i++) client.cron(`idle_${i}`, `${i % 60} ${i % 24} * * *`, tick, {});
await client.start();
await new Promise((r) => setTimeout(r, seconds * 1000));
await client.shutdown({ timeoutMs: 1000 });

const rows = await sql<{ ms: number }[]>`
  SELECT (extract(epoch FROM created_at - (metadata->>'cron_fire_time')::timestamptz) * 1000)::float8
    AS ms
  FROM awa.jobs WHERE metadata->>'cron_name' = 'every_second' ORDER BY 1`;
const ms = rows.map((r) => r.ms);
const pct = (p: number) => ms[Math.min(ms.length - 1, Math.floor(p * ms.length))].toFixed(1);
console.log(
  `cron lateness over ${seconds} s (interval ${intervalMs} ms, ${extra + 1} schedules): ` +
    `${ms.length} fires, p50 ${pct(0.5)} ms, p95 ${pct(0.95)} ms, p99 ${pct(0.99)} ms, ` +
    `max ${ms.at(-1)?.toFixed(1)} ms`,
);
await sql.end();
await admin.unsafe("DROP DATABASE IF EXISTS awa_bench_cron WITH (FORCE)");
await admin.end();
await embedded?.stop();
