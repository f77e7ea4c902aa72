/**
 * Receipt ids: one bigint per claimed attempt, `batch_id · 65536 + idx` (a claim batch holds at
 * most 65536 attempts). Closures and heartbeats store receipts as ranges of these ids; the SQL
 * side computes the same formula. Ids are decimal strings because batch ids can exceed 2^53.
 * @module
 */

/** Attempts per claim batch; the multiplier of a batch id in its receipt ids. */
export const RECEIPTS_PER_BATCH = 65536n;

/** The receipt id of attempt `idx` of claim batch `batchId` (a decimal string). */
export function encodeReceipt(batchId: string, idx: number): string {
  return (BigInt(batchId) * RECEIPTS_PER_BATCH + BigInt(idx)).toString();
}

/** The claim batch and index a receipt id was made from. */
export function decodeReceipt(receipt: string): { batchId: string; idx: number } {
  const r = BigInt(receipt);
  return { batchId: (r / RECEIPTS_PER_BATCH).toString(), idx: Number(r % RECEIPTS_PER_BATCH) };
}
