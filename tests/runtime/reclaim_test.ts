/**
 * Reclamation while a queue is unserved (issue 9 item 17): 1,000 jobs wait in a queue no
 * client serves while a large flow of jobs runs through another queue. The oldest queue-ring
 * slot then always holds some of the parked jobs; prune carries them forward into the current
 * slot so the slot can be truncated. Storage stays bounded relative to what the healthy ring
 * held before the jobs were parked, the ring keeps rotating and pruning, and once the queue is
 * served every parked job runs exactly once.
 *
 * RECLAIM_FLOW sets the least number of flow jobs (default 50,000: the 100,000 took
 * too long on the shared 2-core box, where maintenance prunes are often blocked by claims).
 */
import assert from "node:assert/strict";
import { Client, defineJob, insertMany, migrate, UniqueConflictError } from "../../mod.ts";
import { q } from "../support/sql.ts";
import { type Sql, testDatabase } from "../support/db.ts";
import {
  POOL_TEST,
  RING_TABLE_PATTERN,
  sleep,
  terminalTotal,
  waitFor,
  withTimings,
} from "../support/runtime.ts";

const t = await testDatabase("runtime_reclaim");
const sql = t.sql;
const flowJob = defineJob<{ n: number }>("flow_job", { queue: "flow" });
const parkedJob = defineJob<{ n: number }>("parked_job", { queue: "parked" });

const FLOW = Number(Deno.env.get("RECLAIM_FLOW") ?? 50_000);
/** Flow jobs run before any job is parked: what a healthy ring holds under this load. */
const HEALTHY = Math.round(FLOW / 5);
const PARKED = 1000;
const BATCH = 2000;
/** The producer waits while more than this many flow jobs are inserted but not completed. */
const BACKLOG = 6000;
const ROTATE_MS = 50;

interface RingSize {
  /** pg_total_relation_size summed over every ring leaf (tables, indexes, TOAST). */
  bytes: number;
  ready: number;
  done: number;
  emissions: number;
  batches: number;
}

async function ringSize(db: Sql): Promise<RingSize> {
  const [r] = await db<RingSize[]>`
    SELECT (SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'awa' AND c.relkind = 'r' AND c.relname ~ ${RING_TABLE_PATTERN}
      )::float8 AS bytes,
      (SELECT count(*) FROM awa.ready_entries)::int AS ready,
      (SELECT count(*) FROM awa.done_entries)::int AS done,
      (SELECT count(*) FROM awa.claim_emissions)::int AS emissions,
      (SELECT count(*) FROM awa.claim_batches)::int AS batches`;
  return r;
}

function show(s: RingSize): string {
  return `${(s.bytes / 1024 / 1024).toFixed(2)} MiB, ready_entries ${s.ready}, ` +
    `done_entries ${s.done}, claim_emissions ${s.emissions}, claim_batches ${s.batches}`;
}

/** The quantile `q` (0–1) of each measure over a phase's samples; `q = 1` is the peak. */
function quantile(samples: RingSize[], q: number): RingSize {
  const at = (k: keyof RingSize) => {
    const v = samples.map((s) => s[k]).sort((a, b) => a - b);
    return v.length ? v[Math.min(v.length - 1, Math.floor(v.length * q))] : 0;
  };
  return {
    bytes: at("bytes"),
    ready: at("ready"),
    done: at("done"),
    emissions: at("emissions"),
    batches: at("batches"),
  };
}

const ZERO: RingSize = { bytes: 0, ready: 0, done: 0, emissions: 0, batches: 0 };

async function generation(): Promise<number> {
  const [{ g }] = await sql<{ g: number }[]>`
    SELECT max(generation)::int AS g FROM awa.ring_rotations WHERE ring = 'queue'`;
  return g;
}

Deno.test({
  name: "an unserved queue with 1,000 jobs does not stop reclamation while another queue flows",
  ...POOL_TEST,
  async fn() {
    const pool = t.connect();
    const producerPool = t.connect({ max: 2 });
    const timings = withTimings({ maintenance: { rings: { intervalMs: ROTATE_MS } } });
    const client = new Client(pool, {
      queues: {
        flow: {
          // More workers or prefetch here mean more claims holding the ring's partitions, and
          // prunes that are blocked more often: the ring then turns too slowly for a quick test.
          maxWorkers: 50,
          pollIntervalMs: 20,
        },
      },
      ...timings,
    });
    const flowRuns = new Map<number, number>();
    const parkedRuns = new Map<number, number>();
    const errors: { where: string; error: unknown }[] = [];
    client.work(flowJob, () => null);
    client.on("completed", ({ job }) => {
      flowRuns.set(job.id, (flowRuns.get(job.id) ?? 0) + 1);
    });
    client.on("error", (e) => void errors.push(e));
    let parkedClient: Client | null = null;
    let sampling = true;
    let phase: "healthy" | "parked" = "healthy";
    const samples: Record<"healthy" | "parked", RingSize[]> = { healthy: [], parked: [] };
    let last = ZERO;
    let stopped = false;
    let inserted = 0;
    const started = performance.now();

    const sampler = (async () => {
      const s = t.connect({ max: 1 });
      while (sampling) {
        last = await ringSize(s);
        samples[phase].push(last);
        await sleep(100);
      }
      await s.end({ timeout: 1 });
    })();

    /**
     * Insert flow jobs in batches, keeping at most BACKLOG of them waiting, until at least
     * `min` were sent and `done()` holds, or `max` were sent; then wait for them to complete.
     */
    async function flow(min: number, max: number, done: () => Promise<boolean>): Promise<void> {
      for (let sent = 0; sent < max && (sent < min || !(await done()));) {
        while (inserted - flowRuns.size > BACKLOG) await sleep(5);
        const base = inserted;
        await insertMany(
          producerPool,
          flowJob,
          Array.from({ length: BATCH }, (_, i) => ({ args: { n: base + i } })),
        );
        inserted += BATCH;
        sent += BATCH;
      }
      await waitFor(
        `all ${inserted} flow jobs completed`,
        () => flowRuns.size >= inserted,
        60_000,
        20,
      );
    }
    const wrapped = (from: number, slots: number) => async () =>
      (await generation()) >= from + slots;

    try {
      await client.start();
      // The healthy phase lasts more than one full wrap, so its peak is a full ring's worth.
      const gen0 = await generation();
      await flow(HEALTHY, 10 * HEALTHY, wrapped(gen0, 20));
      const before = await ringSize(sql);
      console.log(`healthy ring, ${inserted} jobs: peak ${show(quantile(samples.healthy, 1))}`);
      console.log(`before parking: ${show(before)}`);

      const parked = await insertMany(
        producerPool,
        parkedJob,
        Array.from({ length: PARKED }, (_, i) => ({ args: { n: i } })),
      );
      const parkedIds = parked.ids.map((id) => id!);
      const genParked = await generation();
      phase = "parked";
      const prunesBefore = { ...client.stats().maintenance!.prunes };
      // At least FLOW - HEALTHY jobs, and on until the ring has wrapped three times since the
      // jobs were parked (or twice that many jobs went through, when it does not).
      const startB = inserted;
      await flow(FLOW - HEALTHY, 2 * (FLOW - HEALTHY), wrapped(genParked, 48));
      const during = last;
      const genFlowed = await generation();
      const prunesDuring = client.stats().maintenance!.prunes;
      console.log(
        `with ${PARKED} parked jobs, ${inserted - startB} more flow jobs: peak ` +
          `${show(quantile(samples.parked, 1))}, p90 ${show(quantile(samples.parked, 0.9))}; ` +
          `last sample ${show(during)}; queue generation ${genParked} -> ${genFlowed}; ` +
          `prunes ${JSON.stringify(prunesDuring)}`,
      );

      // Storage stays bounded, the parked jobs adding their own rows, not the whole flow's. The
      // bound is checked once the flow has stopped and maintenance has caught up, against the
      // healthy peak (a full ring's worth): while the flow runs, one prune on the shared 2-core
      // box can wait seconds behind claims and the tables grow until it gets through, which is
      // load, not a leak. A ring that stopped turning never comes back under the bound (and
      // fails the slot count below as well).
      const h = quantile(samples.healthy, 1);
      const parkedBytes = 1024 * 1024; // 1,000 small rows and their index entries, generously
      const settled = await waitFor(
        "the ring tables back within a healthy ring's worth plus the parked jobs",
        async () => {
          const s = await ringSize(sql);
          const within = s.ready <= h.ready + PARKED && s.done <= h.done &&
            s.bytes <= h.bytes + parkedBytes;
          return within ? s : null;
        },
        30_000,
        200,
      );
      console.log(`settled with parked jobs: ${show(settled)}`);
      // The ring kept rotating and pruning while the jobs were parked (each wrap is 16 slots).
      assert.ok(
        genFlowed - genParked >= 3 * 16,
        `queue ring moved only ${genFlowed - genParked} slots while jobs were parked`,
      );
      const delta = (k: string) => (prunesDuring[k] ?? 0) - (prunesBefore[k] ?? 0);
      assert.ok(delta("carried") >= 2, `carried ${delta("carried")} times`);
      assert.ok(delta("pruned") >= 16, `pruned ${delta("pruned")} times`);

      // Serve the parked queue: every parked job runs exactly once.
      parkedClient = new Client(t.connect(), {
        queues: { parked: { maxWorkers: 50, pollIntervalMs: 20 } },
        ...timings,
        maintenance: false,
      });
      parkedClient.work(parkedJob, ({ id }) => {
        parkedRuns.set(id, (parkedRuns.get(id) ?? 0) + 1);
      });
      parkedClient.on("error", (e) => void errors.push(e));
      await parkedClient.start();
      await waitFor(
        `all ${PARKED} parked jobs ran`,
        () => parkedIds.every((id) => parkedRuns.has(id)),
        30_000,
      );
      const served = await ringSize(sql);
      console.log(`parked jobs served: ${show(served)}`);
      // One more wrap under flow: every slot that ever held a parked row is pruned again, so a
      // parked row left behind or copied twice would run a second time here.
      await flow(BATCH, 10 * HEALTHY, wrapped(await generation(), 17));
      sampling = false;
      await sampler;
      await parkedClient.shutdown({ timeoutMs: 2000 });
      parkedClient = null;
      const stats = client.stats();
      await client.shutdown({ timeoutMs: 2000 });
      stopped = true;
      const after = await ringSize(sql);
      const secs = (performance.now() - started) / 1000;
      console.log(
        `after one more wrap: ${show(after)} (${inserted} flow jobs, ${secs.toFixed(1)} s total)`,
      );
      console.log("maintenance", stats.maintenance);

      assert.deepEqual(errors, []);
      for (const id of parkedIds) assert.equal(parkedRuns.get(id), 1, `parked job ${id}`);
      assert.equal(parkedRuns.size, PARKED);
      assert.equal(flowRuns.size, inserted);
      for (const [id, n] of flowRuns) assert.equal(n, 1, `flow job ${id}`);
      assert.equal(await terminalTotal(sql, "parked", "completed"), PARKED);
      assert.equal(await terminalTotal(sql, "flow", "completed"), inserted);
      const [{ open }] = await sql<{ open: number }[]>`
        SELECT count(*)::int AS open FROM awa.jobs WHERE state <> 'completed'`;
      assert.equal(open, 0);
    } finally {
      sampling = false;
      await sampler;
      if (parkedClient) await parkedClient.shutdown({ timeoutMs: 1000 });
      if (!stopped) await client.shutdown({ timeoutMs: 1000 });
    }
  },
});

interface Claimed {
  claim_slot: number;
  batch_id: string;
  idx: number;
  job: number;
  run_lease: number;
}

/** Lane, position and body of each live ready row of a queue (what carrying must keep). */
async function liveRows(db: Sql, s: string, queue: string) {
  return await db.unsafe(
    q(
      s,
      `SELECT r.ready_slot::int AS slot, r.priority::int, r.enqueue_shard::int AS shard,
        r.lane_seq::text, r.job_id::int AS job, r.kind, r.args, r.attempt, r.run_lease::int,
        r.max_attempts, r.run_at, r.created_at, r.tags, r.metadata, r.errors, r.progress,
        encode(r.unique_key, 'hex') AS unique_key, r.unique_states::text
      FROM awa.ready_entries r
      WHERE r.queue = $1 AND r.lane_seq >= awa.lane_cursor(r.queue, r.priority, r.enqueue_shard)
        AND NOT EXISTS (
          SELECT 1 FROM awa.ready_tombstones t
          WHERE t.ready_slot = r.ready_slot AND t.queue = r.queue AND t.priority = r.priority
            AND t.enqueue_shard = r.enqueue_shard AND t.lane_seq = r.lane_seq)
      ORDER BY r.priority, r.enqueue_shard, r.lane_seq`,
    ),
    [queue],
  );
}

Deno.test({
  name: "carry-forward keeps lane order, priority, run_at, unique claims and cursor semantics",
  ...POOL_TEST,
  async fn() {
    const s = "awa_carry";
    await migrate(sql, { schema: s });
    const one = async (text: string, params: unknown[] = []) =>
      (await sql.unsafe(q(s, text), params as never[]))[0];
    const rotate = async () => (await one(`SELECT awa.rotate_ring('queue') AS r`)).r as string;
    const prune = async (limit = 5000) =>
      (await one(`SELECT awa.prune_ring('queue', '1s', $1) AS r`, [limit])).r as string;
    const claim = async (queue: string, max: number) =>
      (await sql.unsafe(
        q(
          s,
          `SELECT claim_slot::int, batch_id::text, idx, job_id::int AS job, run_lease::int
          FROM awa.claim_batch($1, $2, 0, 0, $3::uuid)`,
        ),
        [queue, max, crypto.randomUUID()],
      )) as unknown as Claimed[];
    const claimAll = async (queue: string, max: number) => {
      const got: Claimed[] = [];
      for (let c = await claim(queue, max); c.length > 0; c = await claim(queue, max)) {
        got.push(...c);
      }
      return got;
    };
    const complete = async (got: Claimed[]) => {
      const items = got.map((g) => ({ ...g, job_id: g.job, outcome: "completed" }));
      await sql.unsafe(q(s, `SELECT count(*) FROM awa.finalize_attempts($1::text::jsonb)`), [
        JSON.stringify(items),
      ]);
    };
    const strip = (rows: Record<string, unknown>[]) => rows.map(({ slot: _s, ...r }) => r);

    // A paused queue with several lanes (priorities, ordering-key shards), unique jobs and a
    // cancelled job; and a served one-lane queue that has run part of its rows.
    await sql.unsafe(q(s, `INSERT INTO awa.queue_meta (queue, paused) VALUES ('held', true)`));
    await sql.unsafe(
      q(s, `INSERT INTO awa.queue_meta (queue, enqueue_shards) VALUES ('mixed', 1)`),
    );
    const held = defineJob<{ n: number }>("held_job", { queue: "held" });
    const mixed = defineJob<{ n: number }>("mixed_job", { queue: "mixed" });
    const heldJob = (n: number) => ({
      args: { n },
      priority: 1 + (n % 3),
      orderingKey: `key-${n % 4}`,
      ...(n % 5 === 0 ? { unique: { byArgs: true } } : {}),
      tags: [`t${n}`],
      metadata: { n },
    });
    const heldIds = (await insertMany(
      sql,
      held,
      Array.from({ length: 12 }, (_, n) => heldJob(n)),
      { schema: s },
    )).ids.map(Number);
    const mixedIds = (await insertMany(
      sql,
      mixed,
      Array.from({ length: 4 }, (_, n) => ({ args: { n } })),
      { schema: s },
    )).ids.map(Number);
    const ranFirst = await claim("mixed", 2);
    assert.deepEqual(ranFirst.map((c) => c.job), mixedIds.slice(0, 2));
    await complete(ranFirst);
    assert.equal((await one(`SELECT awa.cancel_job($1) AS r`, [heldIds[3]])).r, "cancelled");

    // Newer rows of the same lanes in the next slot: after the carry they sit in an older slot
    // than the carried rows, with higher positions.
    assert.equal(await rotate(), "rotated");
    heldIds.push(
      ...(await insertMany(sql, held, [heldJob(12), heldJob(13)], { schema: s })).ids.map(Number),
    );
    const before = [
      ...await liveRows(sql, s, "held"),
      ...await liveRows(sql, s, "mixed"),
    ];
    assert.equal(before.length, 11 + 2 + 2);
    for (let i = 0; i < 14; i++) assert.equal(await rotate(), "rotated");
    const [{ slot: cur }] = await sql.unsafe(
      q(s, `SELECT slot::int FROM awa.ring_cursor('queue')`),
    );
    assert.equal(cur, 15);

    // Slot 0 holds 13 live rows: over a limit of 5 nothing moves and the ring waits.
    assert.equal(await prune(5), "skipped_carry_limit");
    assert.equal(await rotate(), "skipped_busy");
    assert.deepEqual(
      [...await liveRows(sql, s, "held"), ...await liveRows(sql, s, "mixed")],
      before,
    );

    assert.equal(await prune(), "carried");
    const after = [...await liveRows(sql, s, "held"), ...await liveRows(sql, s, "mixed")];
    // Same lanes, positions, bodies, priorities, run_at, unique keys: only the slot moved.
    assert.deepEqual(strip(after), strip(before));
    for (let i = 0; i < after.length; i++) {
      assert.equal(after[i].slot, before[i].slot === 0 ? 15 : before[i].slot);
    }
    assert.equal((await one(`SELECT awa.ring_slot_empty('queue', 0::smallint) AS e`)).e, true);
    assert.equal(await rotate(), "rotated");

    // Unique claims still hold; a carried job can still be cancelled.
    await assert.rejects(
      () => insertMany(sql, held, [heldJob(0)], { schema: s }),
      UniqueConflictError,
    );
    assert.equal((await one(`SELECT awa.cancel_job($1) AS r`, [heldIds[7]])).r, "cancelled");

    // The served queue: the rows it ran went with slot 0 (its cursor dropped to 0 with their
    // emission), the carried ones run next, once.
    const mixedRest = await claimAll("mixed", 10);
    assert.deepEqual(mixedRest.map((c) => c.job), mixedIds.slice(2));

    // Resume the paused queue: every live job once, each lane in position order (the carried
    // rows of a lane before its newer rows in the older slot).
    await sql.unsafe(q(s, `UPDATE awa.queue_meta SET paused = false WHERE queue = 'held'`));
    const heldRun = await claimAll("held", 3);
    const expected = after.filter((r) => heldIds.includes(r.job as number) && r.job !== heldIds[7]);
    assert.deepEqual(heldRun.map((c) => c.job).sort(), expected.map((r) => r.job).sort());
    const laneOf = (job: number) => {
      const r = expected.find((x) => x.job === job)!;
      return `${r.priority}/${r.shard}`;
    };
    for (const lane of new Set(expected.map((r) => `${r.priority}/${r.shard}`))) {
      assert.deepEqual(
        heldRun.filter((c) => laneOf(c.job) === lane).map((c) => c.job),
        expected.filter((r) => `${r.priority}/${r.shard}` === lane).map((r) => r.job),
        `lane ${lane}`,
      );
    }
    await complete([...mixedRest, ...heldRun]);

    // A full wrap of rotate + prune afterwards: nothing comes back.
    const outcomes: string[] = [];
    for (let i = 0; i < 17; i++) {
      outcomes.push(await prune());
      await rotate();
      assert.equal((await claim("held", 100)).length, 0);
      assert.equal((await claim("mixed", 100)).length, 0);
    }
    assert.ok(!outcomes.includes("carried"), outcomes.join(","));
    const [{ n }] = await sql.unsafe(q(s, `SELECT count(*)::int AS n FROM awa.ready_entries`));
    assert.equal(n, 0);
  },
});

Deno.test({ name: "close database", ...POOL_TEST, fn: () => t.close() });
