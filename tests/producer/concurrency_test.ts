/**
 * Open producer transactions must not block other producers (issue #2).
 *
 * Each test holds a producer transaction open on a deferred promise that the test resolves only
 * after it has seen what the other producer did. "Blocked" is decided by `pg_locks` (an ungranted
 * lock of the other backend), never by elapsed time.
 */
import assert from "node:assert/strict";
import { defineJob, insert, insertMany, orderingKeyHash64 } from "../../mod.ts";
import { testDatabase } from "../support/db.ts";
import {
  backendPid,
  deferred,
  jobCount,
  lastLockWait,
  lockWaitObserved,
  POOL_TEST,
} from "../support/producer.ts";

const t = await testDatabase("producer_concurrency");
const job = defineJob<{ n: number }>("concurrency_probe");

/** Open a transaction on `sql` that inserts via `enqueue` and stays open until `release`. */
function holdOpen<T>(
  sql: ReturnType<typeof t.connect>,
  enqueue: (tx: ReturnType<typeof t.connect>) => Promise<T>,
) {
  const enqueued = deferred<T>();
  const release = deferred<void>();
  const done = sql.begin(async (tx) => {
    const out = await enqueue(tx as unknown as ReturnType<typeof t.connect>);
    enqueued.resolve(out);
    await release.promise;
  });
  done.catch((err) => enqueued.reject(err));
  return { enqueued: enqueued.promise, release: () => release.resolve(), done };
}

/**
 * Race `op` (run on a single-connection pool whose backend is `pid`) against the observer seeing
 * that backend wait for a lock.
 */
async function commitsOrWaits<T>(
  observer: ReturnType<typeof t.connect>,
  pid: number,
  op: Promise<T>,
  blockedBy: number[],
): Promise<{ outcome: "committed"; value: T } | { outcome: "waiting" }> {
  const settled = op.then(() => undefined, () => undefined);
  const result = await Promise.race([
    op.then((value) => ({ outcome: "committed" as const, value })),
    lockWaitObserved(observer, pid, settled, blockedBy).then((r) =>
      r === "waiting" ? { outcome: "waiting" as const } : new Promise<never>(() => {})
    ),
  ]);
  return result;
}

const observer = t.connect({ max: 1 });

Deno.test({
  name: "unkeyed insert commits while another producer's transaction on the queue is open",
  ...POOL_TEST,
  async fn() {
    const a = t.connect({ max: 1 });
    const b = t.connect({ max: 1 });
    const pidA = await backendPid(a);
    const pidB = await backendPid(b);
    const holder = holdOpen(a, (tx) => insert(tx, job, { n: 1 }, { queue: "shared" }));
    const jobA = await holder.enqueued;
    assert.equal(jobA.state, "available");

    const r = await commitsOrWaits(observer, pidB, insert(b, job, { n: 2 }, { queue: "shared" }), [
      pidA,
    ]);
    if (r.outcome !== "committed") {
      holder.release();
      await holder.done;
      assert.fail(
        `second producer waited for the first producer's open transaction: ${lastLockWait}`,
      );
    }
    // B is committed and visible to a third session; A is still open and invisible.
    assert.equal(await jobCount(observer, "queue = 'shared' AND (args->>'n')::int = 2"), 1);
    assert.equal(await jobCount(observer, "queue = 'shared' AND (args->>'n')::int = 1"), 0);
    assert.notEqual(r.value.enqueueShard, jobA.enqueueShard, "B appended to a different shard");

    holder.release();
    await holder.done;
    assert.equal(await jobCount(observer, "queue = 'shared'"), 2);
    await a.end();
    await b.end();
  },
});

Deno.test({
  name: "unkeyed insertMany commits while another producer's transaction is open",
  ...POOL_TEST,
  async fn() {
    const a = t.connect({ max: 1 });
    const b = t.connect({ max: 1 });
    const pidA = await backendPid(a);
    const pidB = await backendPid(b);
    const holder = holdOpen(a, (tx) => insert(tx, job, { n: 1 }, { queue: "bulk" }));
    await holder.enqueued;
    const r = await commitsOrWaits(
      observer,
      pidB,
      insertMany(b, job, [{ args: { n: 2 } }, { args: { n: 3 } }, { args: { n: 4 } }], {
        queue: "bulk",
      }),
      [pidA],
    );
    if (r.outcome !== "committed") {
      holder.release();
      await holder.done;
      assert.fail("insertMany waited for another producer's open transaction");
    }
    assert.equal(r.value.count, 3);
    assert.equal(await jobCount(observer, "queue = 'bulk'"), 3);
    holder.release();
    await holder.done;
    assert.equal(await jobCount(observer, "queue = 'bulk'"), 4);
    await a.end();
    await b.end();
  },
});

Deno.test({
  name: "with 3 of 4 shards held open a 4th producer commits; with all 4 held the 5th waits",
  ...POOL_TEST,
  async fn() {
    const holders = [];
    const pools = [];
    const holderPids: number[] = [];
    for (let i = 0; i < 3; i++) {
      const p = t.connect({ max: 1 });
      pools.push(p);
      holderPids.push(await backendPid(p));
      const h = holdOpen(p, (tx) => insert(tx, job, { n: i }, { queue: "wide" }));
      await h.enqueued;
      holders.push(h);
    }
    const fourth = t.connect({ max: 1 });
    pools.push(fourth);
    const pid4 = await backendPid(fourth);
    const h4 = holdOpen(fourth, (tx) => insert(tx, job, { n: 3 }, { queue: "wide" }));
    holders.push(h4);
    const r4 = await commitsOrWaits(observer, pid4, h4.enqueued, holderPids);
    if (r4.outcome !== "committed") {
      for (const h of holders) h.release();
      await Promise.all(holders.map((h) => h.done));
      assert.fail("the fourth producer waited although a shard was free");
    }
    const j4 = r4.value;
    const shards = new Set<number | null>();
    for (const h of holders) shards.add((await h.enqueued).enqueueShard);
    assert.equal(shards.size, 4, "four open producers occupy the four shards");
    assert.ok(j4.enqueueShard !== null);

    // Every shard of the lane is held by an open transaction: now a producer must wait.
    const fifth = t.connect({ max: 1 });
    pools.push(fifth);
    const pid5 = await backendPid(fifth);
    const op = insert(fifth, job, { n: 4 }, { queue: "wide" });
    const r = await commitsOrWaits(observer, pid5, op, [...holderPids, pid4]);
    assert.equal(r.outcome, "waiting", "all shards held: the fifth producer waits");
    // It waits for one shard (its starting shard), not for whichever frees up first, so it
    // proceeds once the open transactions end.
    for (const h of holders) h.release();
    await Promise.all(holders.map((h) => h.done));
    const j5 = await op;
    assert.equal(j5.queue, "wide");
    assert.equal(await jobCount(observer, "queue = 'wide'"), 5);
    for (const p of pools) await p.end();
  },
});

Deno.test({
  name: "keyed inserts with the same ordering key wait for the open transaction (per-key FIFO)",
  ...POOL_TEST,
  async fn() {
    const a = t.connect({ max: 1 });
    const b = t.connect({ max: 1 });
    const c = t.connect({ max: 1 });
    const pidA = await backendPid(a);
    const pidB = await backendPid(b);
    const pidC = await backendPid(c);
    const holder = holdOpen(
      a,
      (tx) => insert(tx, job, { n: 1 }, { queue: "keyed", orderingKey: "customer-42" }),
    );
    const jobA = await holder.enqueued;
    const expectedShard = Number(orderingKeyHash64("customer-42") % 4n);
    assert.equal(expectedShard, 0);
    assert.equal(jobA.enqueueShard, expectedShard);

    // A different key on a different shard does not wait.
    assert.equal(Number(orderingKeyHash64("order:7f3a") % 4n), 2);
    const other = await commitsOrWaits(
      observer,
      pidC,
      insert(c, job, { n: 9 }, { queue: "keyed", orderingKey: "order:7f3a" }),
      [pidA],
    );
    assert.equal(other.outcome, "committed", "a key on another shard is not blocked");

    let settled = false;
    const op = insert(b, job, { n: 2 }, { queue: "keyed", orderingKey: "customer-42" });
    op.then(() => settled = true, () => settled = true);
    const r = await commitsOrWaits(observer, pidB, op, [pidA]);
    if (r.outcome !== "waiting") {
      holder.release();
      await holder.done;
      assert.fail("a keyed insert with the same key did not wait for the open transaction");
    }
    assert.equal(settled, false);
    holder.release();
    await holder.done;
    const jobB = await op;
    assert.equal(jobB.enqueueShard, expectedShard);
    const rows = await observer<{ id: string; lane_seq: string }[]>`
      SELECT job_id::text AS id, lane_seq::text FROM awa.ready_entries
      WHERE queue = 'keyed' AND enqueue_shard = ${expectedShard} ORDER BY lane_seq`;
    assert.deepEqual(rows.map((x) => Number(x.id)), [jobA.id, jobB.id], "FIFO within the key");
    await a.end();
    await b.end();
    await c.end();
  },
});

Deno.test({
  name: "close concurrency database",
  ...POOL_TEST,
  async fn() {
    await t.close();
  },
});
