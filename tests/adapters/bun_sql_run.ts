/**
 * The adapter contract for Bun's built-in SQL client, run under Bun (Deno's test runner cannot
 * host `Bun.sql`):
 *
 *   DATABASE_URL=postgres://… npx -y bun@1.4.5 tests/adapters/bun_sql_run.ts
 *
 * Prints each case, then `bun adapters: N passed, N failed`; exits 1 when a case failed or
 * none ran.
 */
import process from "node:process";
import { type BunSqlHandle, fromBunSql } from "../../adapters.ts";
import { testDatabase } from "../support/db.ts";
import { adapterCases, type ContractCase } from "./contract.ts";

/** The part of Bun's SQL client this runner uses. */
interface BunSqlClient extends BunSqlHandle {
  begin<T>(fn: (tx: BunSqlHandle) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

const Bun = (globalThis as { Bun?: { SQL: new (url: string) => BunSqlClient } }).Bun;
if (!Bun) {
  console.error("run this file with bun");
  process.exit(2);
}

const t = await testDatabase("adapter_bun_sql");
const sql = new Bun.SQL(t.url);

// Bun's client has no statement hook: count the calls of `unsafe`, its one way in for Awa.
let statements = 0;
function counted<H extends BunSqlHandle>(h: H): H {
  return new Proxy(h, {
    get(target, key, receiver) {
      const v = Reflect.get(target, key, receiver);
      if (key === "unsafe") {
        return (...args: Parameters<BunSqlHandle["unsafe"]>) => {
          statements++;
          return target.unsafe(...args);
        };
      }
      if (key === "begin") {
        return <T>(fn: (tx: BunSqlHandle) => Promise<T>) =>
          (target as unknown as BunSqlClient).begin((tx) => fn(counted(tx)));
      }
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
}

const cases: ContractCase[] = adapterCases({
  name: "bun sql",
  t,
  db: () => fromBunSql(counted(sql)),
  inTransaction: (fn) => sql.begin((tx) => fn(fromBunSql(counted(tx)))),
  statements: () => statements,
});

let passed = 0;
let failed = 0;
for (const c of cases) {
  try {
    await c.fn();
    passed++;
    console.log(`ok   ${c.name}`);
  } catch (err) {
    failed++;
    console.log(`FAIL ${c.name}\n${(err as Error)?.stack ?? err}`);
  }
}
await sql.close();
await t.close();
console.log(`bun adapters: ${passed} passed, ${failed} failed`);
process.exit(failed > 0 || passed === 0 ? 1 : 0);
