// Awa on Node (20 or later), plain JavaScript: enqueue jobs that end in each handler outcome,
// work them, and exit once every one has settled. Needs DATABASE_URL.
//
//   npm install @awa/awa postgres && npm start
import process from "node:process";
import postgres from "postgres";
import { Client, defineJob, insertMany, migrate, TerminalError, withNoDelay } from "@awa/awa";

const url = process.env.DATABASE_URL;
if (!url) {
  console.error("set DATABASE_URL to a PostgreSQL 15+ database");
  process.exit(2);
}
const schema = "awa_example_node";
const sql = postgres(url, withNoDelay({ max: 5, onnotice: () => {} }));
await migrate(sql, { schema });

const resize = defineJob("resize_image", { queue: "images", maxAttempts: 3 });
const { ids } = await insertMany(sql, resize, [
  { args: { file: "cat.png", width: 320 } },
  { args: { file: "broken.gif", width: 320 } },
  { args: { file: "busy.png", width: 640 } },
], { schema });

const client = new Client(sql, {
  schema,
  queues: { images: { maxWorkers: 4, pollIntervalMs: 100 } },
  maintenance: { promote: { intervalMs: 100 } },
});
const busySeen = new Set();
client.work(resize, (job, ctx) => {
  const { file, width } = job.args;
  if (file.endsWith(".gif")) throw new TerminalError(`${file}: gif is not supported`);
  if (file.startsWith("busy") && !busySeen.has(job.id)) {
    busySeen.add(job.id);
    return ctx.snooze(200); // try again shortly, without spending an attempt
  }
  return { file, width, bytes: width * 12 };
});

const outcomes = new Map();
const settled = new Promise((resolve) => {
  const record = (outcome) => ({ job }) => {
    outcomes.set(job.id, outcome);
    if (ids.every((id) => outcomes.has(id))) resolve();
  };
  client.on("completed", record("completed"));
  client.on("failed", record("failed"));
  client.on("exhausted", record("exhausted"));
});
client.on("snoozed", ({ job }) => console.log(`job ${job.id} snoozed`));

await client.start();
await settled;
await client.shutdown();
await sql.unsafe(`DROP SCHEMA ${schema} CASCADE`);
await sql.end();

const summary = ids.map((id) => `${id}: ${outcomes.get(id)}`).join(", ");
console.log(`node example: ${summary}`);
const expected = ["completed", "failed", "completed"];
process.exit(ids.every((id, i) => outcomes.get(id) === expected[i]) ? 0 : 1);
