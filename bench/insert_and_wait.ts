/**
 * insertAndWait round trip on an idle queue: the time from the call to its typed result, with
 * the worker in a second process (this script started with `--worker`). Two waiter setups:
 * - `warm`: something else on the waiter's pool already LISTENs (a Client or a subscription),
 *   so the wait shares the process's open LISTEN connection;
 * - `cold`: nothing else listens on the waiter's pool, so every call opens the LISTEN
 *   connection and closes it after the answer.
 *
 *   deno run -A bench/insert_and_wait.ts [--n 300]
 *
 * Uses DATABASE_URL (creates and drops the database `awa_bench_iaw`), else an embedded
 * PostgreSQL. Prints one line per setup: calls, p50, p95, p99 and max in ms.
 */
import postgres from "postgres";
import { Client, defineJob, insertAndWait, migrate, withNoDelay } from "../mod.ts";
import { Notifier } from "../src/db/notifier.ts";
import { startEmbeddedPostgres } from "../dev/embedded_postgres.ts";

const echo = defineJob<{ n: number }, { n: number }>("bench_echo", { queue: "bench_iaw" });

if (Deno.args[0] === "--worker") {
  const sql = postgres(Deno.args[1], withNoDelay({ max: 4, onnotice: () => {} }));
  const client = new Client(sql, { queues: { bench_iaw: { maxWorkers: 4 } } });
  client.work(echo, (job) => ({ n: job.args.n }));
  await client.start();
  console.log("ready");
  for await (const _ of Deno.stdin.readable) {
    // Serves until the parent closes stdin.
  }
  await client.shutdown();
  await sql.end();
  Deno.exit(0);
}

const arg = (name: string, fallback: number) => {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 ? Number(Deno.args[i + 1]) : fallback;
};
const n = arg("n", 300);

let serverUrl = Deno.env.get("DATABASE_URL");
const embedded = serverUrl ? null : await startEmbeddedPostgres();
serverUrl ??= embedded!.url;
const admin = postgres(serverUrl, { max: 1, onnotice: () => {} });
await admin.unsafe("DROP DATABASE IF EXISTS awa_bench_iaw WITH (FORCE)");
await admin.unsafe("CREATE DATABASE awa_bench_iaw");
const url = new URL(serverUrl);
url.pathname = "/awa_bench_iaw";
const sql = postgres(url.toString(), withNoDelay({ max: 4, onnotice: () => {} }));
await migrate(sql);

const worker = new Deno.Command(Deno.execPath(), {
  args: ["run", "-A", new URL(import.meta.url).pathname, "--worker", url.toString()],
  stdin: "piped",
  stdout: "piped",
  stderr: "inherit",
}).spawn();
const reader = worker.stdout.pipeThrough(new TextDecoderStream()).getReader();
for (let seen = ""; !seen.includes("ready");) seen += (await reader.read()).value ?? "";

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function measure(name: string): Promise<void> {
  for (let i = 0; i < 20; i++) await insertAndWait(sql, echo, { n: i });
  const ms: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const r = await insertAndWait(sql, echo, { n: i });
    ms.push(performance.now() - t0);
    if (r.n !== i) throw new Error(`wrong result ${r.n} for ${i}`);
  }
  ms.sort((a, b) => a - b);
  const f = (v: number) => v.toFixed(2);
  console.log(
    `insertAndWait ${name}: ${n} calls, p50 ${f(pct(ms, 50))} ms, p95 ${f(pct(ms, 95))} ms, ` +
      `p99 ${f(pct(ms, 99))} ms, max ${f(ms[ms.length - 1])} ms`,
  );
}

try {
  const keep = await new Notifier(sql, "awa").subscribe("@bench_keepalive", () => {});
  await measure("warm (shared LISTEN connection)");
  await keep.unsubscribe();
  await measure("cold (LISTEN connection per call)");
} finally {
  await worker.stdin.close();
  await worker.status;
  await sql.end();
  await admin.unsafe("DROP DATABASE IF EXISTS awa_bench_iaw WITH (FORCE)");
  await admin.end();
  await embedded?.stop();
}
