/**
 * insertAndWait round trip on an idle queue: the time from the call to its typed result, with
 * the worker in a second process (this script started with `--worker`). Nothing else listens
 * on the waiter's pool. Two kinds of call:
 * - `warm`: back-to-back calls, which share the `@result` subscription the previous call left;
 * - `cold`: each call comes after the subscription's linger (RESULT_LINGER_MS) has run out,
 *   so it opens the LISTEN connection first, as the first call of a process does.
 *
 *   deno run -A bench/insert_and_wait.ts [--n 300] [--rounds 3] [--cold 20]
 *
 * `--rounds` rounds of `--n` warm calls (after 20 discarded), then `--cold` cold calls (one
 * linger apart, so about 5 s each). Uses DATABASE_URL (creates and drops the database
 * `awa_bench_iaw`), else an embedded PostgreSQL. Prints each warm round's p50, p95, p99 and max
 * in ms, their medians over the rounds, and the same figures for the cold calls.
 */
import postgres from "postgres";
import { Client, defineJob, insertAndWait, migrate, withNoDelay } from "../mod.ts";
import { RESULT_LINGER_MS } from "../src/results/listen.ts";
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
const rounds = arg("rounds", 3);
const coldCalls = arg("cold", 20);

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

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const f = (v: number) => v.toFixed(2);

/** p50, p95, p99 and max of `ms`. */
function summary(ms: number[]): number[] {
  const s = [...ms].sort((a, b) => a - b);
  return [pct(s, 50), pct(s, 95), pct(s, 99), s[s.length - 1]];
}

function line(name: string, calls: number, [p50, p95, p99, max]: number[]): string {
  return `insertAndWait ${name}: ${calls} calls, p50 ${f(p50)} ms, p95 ${f(p95)} ms, ` +
    `p99 ${f(p99)} ms, max ${f(max)} ms`;
}

async function call(i: number): Promise<number> {
  const t0 = performance.now();
  const r = await insertAndWait(sql, echo, { n: i });
  const ms = performance.now() - t0;
  if (r.n !== i) throw new Error(`wrong result ${r.n} for ${i}`);
  return ms;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

try {
  for (let i = 0; i < 20; i++) await call(i);
  const warm: number[][] = [];
  for (let round = 1; round <= rounds; round++) {
    const ms: number[] = [];
    for (let i = 0; i < n; i++) ms.push(await call(i));
    warm.push(summary(ms));
    console.log(line(`warm round ${round}`, n, warm[warm.length - 1]));
  }
  console.log(
    line(
      `warm, median of ${rounds} rounds,`,
      n,
      [0, 1, 2, 3].map((k) => median(warm.map((w) => w[k]))),
    ),
  );
  const cold: number[] = [];
  for (let i = 0; i < coldCalls; i++) {
    // Past the linger the subscription and its LISTEN connection are gone.
    await sleep(RESULT_LINGER_MS + 500);
    cold.push(await call(i));
  }
  if (coldCalls > 0) {
    console.log(line("cold (LISTEN connection opened by the call)", coldCalls, summary(cold)));
  }
} finally {
  await worker.stdin.close();
  await worker.status;
  await sql.end();
  await admin.unsafe("DROP DATABASE IF EXISTS awa_bench_iaw WITH (FORCE)");
  await admin.end();
  await embedded?.stop();
}
