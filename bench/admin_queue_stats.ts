/**
 * Cost of one `queueStats` call on a busy queue (issue 11, item 4). A queue with a deep backlog
 * (`--backlog`, default 1 000 000 available jobs) and a second queue through which a Client
 * works `--flow` jobs (default 20 000) while this script polls `queueStats` on both queues every
 * 200 ms on one connection of its own; prints the first call (which also plans the statement
 * for the connection), the latency percentiles of the later calls, and EXPLAIN ANALYZE timings.
 * With `--pause-loop`, every poll also pauses and resumes the flowing queue, and the run fails
 * if the Client reported any error (a deadlock would be one).
 *
 *   DATABASE_URL=postgres://… deno run -A bench/admin_queue_stats.ts [--backlog N] [--flow N]
 *     [--pause-loop]
 *
 * Creates and drops its own database `awa_bench_stats` on the server of DATABASE_URL.
 * @module
 */
import postgres from "postgres";
import { parseArgs } from "node:util";
import { Client, defineJob, insertMany, migrate, withNoDelay } from "../mod.ts";
import { pause, queueStats, resume } from "../admin.ts";

const { values } = parseArgs({
  options: {
    "pause-loop": { type: "boolean", default: false },
    backlog: { type: "string", default: "1000000" },
    flow: { type: "string", default: "20000" },
  },
});
const backlog = Number(values.backlog);
const flow = Number(values.flow);
const server = Deno.env.get("DATABASE_URL");
if (!server) throw new Error("set DATABASE_URL");
const dbName = "awa_bench_stats";
const admin = postgres(server, { max: 1, onnotice: () => {} });
await admin.unsafe(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
await admin.unsafe(`CREATE DATABASE ${dbName}`);
const url = new URL(server);
url.pathname = "/" + dbName;
const sql = postgres(url.toString(), withNoDelay({ max: 4, onnotice: () => {} }));

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
const summary = (xs: number[]) =>
  `n=${xs.length} p50=${pct(xs, 50).toFixed(1)} ms p95=${pct(xs, 95).toFixed(1)} ms ` +
  `max=${Math.max(...xs).toFixed(1)} ms`;

try {
  await migrate(sql);
  const deep = defineJob<{ n: number }>("deep_job", { queue: "deep" });
  const busy = defineJob<{ n: number }>("busy_job", { queue: "busy" });
  let t0 = performance.now();
  for (let i = 0; i < backlog; i += 50_000) {
    const n = Math.min(50_000, backlog - i);
    await insertMany(sql, deep, Array.from({ length: n }, (_, k) => ({ args: { n: i + k } })));
  }
  console.log(`backlog: ${backlog} jobs in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  await sql`VACUUM ANALYZE`;

  const client = new Client(url.toString(), { queues: { busy: { maxWorkers: 50 } } });
  let done = 0;
  const errors: unknown[] = [];
  client.work(busy, () => void done++);
  client.on("error", (e) => void errors.push(e));
  await client.start();
  const lat: Record<string, number[]> = { busy: [], deep: [] };
  t0 = performance.now();
  for (let i = 0; i < flow; i += 5000) {
    await insertMany(
      sql,
      busy,
      Array.from({ length: Math.min(5000, flow - i) }, (_, k) => ({
        args: { n: i + k },
      })),
    );
  }
  // One connection of its own, as a dashboard's poller would keep: the first call plans.
  const poller = postgres(url.toString(), withNoDelay({ max: 1, onnotice: () => {} }));
  const first: Record<string, number> = {};
  while (done < flow) {
    for (const q of ["busy", "deep"]) {
      const s = performance.now();
      await queueStats(poller, q);
      const ms = performance.now() - s;
      if (first[q] === undefined) first[q] = ms;
      else lat[q].push(ms);
    }
    if (values["pause-loop"]) {
      await pause(sql, "busy");
      await resume(sql, "busy");
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  const secs = (performance.now() - t0) / 1000;
  console.log(`flow: ${flow} jobs through "busy" in ${secs.toFixed(1)} s`);
  const b = await queueStats(sql, "busy");
  const d = await queueStats(sql, "deep");
  console.log(`busy: completed ${b.counts.completed}, last minute ${b.completedLastMinute}`);
  console.log(`deep: available ${d.counts.available}, lag ${d.lagSeconds?.toFixed(1)} s`);
  console.log(
    `first calls on the poller: busy ${first.busy.toFixed(1)} ms, deep ` +
      `${first.deep.toFixed(1)} ms`,
  );
  console.log(`queueStats("busy") while it flowed: ${summary(lat.busy)}`);
  console.log(`queueStats("deep") while "busy" flowed: ${summary(lat.deep)}`);
  for (const q of ["busy", "deep"]) {
    const plan = await poller.unsafe(
      `EXPLAIN (ANALYZE, FORMAT JSON) SELECT * FROM awa.queue_stats($1)`,
      [q],
    );
    const p = (plan[0] as Record<string, [{ "Execution Time": number }]>)["QUERY PLAN"][0];
    console.log(`EXPLAIN ANALYZE queue_stats('${q}') after the flow: ${p["Execution Time"]} ms`);
  }
  await client.shutdown({ timeoutMs: 10_000 });
  await poller.end({ timeout: 1 });
  console.log(`client errors: ${errors.length}`);
  if (errors.length > 0) throw new AggregateError(errors, "the client reported errors");
} finally {
  await sql.end({ timeout: 1 });
  await admin.unsafe(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
  await admin.end();
}
