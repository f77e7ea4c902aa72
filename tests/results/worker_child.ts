/**
 * The worker process of the results tests (not a test file): serves the jobs of jobs.ts.
 *
 *   deno run -A tests/results/worker_child.ts <url>
 *
 * Prints `{"ready": true}` once started; closing stdin shuts it down.
 */
import postgres from "postgres";
import { Client, TerminalError } from "../../mod.ts";
import { big, echo, fail, QUEUE, selfCancel, slow } from "./jobs.ts";

const [url] = Deno.args;
const sql = postgres(url, { max: 4, onnotice: () => {} });
const client = new Client(sql, {
  queues: { [QUEUE]: { maxWorkers: 8, pollIntervalMs: 50 } },
  heartbeat: { intervalMs: 200, stalenessMs: 600 },
});
client.work(echo, (job) => ({ doubled: job.args.n * 2, pid: Deno.pid }));
client.work(fail, (job) => {
  throw new TerminalError(`refused: ${job.args.why}`);
});
client.work(slow, async (job) => {
  await new Promise((r) => setTimeout(r, job.args.ms));
  return "slept";
});
client.work(big, (job) => "x".repeat(job.args.chars));
client.work(selfCancel, (job, ctx) => ctx.cancel(job.args.reason));
await client.start();
console.log(JSON.stringify({ ready: true, pid: Deno.pid }));
for await (const _ of Deno.stdin.readable) {
  // Runs until the parent closes stdin.
}
await client.shutdown({ timeoutMs: 5000 });
await sql.end();
