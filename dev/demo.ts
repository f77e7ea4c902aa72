/**
 * `deno task demo`: a real Awa runtime on a real PostgreSQL (DATABASE_URL, or an embedded server
 * started for the run). Enqueues a few thousand jobs over several queues with mixed outcomes,
 * works them with live progress, and ends with a summary table.
 *
 * Flags: --jobs N (default 4000), --keep (leave the embedded server's data for inspection).
 */
import postgres from "postgres";
import process from "node:process";
import { Client, defineJob, insertMany, migrate, TerminalError, withNoDelay } from "../mod.ts";
import { startEmbeddedPostgres } from "./embedded_postgres.ts";

const jobsFlag = process.argv.indexOf("--jobs");
const total = jobsFlag > 0 ? Number(process.argv[jobsFlag + 1]) : 4000;
if (!Number.isInteger(total) || total < 10) {
  console.error("--jobs must be an integer ≥ 10");
  process.exit(2);
}

let url = process.env.DATABASE_URL;
const server = url ? undefined : await startEmbeddedPostgres();
url ??= server!.url;
console.log(
  server ? `PostgreSQL: embedded server on port ${server.port}` : "PostgreSQL: DATABASE_URL",
);

const sql = postgres(url, withNoDelay({ max: 12, onnotice: () => {} }));
const schema = `awa_demo_${Date.now()}`;
await migrate(sql, { schema });
console.log(`schema ${schema} migrated`);

type Email = { to: string; t0: number };
type Report = { id: number; t0: number };
type Resize = { image: string; t0: number };
const sendEmail = defineJob<Email>("send_email", { queue: "email", maxAttempts: 5 });
const buildReport = defineJob<Report>("build_report", { queue: "reports", maxAttempts: 3 });
const resizeImage = defineJob<Resize>("resize_image", { queue: "images" });

const perQueue = Math.floor(total / 3);
const now = () => performance.timeOrigin + performance.now();
const enqueueStart = performance.now();
await insertMany(
  sql,
  sendEmail,
  Array.from({ length: perQueue }, (_, i) => ({ args: { to: `user${i}@example.com`, t0: now() } })),
  { schema },
);
await insertMany(
  sql,
  buildReport,
  Array.from({ length: perQueue }, (_, i) => ({ args: { id: i, t0: now() } })),
  { schema },
);
await insertMany(
  sql,
  resizeImage,
  Array.from(
    { length: total - 2 * perQueue },
    (_, i) => ({ args: { image: `img${i}.png`, t0: now() } }),
  ),
  { schema },
);
const enqueueMs = performance.now() - enqueueStart;
const queued = await sql.unsafe(
  `SELECT queue, state, count(*)::int AS n FROM ${schema}.jobs GROUP BY 1, 2 ORDER BY 1, 2`,
);
console.log(
  `enqueued ${total} jobs in ${enqueueMs.toFixed(0)} ms (insertMany, one COPY per batch)`,
);
console.table(queued.map((r) => ({ queue: r.queue, state: r.state, jobs: r.n })));

const pickups: number[] = [];
const counts = { completed: 0, retried: 0, snoozed: 0, failed: 0, exhausted: 0 };
const client = new Client(sql, {
  schema,
  queues: {
    email: { maxWorkers: 32 },
    reports: { maxWorkers: 8 },
    images: { maxWorkers: 16 },
  },
  maintenance: { promote: { intervalMs: 100 } },
});
client.work(sendEmail, (job) => {
  if (job.attempt === 1) pickups.push(now() - job.args.t0);
  // One in twenty mail servers is flaky on the first try: retried with backoff.
  if (job.id % 20 === 0 && job.attempt === 1) throw new Error("smtp: 451 try again later");
});
client.work(buildReport, async (job, ctx) => {
  if (job.attempt === 1) pickups.push(now() - job.args.t0);
  if (job.id % 25 === 0) throw new TerminalError("report template missing");
  if (job.id % 10 === 0 && job.attempt === 1 && job.progress === null) {
    ctx.setProgress(50, "waiting for upstream data");
    return ctx.snooze(200);
  }
  await new Promise((r) => setTimeout(r, 2));
});
client.work(resizeImage, (job, ctx) => {
  if (job.attempt === 1) pickups.push(now() - job.args.t0);
  if (job.id % 50 === 0 && job.attempt === 1) return ctx.retryAfter(100);
});
client.on("completed", () => counts.completed++);
client.on("retried", () => counts.retried++);
client.on("snoozed", () => counts.snoozed++);
client.on("failed", () => counts.failed++);
client.on("exhausted", () => counts.exhausted++);

const terminalTarget = total;
const started = performance.now();
await client.start();
const bar = (done: number) => {
  const width = 30;
  const filled = Math.round((done / terminalTarget) * width);
  return "[" + "#".repeat(filled) + "-".repeat(width - filled) + "]";
};
const isTty = process.stdout.isTTY;
while (counts.completed + counts.failed + counts.exhausted < terminalTarget) {
  await new Promise((r) => setTimeout(r, 200));
  const done = counts.completed + counts.failed + counts.exhausted;
  const secs = (performance.now() - started) / 1000;
  const line = `${bar(done)} ${done}/${terminalTarget} done, ${counts.retried} retried, ` +
    `${counts.snoozed} snoozed, ${(done / secs).toFixed(0)} jobs/s`;
  if (isTty) process.stdout.write("\r" + line);
  else if (Math.floor(secs * 5) % 10 === 0) console.log(line);
  if (secs > 120) {
    console.log("\ndemo did not finish within 120 s; stopping");
    break;
  }
}
const elapsed = (performance.now() - started) / 1000;
if (isTty) process.stdout.write("\n");
await client.shutdown({ timeoutMs: 5000 });

const dead = await sql.unsafe(
  `SELECT coalesce(sum(n_dead_tup), 0)::int AS dead FROM pg_stat_user_tables WHERE schemaname = $1`,
  [schema],
);
pickups.sort((a, b) => a - b);
const pct = (p: number) => pickups[Math.min(pickups.length - 1, Math.floor(p * pickups.length))];
const done = counts.completed + counts.failed + counts.exhausted;
console.table({
  "jobs finished": done,
  "jobs/s (end to end)": Number((done / elapsed).toFixed(0)),
  "pickup p50 (ms)": Number(pct(0.5).toFixed(1)),
  "pickup p95 (ms)": Number(pct(0.95).toFixed(1)),
  retries: counts.retried,
  snoozes: counts.snoozed,
  "failed (terminal)": counts.failed,
  "dead tuples (all Awa tables)": dead[0].dead,
  "dead tuples per job": Number((dead[0].dead / done).toFixed(4)),
});
console.log(
  "pickup = insert to handler start; it includes the backlog wait, since all jobs were queued first.",
);
await sql.unsafe(`DROP SCHEMA ${schema} CASCADE`);
await sql.end();
if (server) await server.stop();
