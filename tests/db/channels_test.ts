/** NOTIFY channel names: the TypeScript and SQL derivations agree for every schema shape. */
import assert from "node:assert/strict";
import { migrate } from "../../mod.ts";
import { CANCEL_TOPIC, notifyChannel } from "../../src/db/channels.ts";
import { testDatabase } from "../support/db.ts";
import { POOL_TEST } from "../support/producer.ts";

Deno.test({
  name: "notifyChannel matches awa.notify_channel in the default and other schemas",
  ...POOL_TEST,
  async fn() {
    const t = await testDatabase("channels");
    try {
      const long = "s".repeat(40);
      for (const schema of ["awa", "tenant_a", long]) {
        if (schema !== "awa") await migrate(t.sql, { schema });
        for (const topic of ["default", CANCEL_TOPIC, "q".repeat(59), "a.b:c-d"]) {
          const [{ c }] = await t.sql.unsafe(`SELECT ${schema}.notify_channel($1) AS c`, [topic]);
          assert.equal(c, notifyChannel(schema, topic), `${schema} / ${topic}`);
          assert.ok(new TextEncoder().encode(c).length <= 63);
        }
      }
      assert.equal(notifyChannel("awa", "email"), "awa:email");
      assert.equal(notifyChannel("tenant_a", "email"), "tenant_a:email");
      assert.notEqual(notifyChannel("awa", "x"), notifyChannel("tenant_a", "x"));
      assert.match(notifyChannel(long, "q".repeat(59)), /^awa~[0-9a-f]{32}$/);
    } finally {
      await t.close();
    }
  },
});
