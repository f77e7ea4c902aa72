/** Each adapter refuses what is not its library's handle, before anything is sent. */
import assert from "node:assert/strict";
import { fromBunSql, fromDrizzle, fromKnex, fromKysely, fromPrisma } from "../../adapters.ts";
import { Client, defineJob, insert, ValidationError } from "../../mod.ts";

const cases: [string, () => unknown][] = [
  ["fromKysely(null)", () => fromKysely(null as never)],
  ["fromKysely({})", () => fromKysely({} as never)],
  ["fromDrizzle(a function)", () => fromDrizzle((() => {}) as never)],
  ["fromDrizzle({ execute })", () => fromDrizzle({ execute() {} } as never)],
  ["fromKnex({ transaction }) without a client", () => fromKnex({ transaction() {} } as never)],
  ["fromKnex('url')", () => fromKnex("postgres://x" as never)],
  ["fromBunSql(42)", () => fromBunSql(42 as never)],
  ["fromBunSql({ unsafe }) without begin", () => fromBunSql({ unsafe() {} } as never)],
  ["fromPrisma({})", () => fromPrisma({} as never)],
  [
    "fromPrisma({ $queryRawUnsafe, $disconnect }) without $transaction",
    () => fromPrisma({ $queryRawUnsafe() {}, $disconnect() {} } as never),
  ],
];

for (const [name, call] of cases) {
  Deno.test(`${name} throws ValidationError naming the adapter`, () => {
    assert.throws(call, (err) => {
      assert.ok(err instanceof ValidationError, String(err));
      assert.equal(err.code, "VALIDATION");
      assert.match(err.message, /^db: from(Kysely|Drizzle|Knex|BunSql|Prisma) expects /);
      return true;
    });
  });
}

Deno.test("a bare Bun SQL client is refused with a pointer to fromBunSql", async () => {
  const bunLike = Object.assign(() => {}, { unsafe() {}, begin() {} });
  const job = defineJob<{ n: number }>("adapter_validation", { queue: "adapter_validation" });
  await assert.rejects(insert(bunLike as never, job, { n: 1 }), (err) => {
    assert.ok(err instanceof ValidationError, String(err));
    assert.match(err.message, /fromBunSql/);
    return true;
  });
});

Deno.test("a Client refuses a bare Bun SQL client and says to pass the URL", () => {
  const bunLike = Object.assign(() => {}, { unsafe() {}, begin() {}, reserve() {} });
  assert.throws(
    () => new Client(bunLike as never, { queues: { adapter_validation: {} } }),
    (err) => {
      assert.ok(err instanceof ValidationError, String(err));
      assert.match(err.message, /a Client takes the URL/);
      return true;
    },
  );
});
