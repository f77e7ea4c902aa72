import assert from "node:assert/strict";
import { cancelByUniqueKey, defineJob, insert } from "../../mod.ts";
import { POOL_TEST, testDatabase } from "../support/db.ts";

const t = await testDatabase("cancel_unique");
const opts = POOL_TEST;
const report = defineJob<{ day: string }>("daily_report", { queue: "reports" });

Deno.test("cancelByUniqueKey cancels the holder of the key and frees it", opts, async () => {
  const job = await insert(t.sql, report, { day: "2026-11-25" }, { unique: { byQueue: true } });
  const later = await insert(t.sql, report, { day: "2026-11-26" }, {
    unique: { byQueue: true },
    runAt: new Date(Date.now() + 3_600_000),
  });
  const id = await cancelByUniqueKey(t.sql, report, {
    args: { day: "2026-11-25" },
    queue: "reports",
  });
  assert.equal(id, job.id);
  const [row] = await t.sql`SELECT state::text FROM awa.jobs WHERE id = ${job.id}`;
  assert.equal(row.state, "cancelled");
  // The key is released: the same job can be inserted again.
  const again = await insert(t.sql, report, { day: "2026-11-25" }, { unique: { byQueue: true } });
  assert.notEqual(again.id, job.id);
  // A scheduled holder is cancelled too; a key nobody holds resolves to null.
  assert.equal(
    await cancelByUniqueKey(t.sql, report, { args: { day: "2026-11-26" }, queue: "reports" }),
    later.id,
  );
  assert.equal(await cancelByUniqueKey(t.sql, report, { args: { day: "1999-01-01" } }), null);
});

Deno.test("close cancel database", opts, async () => {
  await t.close();
});
