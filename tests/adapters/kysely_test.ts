/** Kysely (PostgresDialect on a node-postgres pool): a `Kysely` instance and a `Transaction`. */
import { Kysely, PostgresDialect } from "kysely";
import pg from "pg";
import { fromKysely } from "../../adapters.ts";
import { testDatabase } from "../support/db.ts";
import { adapterContract } from "./contract.ts";

const t = await testDatabase("adapter_kysely");
let statements = 0;
const db = new Kysely<Record<string, never>>({
  dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: t.url, max: 4 }) }),
  log: (event) => {
    if (event.level === "query") statements++;
  },
});

adapterContract({
  name: "kysely",
  t,
  db: () => fromKysely(db),
  inTransaction: (fn) => db.transaction().execute((trx) => fn(fromKysely(trx))),
  statements: () => statements,
}, async () => {
  await db.destroy();
  await t.close();
});
