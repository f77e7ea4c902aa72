// An order and its confirmation job, written in one node-postgres transaction: both commit or
// neither does. A Client then runs the job and the process exits.
//
//   DATABASE_URL=postgres://… npm start
import process from "node:process";
import pg from "pg";
import { Client, defineJob, insert, migrate } from "@awa/awa";
import { fromPg } from "@awa/awa/adapters";

const url = process.env.DATABASE_URL;
if (!url) {
  console.error("set DATABASE_URL");
  process.exit(2);
}

const pool = new pg.Pool({ connectionString: url, max: 4 });
await migrate(fromPg(pool));
await pool.query(`CREATE TABLE IF NOT EXISTS example_pg_orders (
  id bigserial PRIMARY KEY, item text NOT NULL, created_at timestamptz NOT NULL DEFAULT now())`);

const confirm = defineJob("example_pg_confirm", { queue: "example_pg" });

const client = await pool.connect();
let jobId;
try {
  await client.query("BEGIN");
  const { rows } = await client.query(
    "INSERT INTO example_pg_orders (item) VALUES ($1) RETURNING id",
    ["teapot"],
  );
  const orderId = Number(rows[0].id);
  ({ id: jobId } = await insert(fromPg(client, { inTransaction: true }), confirm, { orderId }));
  await client.query("COMMIT");
  console.log(`order ${orderId} and job ${jobId} committed`);
} catch (err) {
  await client.query("ROLLBACK");
  throw err;
} finally {
  client.release();
}

// The handler itself says when the work is done; shutdown() then waits for it to be recorded.
let finish;
const finished = new Promise((resolve) => finish = resolve);
const worker = new Client(url, { queues: { example_pg: { maxWorkers: 2 } } });
worker.work(confirm, (job) => {
  console.log(`confirming order ${job.args.orderId}`);
  if (job.id === jobId) finish();
  return null;
});
await worker.start();
const deadline = AbortSignal.timeout(30_000);
deadline.addEventListener("abort", () => finish(new Error("the job did not run within 30 s")));
const failure = await finished;
await worker.shutdown({ timeoutMs: 5000 });
if (failure) throw failure;
const { rows: [job] } = await pool.query("SELECT state FROM awa.jobs WHERE id = $1", [jobId]);
console.log(`job ${jobId}: ${job?.state ?? "gone"}`);
await pool.end();
