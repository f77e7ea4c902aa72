/**
 * The start recorder on the real engine: a held attempt's start resolves only once its row is
 * committed, starts that arrive while writes are in flight share the next write, and no more
 * than MAX_START_WRITES writes are ever in flight at once.
 */
import assert from "node:assert/strict";
import { defineJob, insert } from "../../mod.ts";
import { toExecutor } from "../../src/db/executor.ts";
import { MAX_START_WRITES, StartRecorder } from "../../src/runtime/starts.ts";
import { encodeReceipt } from "../../src/storage/receipts.ts";
import { type Store, storeOf } from "../../src/storage/store.ts";
import { testDatabase } from "../support/db.ts";
import { POOL_TEST } from "../support/runtime.ts";

const t = await testDatabase("runtime_starts");
const sql = t.sql;

/** A store whose start writes wait for `open()`; records each write's size and the overlap. */
function gatedStore(inner: Store) {
  let release!: () => void;
  const gate = new Promise<void>((r) => release = r);
  const stats = { writes: [] as number[], inFlight: 0, maxInFlight: 0 };
  const store: Store = {
    ...inner,
    run: async <T>(op: string, text: string, params?: unknown[]) => {
      if (op !== "recordStarts") return await inner.run<T>(op, text, params);
      stats.writes.push((JSON.parse(params![1] as string) as unknown[]).length);
      stats.inFlight++;
      stats.maxInFlight = Math.max(stats.maxInFlight, stats.inFlight);
      try {
        await gate;
        return await inner.run<T>(op, text, params);
      } finally {
        stats.inFlight--;
      }
    },
  };
  return { store, stats, open: () => release() };
}

const tick = () => new Promise((r) => setTimeout(r, 0));

/** Claim `count` jobs of a fresh queue with no free worker: every row comes back held. */
async function claimHeld(queue: string, count: number, instance: string) {
  const job = defineJob<{ n: number }>(queue, { queue });
  for (let n = 0; n < count; n++) await insert(sql, job, { n });
  const rows = await sql<{ claim_slot: number; batch_id: string; idx: number; held: boolean }[]>`
    SELECT claim_slot, batch_id::text, idx, held
    FROM awa.claim_batch(${queue}, ${count}, 300, 60, ${instance}::uuid, 0)`;
  assert.equal(rows.length, count);
  assert.ok(rows.every((r) => r.held), "claimed with no free worker: every row is held");
  return rows;
}

/** How many of `rows` have a committed start row of `instance`. */
async function startedCount(
  instance: string,
  rows: { claim_slot: number; batch_id: string; idx: number }[],
) {
  let n = 0;
  for (const r of rows) {
    const [{ hit }] = await sql<{ hit: boolean }[]>`
      SELECT EXISTS (
        SELECT 1 FROM awa.attempt_heartbeats h
        WHERE h.claim_slot = ${r.claim_slot} AND h.instance_id = ${instance}::uuid AND h.started
          AND h.receipt_ranges @> ${encodeReceipt(r.batch_id, r.idx)}::bigint
      ) AS hit`;
    if (hit) n++;
  }
  return n;
}

Deno.test({
  name: "starts: the starts of one tick share one write, resolved only after it commits",
  ...POOL_TEST,
  async fn() {
    const instance = crypto.randomUUID();
    const rows = await claimHeld("starts_tick", 5, instance);
    const { store, stats, open } = gatedStore(storeOf(toExecutor(sql), "awa"));
    const recorder = new StartRecorder(store, instance);
    let resolved = 0;
    const all = Promise.all(
      rows.map((r) =>
        recorder.record(r.claim_slot, encodeReceipt(r.batch_id, r.idx)).then(() => resolved++)
      ),
    );
    await tick();
    assert.deepEqual(stats.writes, [5]);
    assert.equal(resolved, 0, "nothing resolves before its write commits");
    assert.equal(await startedCount(instance, rows), 0);
    open();
    await all;
    assert.equal(await startedCount(instance, rows), 5);
  },
});

Deno.test({
  name: "starts: writes overlap up to MAX_START_WRITES; starts beyond wait and share one write",
  ...POOL_TEST,
  async fn() {
    const instance = crypto.randomUUID();
    const extra = 3;
    const rows = await claimHeld("starts_overlap", MAX_START_WRITES + extra, instance);
    const { store, stats, open } = gatedStore(storeOf(toExecutor(sql), "awa"));
    const recorder = new StartRecorder(store, instance);
    const pending: Promise<void>[] = [];
    // One start per macrotask, while no write can finish.
    for (const r of rows) {
      pending.push(recorder.record(r.claim_slot, encodeReceipt(r.batch_id, r.idx)));
      await tick();
    }
    assert.deepEqual(stats.writes, Array(MAX_START_WRITES).fill(1), "one write per start");
    assert.equal(stats.maxInFlight, MAX_START_WRITES);
    open();
    await Promise.all(pending);
    assert.deepEqual(stats.writes, [...Array(MAX_START_WRITES).fill(1), extra]);
    assert.equal(stats.maxInFlight, MAX_START_WRITES, "never more in flight than the bound");
    assert.equal(await startedCount(instance, rows), rows.length);
  },
});

Deno.test({
  name: "starts: a failed write rejects exactly its own starts",
  ...POOL_TEST,
  async fn() {
    const instance = crypto.randomUUID();
    const rows = await claimHeld("starts_fail", 2, instance);
    const inner = storeOf(toExecutor(sql), "awa");
    let calls = 0;
    const store: Store = {
      ...inner,
      run: <T>(op: string, text: string, params?: unknown[]) => {
        // The first start write names a claim slot that does not exist: the insert fails.
        if (op === "recordStarts" && calls++ === 0) {
          return inner.run<T>(op, text, [
            params![0],
            JSON.stringify([{ claim_slot: 99, receipt: "1" }]),
          ]);
        }
        return inner.run<T>(op, text, params);
      },
    };
    const recorder = new StartRecorder(store, instance);
    const first = recorder.record(rows[0].claim_slot, encodeReceipt(rows[0].batch_id, rows[0].idx));
    await tick();
    const second = recorder.record(
      rows[1].claim_slot,
      encodeReceipt(rows[1].batch_id, rows[1].idx),
    );
    await assert.rejects(first);
    await second;
    assert.equal(await startedCount(instance, [rows[0]]), 0);
    assert.equal(await startedCount(instance, [rows[1]]), 1);
  },
});

Deno.test({ name: "close database", ...POOL_TEST, fn: () => t.close() });
