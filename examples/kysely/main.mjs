// A signup and its welcome jobs, written in one Kysely transaction, then run by a Client.
//
//   DATABASE_URL=postgres://… npm start
import process from "node:process";
import { Kysely, PostgresDialect } from "kysely";
import pg from "pg";
import { Client, defineJob, insertMany, migrate } from "@awa/awa";
import { fromKysely } from "@awa/awa/adapters";

const url = process.env.DATABASE_URL;
if (!url) {
  console.error("set DATABASE_URL");
  process.exit(2);
}

const db = new Kysely({
  dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: url, max: 4 }) }),
});
await migrate(fromKysely(db));
await db.schema.createTable("example_kysely_users").ifNotExists()
  .addColumn("id", "bigserial", (c) => c.primaryKey())
  .addColumn("email", "text", (c) => c.notNull())
  .execute();

const welcome = defineJob("example_kysely_welcome", { queue: "example_kysely" });

const ids = await db.transaction().execute(async (trx) => {
  const user = await trx.insertInto("example_kysely_users")
    .values({ email: `ada+${Date.now()}@example.com` })
    .returning(["id", "email"])
    .executeTakeFirstOrThrow();
  // One batch, one statement: the welcome mail now and a reminder in a second.
  const { ids } = await insertMany(fromKysely(trx), welcome, [
    { args: { userId: Number(user.id), email: user.email, step: "welcome" } },
    {
      args: { userId: Number(user.id), email: user.email, step: "reminder" },
      runAt: new Date(Date.now() + 1000),
    },
  ]);
  console.log(`user ${user.id} and jobs ${ids.join(", ")} committed`);
  return ids;
});

const pending = new Set(ids);
const worker = new Client(url, { queues: { example_kysely: { maxWorkers: 2 } } });
const done = new Promise((resolve) => {
  worker.on("completed", ({ job }) => {
    pending.delete(job.id);
    if (pending.size === 0) resolve();
  });
});
worker.work(welcome, (job) => {
  console.log(`${job.args.step} mail to ${job.args.email}`);
  return null;
});
await worker.start();
const timer = setTimeout(() => {
  console.error("the jobs did not complete within 30 s");
  process.exit(1);
}, 30_000);
await done;
clearTimeout(timer);
await worker.shutdown({ timeoutMs: 5000 });
await db.destroy();
console.log("done");
