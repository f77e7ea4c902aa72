/** Knex (client `pg`): an instance and a transaction. */
import knexFactory from "knex";
import { fromKnex } from "../../adapters.ts";
import { testDatabase } from "../support/db.ts";
import { adapterContract } from "./contract.ts";

const t = await testDatabase("adapter_knex");
const knex = knexFactory({ client: "pg", connection: t.url, pool: { min: 0, max: 4 } });

// Awa talks to the node-postgres connection Knex holds: count what that connection is sent.
let statements = 0;
const counted = new WeakSet<object>();
const acquire = knex.client.acquireConnection;
knex.client.acquireConnection = async function (this: unknown) {
  const connection = await acquire.call(this);
  if (!counted.has(connection)) {
    counted.add(connection);
    const query = connection.query;
    connection.query = function (this: unknown, ...args: unknown[]) {
      statements++;
      return query.apply(this, args);
    };
  }
  return connection;
};

adapterContract({
  name: "knex",
  t,
  db: () => fromKnex(knex),
  inTransaction: (fn) => knex.transaction((trx) => fn(fromKnex(trx))),
  statements: () => statements,
}, async () => {
  await knex.destroy();
  await t.close();
});
