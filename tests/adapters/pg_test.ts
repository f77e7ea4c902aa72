/**
 * node-postgres through `fromPg`: a `Pool`, a `PoolClient` and a plain `Client`, each inside the
 * caller's own BEGIN…COMMIT/ROLLBACK and on its own.
 */
import pg from "pg";
import { fromPg } from "../../adapters.ts";
import { testDatabase } from "../support/db.ts";
import { adapterContract } from "./contract.ts";

const t = await testDatabase("adapter_pg");
let statements = 0;

/** Count every statement `client` is sent: node-postgres's `query` is the one way in. */
function counted<C extends pg.ClientBase>(client: C): C {
  if (!Object.hasOwn(client, "query")) {
    const query = client.query;
    // deno-lint-ignore no-explicit-any
    (client as any).query = function (this: C, ...args: unknown[]) {
      statements++;
      return (query as (...a: unknown[]) => unknown).apply(this, args);
    };
  }
  return client;
}

const pool = new pg.Pool({ connectionString: t.url, max: 4 });
pool.on("connect", (client: pg.PoolClient) => counted(client));
const single = counted(new pg.Client({ connectionString: t.url }));
await single.connect();

/** BEGIN on `client`, run `fn` with the wrapped client, then COMMIT, or ROLLBACK if it threw. */
async function inOwnTransaction(
  client: pg.ClientBase,
  fn: (tx: ReturnType<typeof fromPg>) => Promise<void>,
  options: { inTransaction?: boolean },
): Promise<void> {
  await client.query("BEGIN");
  try {
    await fn(fromPg(client, options));
    await client.query("COMMIT");
  } catch (err) {
    await client.query("ROLLBACK");
    throw err;
  }
}

adapterContract({
  name: "pg Pool and PoolClient",
  t,
  db: () => fromPg(pool),
  inTransaction: async (fn) => {
    const client = await pool.connect();
    try {
      await inOwnTransaction(client, fn, { inTransaction: true });
    } finally {
      client.release();
    }
  },
  statements: () => statements,
});

adapterContract({
  name: "pg Client",
  t,
  db: () => fromPg(single),
  // Without inTransaction Awa probes the session and nests in a savepoint of the caller's BEGIN.
  inTransaction: (fn) => inOwnTransaction(single, fn, {}),
  statements: () => statements,
}, async () => {
  await single.end();
  await pool.end();
  await t.close();
});
