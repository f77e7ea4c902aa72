/**
 * `deno run -A bench/admin_list.ts [--queued N] [--history N]`: page times of the admin layer
 * on a deep backlog. Builds a fresh database `awa_bench_admin` on DATABASE_URL, enqueues
 * `--queued` jobs with insertMany (COPY, 10 000 per call), fills `awa.job_history` with
 * `--history` rows by one INSERT … SELECT generate_series (as prunes would, into hourly
 * partitions), then times listJobs pages (first, deep via cursors, filtered) and getJob, each
 * the median of 20 calls. Prints one Markdown table.
 */
import postgres from "postgres";
import process from "node:process";
import { defineJob, insertMany, migrate } from "../mod.ts";
import { getJob, listJobs } from "../admin.ts";
import { history } from "../src/maintenance/history.ts";
import { storeOf } from "../src/storage/store.ts";
import { toExecutor } from "../src/db/executor.ts";

const arg = (name: string, dflt: number) => {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 ? Number(Deno.args[i + 1]) : dflt;
};
const QUEUED = arg("queued", 1_000_000);
const HISTORY = arg("history", 1_000_000);
const server = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
const url = new URL(server);
const admin = postgres(server, { max: 1, onnotice: () => {} });
await admin.unsafe("DROP DATABASE IF EXISTS awa_bench_admin WITH (FORCE)");
await admin.unsafe("CREATE DATABASE awa_bench_admin");
url.pathname = "/awa_bench_admin";
const sql = postgres(url.toString(), { max: 4, onnotice: () => {} });
await migrate(sql);

const job = defineJob<{ n: number }>("bench_list", { queue: "deep" });
const other = defineJob<{ n: number }>("bench_other", { queue: "deep" });
let t0 = performance.now();
for (let i = 0; i < QUEUED; i += 10_000) {
  const n = Math.min(10_000, QUEUED - i);
  await insertMany(
    sql,
    i % 100_000 === 0 ? other : job,
    Array.from({ length: n }, (_, k) => ({
      args: { n: i + k },
      tags: (i + k) % 1000 === 0 ? ["rare"] : [],
    })),
  );
}
const enqueueS = (performance.now() - t0) / 1000;

await history.tick(
  {
    store: storeOf(toExecutor(sql), "awa"),
    schema: "awa",
    instanceId: crypto.randomUUID(),
    emit: () => {},
  },
  history.resolve(undefined, "history", {} as never),
  history.newStats(),
);
t0 = performance.now();
// History ids below the queued ones: as if older jobs had finished. Spread over 24 h of expiry.
await sql`SELECT setval('awa.job_id_seq', (SELECT last_value FROM awa.job_id_seq) + ${HISTORY})`;
await sql`INSERT INTO awa.job_history (expires_at, job_id, run_lease, queue, kind, priority,
    state, attempt, max_attempts, args, tags, metadata, created_at, attempted_at, finalized_at)
  SELECT now() + make_interval(secs => 3600 + (g % 80000)), -g + (SELECT last_value FROM awa.job_id_seq) + 1, 1, 'done_q',
    'bench_done', 2, 'completed', 1, 25, jsonb_build_object('n', g), '{}', '{}', now(), now(), now()
  FROM generate_series(1, ${HISTORY}) g`;
const historyS = (performance.now() - t0) / 1000;
await sql`ANALYZE`;

async function median(what: string, fn: () => Promise<unknown>): Promise<[string, number]> {
  const times: number[] = [];
  for (let i = 0; i < 20; i++) {
    const s = performance.now();
    await fn();
    times.push(performance.now() - s);
  }
  times.sort((a, b) => a - b);
  return [what, times[10]];
}

const first = await listJobs(sql, { limit: 50 });
let deep = first.nextCursor!;
for (let i = 0; i < 200; i++) deep = (await listJobs(sql, { limit: 50, cursor: deep })).nextCursor!;
const [{ mid }] = await sql`SELECT (min(job_id) + max(job_id)) / 2 AS mid FROM awa.ready_entries`;
const rows = [
  await median("listJobs, first page of 50 (all planes)", () => listJobs(sql, { limit: 50 })),
  await median("listJobs, page 200 (cursor)", () => listJobs(sql, { limit: 50, cursor: deep })),
  await median(
    "listJobs, queue + state available",
    () => listJobs(sql, { queue: "deep", state: "available", limit: 50 }),
  ),
  await median(
    "listJobs, state completed (history)",
    () => listJobs(sql, { state: "completed", limit: 50 }),
  ),
  await median(
    "listJobs, kind filter (1% of jobs)",
    () => listJobs(sql, { kind: "bench_other", limit: 50 }),
  ),
  await median(
    "listJobs, tag filter (0.1% of jobs)",
    () => listJobs(sql, { tag: "rare", limit: 50 }),
  ),
  await median("getJob, queued job", () => getJob(sql, Number(mid))),
  await median("getJob, job in history", () => getJob(sql, Number(deep.length) > 0 ? 5 : 5)),
];
console.log(
  `\n${QUEUED} queued (insertMany ${enqueueS.toFixed(1)} s), ${HISTORY} in history ` +
    `(INSERT … SELECT ${historyS.toFixed(1)} s)\n`,
);
console.log("| call | median ms |\n|---|---|");
for (const [what, ms] of rows) console.log(`| ${what} | ${ms.toFixed(2)} |`);
await sql.end();
await admin.unsafe("DROP DATABASE IF EXISTS awa_bench_admin WITH (FORCE)");
await admin.end();
