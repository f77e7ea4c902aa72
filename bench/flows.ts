/**
 * Overhead of a fan-in: 1,000 plain jobs against a 1,000-node fan-in (a batch: 1,000 members
 * and one callback released when all have finished), each drained by one client with
 * `--workers` workers. Reports the time from the insert call to the last job's completion
 * (the callback's, for the fan-in), the insert time alone, and their ratios, as the median of
 * `--rounds` rounds.
 *
 *   deno run -A bench/flows.ts [--jobs 1000] [--workers 32] [--rounds 3]
 *
 * Uses DATABASE_URL (creates and drops the database `awa_bench_flows`), else an embedded
 * PostgreSQL.
 */
import postgres from "postgres";
import { Client, defineJob, followUp, insertBatch, insertMany, migrate } from "../mod.ts";
import { startEmbeddedPostgres } from "../dev/embedded_postgres.ts";

const arg = (name: string, fallback: number) => {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 ? Number(Deno.args[i + 1]) : fallback;
};
const jobs = arg("jobs", 1000);
const workers = arg("workers", 32);
const rounds = arg("rounds", 3);

let serverUrl = Deno.env.get("DATABASE_URL");
const embedded = serverUrl ? null : await startEmbeddedPostgres();
serverUrl ??= embedded!.url;
const admin = postgres(serverUrl, { max: 1, onnotice: () => {} });
await admin.unsafe("DROP DATABASE IF EXISTS awa_bench_flows WITH (FORCE)");
await admin.unsafe("CREATE DATABASE awa_bench_flows");
const url = new URL(serverUrl);
url.pathname = "/awa_bench_flows";
const sql = postgres(url.toString(), { max: 4, onnotice: () => {} });
await migrate(sql);

const work = defineJob<{ n: number }>("bench_flow_work", { queue: "bench_flows" });
const done = defineJob<{ round: number }>("bench_flow_done", { queue: "bench_flows" });
let finish: (() => void) | null = null;
let remaining = 0;
const client = new Client(url.toString(), { queues: { bench_flows: { maxWorkers: workers } } });
client.work(work, () => {
  if (--remaining === 0) finish?.();
  return null;
});
client.work(done, () => {
  finish?.();
  return null;
});
await client.start();

const args = Array.from({ length: jobs }, (_, n) => ({ n }));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function plain(): Promise<[number, number]> {
  remaining = jobs;
  const drained = new Promise<void>((r) => finish = r);
  const t0 = performance.now();
  await insertMany(sql, work, args.map((a) => ({ args: a })));
  const t1 = performance.now();
  await drained;
  return [t1 - t0, performance.now() - t0];
}

async function fanIn(round: number): Promise<[number, number]> {
  remaining = Infinity;
  const drained = new Promise<void>((r) => finish = r);
  const t0 = performance.now();
  await insertBatch(sql, work, args, { onFinished: followUp(done, { round }) });
  const t1 = performance.now();
  await drained;
  return [t1 - t0, performance.now() - t0];
}

const p: [number, number][] = [];
const f: [number, number][] = [];
for (let r = 0; r < rounds; r++) {
  p.push(await plain());
  f.push(await fanIn(r));
}
await client.shutdown({ timeoutMs: 5000 });
await sql.end();
await admin.unsafe("DROP DATABASE IF EXISTS awa_bench_flows WITH (FORCE)");
await admin.end();
await embedded?.stop();

const pi = median(p.map((x) => x[0]));
const pt = median(p.map((x) => x[1]));
const fi = median(f.map((x) => x[0]));
const ft = median(f.map((x) => x[1]));
console.log(
  `jobs=${jobs} workers=${workers} rounds=${rounds}\n` +
    `plain:  insert ${pi.toFixed(0)} ms, insert->drained ${pt.toFixed(0)} ms ` +
    `(${(jobs / pt * 1000).toFixed(0)} jobs/s)\n` +
    `fan-in: insert ${fi.toFixed(0)} ms, insert->callback done ${ft.toFixed(0)} ms ` +
    `(${(jobs / ft * 1000).toFixed(0)} jobs/s)\n` +
    `overhead: total x${(ft / pt).toFixed(2)}, insert x${(fi / pi).toFixed(2)}`,
);
