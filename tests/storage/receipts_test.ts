/**
 * Receipt ids (`batch_id · 65536 + idx`): encoding matches the SQL formula and decoding gives
 * the parts back, beyond 2^53 too.
 */
import assert from "node:assert/strict";
import { decodeReceipt, encodeReceipt } from "../../src/storage/receipts.ts";
import { testDatabase } from "../support/db.ts";

Deno.test("receipts: encode matches SQL's batch_id * 65536 + idx, decode inverts it", async () => {
  const t = await testDatabase("storage_receipts");
  try {
    const cases: [string, number][] = [["1", 0], ["1", 65535], ["123456789", 42], [
      "140737488355327",
      65535,
    ]];
    for (const [batchId, idx] of cases) {
      const receipt = encodeReceipt(batchId, idx);
      const [{ r }] = await t.sql<{ r: string }[]>`
        SELECT (${batchId}::bigint * 65536 + ${idx})::text AS r`;
      assert.equal(receipt, r, `receipt of (${batchId}, ${idx})`);
      assert.deepEqual(decodeReceipt(receipt), { batchId, idx });
    }
  } finally {
    await t.close();
  }
});
