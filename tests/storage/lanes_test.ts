/**
 * Lane choice and lane waits on the real engine. Unkeyed inserts open lanes from shard 0 up, so
 * serial producers on many pooled connections keep one lane (each registered lane costs every
 * claim two probes). A claim that finds nothing but a lane another claimer holds waits a moment
 * on that lane's lock instead of returning empty; it never blocks behind a long holder.
 */
import assert from "node:assert/strict";
import { defineJob, insert } from "../../mod.ts";
import { testDatabase } from "../support/db.ts";
import { POOL_TEST, sleep } from "../support/runtime.ts";

const t = await testDatabase("storage_lanes");
const sql = t.sql;
const INSTANCE = "00000000-0000-4000-8000-00000000cafe";

async function lanesOf(queue: string): Promise<number[]> {
  const rows = await sql<{ shard: number }[]>`
    SELECT enqueue_shard::int AS shard FROM awa.lanes WHERE queue = ${queue} ORDER BY 1`;
  return rows.map((r) => r.shard);
}

async function claim(db: typeof sql, queue: string, max: number): Promise<string[]> {
  const rows = await db<{ job_id: string }[]>`
    SELECT job_id::text FROM awa.claim_batch(${queue}, ${max}, 300, 0, ${INSTANCE}::uuid)`;
  return rows.map((r) => r.job_id);
}

/** Hold the claim lock of (queue, priority 2, shard 0) in an open transaction until `release`. */
function holdClaimLock(db: typeof sql, queue: string) {
  let release!: () => void;
  const released = new Promise<void>((r) => release = r);
  let held!: () => void;
  const isHeld = new Promise<void>((r) => held = r);
  const done = db.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(awa.lane_key(${queue}, 2::smallint, 0::smallint, 2))`;
    held();
    await released;
  });
  return { isHeld, release, done };
}

Deno.test({
  name: "lanes: serial inserts over many connections register one lane",
  ...POOL_TEST,
  async fn() {
    const job = defineJob<{ n: number }>("lanes_serial", { queue: "lanes_serial" });
    const pools = Array.from({ length: 4 }, () => t.connect({ max: 1 }));
    try {
      const pids = new Set<number>();
      for (const p of pools) {
        pids.add((await p<{ pid: number }[]>`SELECT pg_backend_pid() AS pid`)[0].pid);
      }
      assert.equal(pids.size, 4, "four backends");
      // Round-robin over the four backends; when the first shard tried came from the backend
      // pid, serial inserts like these opened up to four lanes.
      for (let n = 0; n < 24; n++) await insert(pools[n % 4], job, { n });
      assert.deepEqual(await lanesOf("lanes_serial"), [0]);
      assert.equal((await claim(sql, "lanes_serial", 30)).length, 24);
    } finally {
      for (const p of pools) await p.end({ timeout: 1 });
    }
  },
});

Deno.test({
  name: "lanes: an insert while another transaction holds shard 0 opens shard 1",
  ...POOL_TEST,
  async fn() {
    const job = defineJob<{ n: number }>("lanes_overlap", { queue: "lanes_overlap" });
    let release!: () => void;
    const released = new Promise<void>((r) => release = r);
    let inserted!: () => void;
    const first = new Promise<void>((r) => inserted = r);
    const open = sql.begin(async (tx) => {
      await insert(tx, job, { n: 0 });
      inserted();
      await released;
    });
    await first;
    await insert(sql, job, { n: 1 });
    release();
    await open;
    assert.deepEqual(await lanesOf("lanes_overlap"), [0, 1]);
    assert.equal((await claim(sql, "lanes_overlap", 10)).length, 2);
  },
});

Deno.test({
  name: "lanes: a claim behind a long-held lane returns empty without blocking, then claims all",
  ...POOL_TEST,
  async fn() {
    const queue = "lanes_long_hold";
    const job = defineJob<{ n: number }>(queue, { queue });
    for (let n = 0; n < 5; n++) await insert(sql, job, { n });
    const holder = holdClaimLock(t.connect({ max: 1 }), queue);
    await holder.isHeld;
    try {
      // The wait is bounded (20 ms): with the lane held throughout, the claim comes back empty
      // and claims nothing, rather than hanging on the lock.
      assert.deepEqual(await claim(sql, queue, 10), []);
      const [{ emissions }] = await sql<{ emissions: number }[]>`
        SELECT count(*)::int AS emissions FROM awa.claim_emissions WHERE queue = ${queue}`;
      assert.equal(emissions, 0);
    } finally {
      holder.release();
      await holder.done;
    }
    const ids = await claim(sql, queue, 10);
    assert.equal(ids.length, 5);
    assert.equal(new Set(ids).size, 5);
  },
});

Deno.test({
  name: "lanes: a claim waiting on a lane another claimer holds gets its rows once it commits",
  ...POOL_TEST,
  async fn() {
    const queue = "lanes_wait";
    const job = defineJob<{ n: number }>(queue, { queue });
    const holderPool = t.connect({ max: 1 });
    const claimerPool = t.connect({ max: 1 });
    const [{ pid }] = await claimerPool<{ pid: number }[]>`SELECT pg_backend_pid() AS pid`;
    const claimed = new Set<string>();
    let inserted = 0;
    let waitedAndGot = 0;
    try {
      // The holder commits as soon as the claimer is seen queued on the lock. The wait lasts at
      // most 20 ms, which a loaded machine can miss, so try a few times; every try must stay
      // exact (no row claimed twice, none lost).
      for (let attempt = 0; attempt < 20 && waitedAndGot === 0; attempt++) {
        for (let n = 0; n < 3; n++) await insert(sql, job, { n: inserted++ });
        const holder = holdClaimLock(holderPool, queue);
        await holder.isHeld;
        const pending = claim(claimerPool, queue, 10);
        let sawWait = false;
        for (let i = 0; i < 200 && !sawWait; i++) {
          const [{ waiting }] = await sql<{ waiting: boolean }[]>`
            SELECT coalesce(bool_or(wait_event = 'advisory'), false) AS waiting
            FROM pg_stat_activity WHERE pid = ${pid}`;
          sawWait = waiting;
          if (!sawWait) await sleep(0);
        }
        holder.release();
        await holder.done;
        const ids = await pending;
        for (const id of ids) {
          assert.ok(!claimed.has(id), `job ${id} claimed twice`);
          claimed.add(id);
        }
        if (sawWait && ids.length > 0) waitedAndGot++;
        // Whatever the try got, the rest is still there for the next claim.
        for (const id of await claim(sql, queue, 10)) {
          assert.ok(!claimed.has(id), `job ${id} claimed twice`);
          claimed.add(id);
        }
        assert.equal(claimed.size, inserted);
      }
      assert.ok(waitedAndGot > 0, "no claim was seen waiting on the held lane and then claiming");
    } finally {
      await holderPool.end({ timeout: 1 });
      await claimerPool.end({ timeout: 1 });
    }
  },
});

Deno.test({ name: "lanes: close database", ...POOL_TEST, fn: () => t.close() });
