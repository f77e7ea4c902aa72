/**
 * The same source on Deno, Bun and Node: migrate, enqueue, work a few jobs with every outcome,
 * shut down. Needs DATABASE_URL. Run by .ci/run under each runtime.
 *
 *   deno run -A examples/cross_runtime.ts
 *   bun examples/cross_runtime.ts
 *   node examples/cross_runtime.ts   (Node 22.18+, which strips types natively)
 */
import postgres from "postgres";
import process from "node:process";
import {
  Client,
  defineJob,
  insert,
  insertMany,
  migrate,
  TerminalError,
  withNoDelay,
} from "../mod.ts";

const url = process.env.DATABASE_URL;
if (!url) {
  console.error("set DATABASE_URL");
  process.exit(2);
}
const runtime = typeof (globalThis as { Deno?: unknown }).Deno !== "undefined"
  ? "deno"
  : typeof (globalThis as { Bun?: unknown }).Bun !== "undefined"
  ? "bun"
  : "node";
const schema = `awa_xrt_${runtime}_${process.pid}`;
const sql = postgres(url, withNoDelay({ max: 5, onnotice: () => {} }));
await migrate(sql, { schema });

const greet = defineJob<{ name: string }>("greet", { queue: "xrt", maxAttempts: 2 });
await insert(sql, greet, { name: "one" }, { schema });
await insertMany(sql, greet, [{ args: { name: "two" } }, { args: { name: "boom" } }], { schema });

const seen: string[] = [];
const client = new Client(sql, {
  schema,
  queues: { xrt: { maxWorkers: 4, pollIntervalMs: 50 } },
  maintenance: { promote: { intervalMs: 50 } },
});
client.work(greet, (job) => {
  if (job.args.name === "boom") throw new TerminalError("boom is not a name");
  seen.push(job.args.name);
  return { greeted: job.args.name };
});
let finished = 0;
client.on("completed", () => finished++);
client.on("failed", () => finished++);
await client.start();
const deadline = Date.now() + 20_000;
while (finished < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
await client.shutdown({ timeoutMs: 2000 });
await sql.unsafe(`DROP SCHEMA ${schema} CASCADE`);
await sql.end();
if (finished !== 3 || seen.sort().join(",") !== "one,two") {
  console.error(`${runtime}: FAILED (finished ${finished}, seen ${seen.join(",")})`);
  process.exit(1);
}
console.log(`${runtime}: ok — 2 completed, 1 failed terminally`);
