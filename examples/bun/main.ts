// Awa on Bun, TypeScript run as is: an order and its confirmation job commit together, a rolled
// back order leaves no job, and the client is disposed with `await using`. Needs DATABASE_URL.
//
//   bun add @awa/awa postgres && bun main.ts
import postgres from "postgres";
import { Client, defineJob, insert, migrate, withNoDelay } from "@awa/awa";

const url = process.env.DATABASE_URL;
if (!url) throw new Error("set DATABASE_URL to a PostgreSQL 15+ database");
const schema = "awa_example_bun";
const sql = postgres(url, withNoDelay({ max: 5, onnotice: () => {} }));
await migrate(sql, { schema });
await sql`CREATE TABLE IF NOT EXISTS example_bun_orders (id bigserial PRIMARY KEY, item text)`;

type Confirm = { orderId: string; item: string };
const confirm = defineJob<Confirm>("confirm_order", { queue: "orders" });

async function placeOrder(item: string, fail: boolean): Promise<void> {
  await sql.begin(async (tx) => {
    const [order] = await tx<{ id: string }[]>`
      INSERT INTO example_bun_orders (item) VALUES (${item}) RETURNING id`;
    await insert(tx, confirm, { orderId: order!.id, item }, { schema });
    if (fail) throw new Error("payment declined");
  }).catch((err: Error) => console.log(`order for ${item} rolled back: ${err.message}`));
}
await placeOrder("teapot", false);
await placeOrder("kettle", true);

const confirmed: string[] = [];
{
  await using client = new Client(sql, { schema, queues: { orders: { pollIntervalMs: 100 } } });
  const done = new Promise<void>((resolve) => {
    client.work(confirm, (job) => {
      confirmed.push(job.args.item);
      resolve();
    });
  });
  await client.start();
  await done;
  await new Promise((resolve) => setTimeout(resolve, 300)); // a stray job would show up here
}
await sql`DROP TABLE example_bun_orders`;
await sql.unsafe(`DROP SCHEMA ${schema} CASCADE`);
await sql.end();
console.log(`bun example: confirmed ${confirmed.join(", ")}`);
process.exit(confirmed.join(",") === "teapot" ? 0 : 1);
