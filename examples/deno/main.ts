// Awa on Deno through npm: specifiers (deno.json maps them; `nodeModulesDir: "manual"` uses the
// node_modules that `npm install` or `deno install` made). A scheduled reminder is unique per
// user and day, so enqueueing it twice keeps one; cancelling by the same key removes it before it
// runs, and an immediate job runs. Needs DATABASE_URL.
//
//   deno install && deno task start
import postgres from "postgres";
import { cancelByUniqueKey, Client, defineJob, insert, migrate, withNoDelay } from "@awa/awa";

const url = Deno.env.get("DATABASE_URL");
if (!url) throw new Error("set DATABASE_URL to a PostgreSQL 15+ database");
const schema = "awa_example_deno";
const sql = postgres(url, withNoDelay({ max: 5, onnotice: () => {} }));
await migrate(sql, { schema });

type Remind = { user: string; day: string };
const remind = defineJob<Remind>("remind", { queue: "reminders" });
const tomorrow = new Date(Date.now() + 86_400_000);
const args = { user: "ana", day: tomorrow.toISOString().slice(0, 10) };
const first = await insert(sql, remind, args, {
  schema,
  runAt: tomorrow,
  unique: { byArgs: true },
});
const again = await insert(sql, remind, args, {
  schema,
  runAt: tomorrow,
  unique: { byArgs: true },
  onConflict: "skip",
});
console.log(
  `scheduled reminder ${first.id} (${first.state}); second insert: ${again?.id ?? "skipped"}`,
);
const cancelled = await cancelByUniqueKey(sql, remind, {
  args,
  schema,
  reason: "user unsubscribed",
});
console.log(`cancelled reminder ${cancelled}`);

const now = await insert(sql, remind, { user: "ben", day: "today" }, { schema });
const ran: string[] = [];
const client = new Client(sql, { schema, queues: { reminders: { pollIntervalMs: 100 } } });
const done = new Promise<void>((resolve) => {
  client.on("completed", () => resolve());
  client.work(remind, (job) => {
    ran.push(job.args.user);
  });
});
await client.start();
await done;
await client.shutdown();
await sql.unsafe(`DROP SCHEMA ${schema} CASCADE`);
await sql.end();
console.log(`deno example: ran reminder ${now.id} for ${ran.join(", ")}`);
Deno.exit(again === null && cancelled === first.id && ran.join(",") === "ben" ? 0 : 1);
