// An invoice and the job that sends it, written in one Drizzle transaction (node-postgres
// driver), then run by a Client. A failed transaction leaves neither behind.
//
//   DATABASE_URL=postgres://… npm start
import process from "node:process";
import { sql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/node-postgres";
import { bigserial, integer, pgTable } from "drizzle-orm/pg-core";
import pg from "pg";
import { Client, defineJob, insert, migrate } from "@awa/awa";
import { fromDrizzle } from "@awa/awa/adapters";

const url = process.env.DATABASE_URL;
if (!url) {
  console.error("set DATABASE_URL");
  process.exit(2);
}

const pool = new pg.Pool({ connectionString: url, max: 4 });
const db = drizzle(pool);
await migrate(fromDrizzle(db));
await db.execute(sql`CREATE TABLE IF NOT EXISTS example_drizzle_invoices (
  id bigserial PRIMARY KEY, cents integer NOT NULL)`);
const invoices = pgTable("example_drizzle_invoices", {
  id: bigserial("id", { mode: "number" }).primaryKey(),
  cents: integer("cents").notNull(),
});

const send = defineJob("example_drizzle_send", { queue: "example_drizzle" });

// A rolled-back transaction takes its job with it.
const before = await db.$count(invoices);
await db.transaction(async (tx) => {
  const [invoice] = await tx.insert(invoices).values({ cents: 100 }).returning();
  await insert(fromDrizzle(tx), send, { invoiceId: invoice.id });
  tx.rollback();
}).catch(() => {});
if ((await db.$count(invoices)) !== before) throw new Error("the rollback kept the invoice");

const jobId = await db.transaction(async (tx) => {
  const [invoice] = await tx.insert(invoices).values({ cents: 4200 }).returning();
  const job = await insert(fromDrizzle(tx), send, { invoiceId: invoice.id });
  console.log(`invoice ${invoice.id} and job ${job.id} committed`);
  return job.id;
});

const worker = new Client(url, { queues: { example_drizzle: { maxWorkers: 2 } } });
const done = new Promise((resolve) => {
  worker.on("completed", ({ job }) => {
    if (job.id === jobId) resolve();
  });
});
worker.work(send, (job) => {
  console.log(`sending invoice ${job.args.invoiceId}`);
  return null;
});
await worker.start();
const timer = setTimeout(() => {
  console.error("the job did not complete within 30 s");
  process.exit(1);
}, 30_000);
await done;
clearTimeout(timer);
await worker.shutdown({ timeoutMs: 5000 });
await pool.end();
console.log("done");
