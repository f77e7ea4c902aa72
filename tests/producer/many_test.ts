/**
 * `insertMany()`: per-job options, all-or-nothing validation, unique conflicts in batches,
 * caller transactions, and one COPY round trip per batch.
 */
import assert from "node:assert/strict";
import {
  defineJob,
  insert,
  insertMany,
  type ManyJob,
  orderingKeyHash64,
  UniqueConflictError,
  uniqueKeyHex,
  ValidationError,
} from "../../mod.ts";
import { testDatabase } from "../support/db.ts";
import { deferred, POOL_TEST, writtenRows } from "../support/producer.ts";

const t = await testDatabase("producer_many");
const sql = t.sql;
const job = defineJob<{ n: number }>("many_job", { queue: "many" });

interface JobRow {
  id: string;
  queue: string;
  priority: number;
  state: string;
  max_attempts: number;
  tags: string[];
  metadata: Record<string, unknown>;
  unique_key: string | null;
  n: number;
}

async function rowsByIds(ids: (number | null)[]): Promise<Map<number, JobRow>> {
  const live = ids.filter((x): x is number => x !== null);
  const rows = await sql<JobRow[]>`
    SELECT id::text, queue, priority, state::text, max_attempts, tags, metadata,
      encode(unique_key, 'hex') AS unique_key, (args->>'n')::int AS n
    FROM awa.jobs WHERE id = ANY(${live})`;
  return new Map(rows.map((r) => [Number(r.id), r]));
}

Deno.test({
  name: "insertMany with mixed per-job options lands every job as asked",
  ...POOL_TEST,
  async fn() {
    const later = new Date(Date.now() + 3_600_000);
    const jobs: ManyJob<{ n: number }>[] = [
      { args: { n: 0 } },
      { args: { n: 1 }, queue: "other", priority: 1 },
      { args: { n: 2 }, runAt: later, tags: ["t1"] },
      { args: { n: 3 }, orderingKey: "customer-42" },
      { args: { n: 4 }, orderingKey: "order:7f3a", metadata: { src: "batch" } },
      { args: { n: 5 }, unique: { byQueue: true } },
      { args: { n: 6 }, maxAttempts: 3, priority: 4 },
      { args: { n: 7 } },
    ];
    const res = await insertMany(sql, job, jobs, { tags: ["batch"], priority: 3 });
    assert.equal(res.count, 8);
    assert.equal(res.ids.length, 8);
    assert.ok(res.ids.every((id) => typeof id === "number"));
    assert.equal(new Set(res.ids).size, 8);
    const rows = await rowsByIds(res.ids);
    const r = (i: number) => rows.get(res.ids[i]!)!;
    for (let i = 0; i < 8; i++) assert.equal(r(i).n, i, "ids are in input order");
    assert.deepEqual([r(0).queue, r(0).priority, r(0).state, r(0).tags], [
      "many",
      3,
      "available",
      ["batch"],
    ]);
    assert.deepEqual([r(1).queue, r(1).priority], ["other", 1]);
    assert.deepEqual([r(2).state, r(2).tags], ["scheduled", ["t1"]]);
    assert.deepEqual(r(4).metadata, { src: "batch" });
    assert.equal(
      r(5).unique_key,
      uniqueKeyHex({ kind: "many_job", queue: "many", args: { n: 5 } }),
    );
    assert.equal(r(0).unique_key, null);
    assert.deepEqual([r(6).max_attempts, r(6).priority], [3, 4]);
    const [deferred] = await sql`SELECT run_at FROM awa.deferred_jobs WHERE job_id = ${res
      .ids[2]!}`;
    assert.equal(deferred.run_at.getTime(), later.getTime());
    const shards = await sql<{ id: string; enqueue_shard: number }[]>`
      SELECT job_id::text AS id, enqueue_shard FROM awa.ready_entries
      WHERE job_id = ANY(${[res.ids[3]!, res.ids[4]!]})`;
    const shardOf = new Map(shards.map((s) => [Number(s.id), s.enqueue_shard]));
    assert.equal(shardOf.get(res.ids[3]!), Number(orderingKeyHash64("customer-42") % 4n));
    assert.equal(shardOf.get(res.ids[4]!), Number(orderingKeyHash64("order:7f3a") % 4n));
    const [claim] = await sql`
      SELECT job_id::text FROM awa.job_unique_claims WHERE job_id = ${res.ids[5]!}`;
    assert.equal(Number(claim.job_id), res.ids[5]);
    // Within one lane the batch keeps input order (FIFO by lane position).
    const lane = await sql<{ n: number }[]>`
      SELECT (args->>'n')::int AS n FROM awa.ready_entries
      WHERE job_id = ANY(${res.ids as number[]}) AND queue = 'many' AND priority = 3
      ORDER BY enqueue_shard, lane_seq`;
    const byShardOrder = lane.map((x) => x.n);
    const unkeyed = byShardOrder.filter((n) => n === 0 || n === 5 || n === 7);
    assert.deepEqual(unkeyed, [0, 5, 7]);
  },
});

Deno.test({
  name: "a batch with one invalid job writes nothing and names jobs[i]",
  ...POOL_TEST,
  async fn() {
    let queries = 0;
    const counted = t.connect({ max: 1, debug: () => queries++ });
    const before = await writtenRows(sql);
    const cases: [ManyJob<{ n: number }>[], string][] = [
      [
        [{ args: { n: 1 } }, { args: { n: 2 } }, { args: { n: 3 }, priority: 9 }],
        "jobs[2].priority",
      ],
      [[{ args: { n: 1 } }, { args: { n: 1.5 }, unique: {} }], "jobs[1].args.n"],
      [[{ args: { n: 1 }, queue: "bad queue" }], "jobs[0].queue"],
      [[{ args: { n: 1 }, metadata: { "awa:x": 1 } }], "jobs[0].metadata.awa:x"],
      [[{ args: { n: 1 }, runAt: new Date(NaN) }], "jobs[0].runAt"],
      [[{ args: { n: 1 } }, { args: undefined as unknown as { n: number } }], "jobs[1].args"],
      [[{ args: { n: 1 } }, null as unknown as ManyJob<{ n: number }>], "jobs[1]"],
      [[{ args: { n: 1 }, bogus: 1 } as unknown as ManyJob<{ n: number }>], "jobs[0].bogus"],
    ];
    for (const [jobs, field] of cases) {
      await assert.rejects(
        insertMany(counted, job, jobs),
        (e) => e instanceof ValidationError && e.code === "VALIDATION" && e.field === field,
        field,
      );
    }
    await assert.rejects(insertMany(counted, job, {} as never), ValidationError);
    assert.equal(queries, 0, "validation sent no statement");
    assert.deepEqual(await writtenRows(sql), before);
    assert.deepEqual(await insertMany(counted, job, []), { count: 0, ids: [] });
    await counted.end();
  },
});

Deno.test({
  name: "unique conflicts in a batch: error writes nothing, skip drops only the duplicates",
  ...POOL_TEST,
  async fn() {
    const existing = await insert(sql, job, { n: 100 }, { unique: {} });
    assert.ok(existing);
    const batch: ManyJob<{ n: number }>[] = [
      { args: { n: 101 }, unique: {} },
      { args: { n: 100 }, unique: {} },
      { args: { n: 102 } },
    ];
    const before = await writtenRows(sql);
    await assert.rejects(
      insertMany(sql, job, batch),
      (e) =>
        e instanceof UniqueConflictError && e.code === "UNIQUE_CONFLICT" &&
        e.constraint === "idx_awa_jobs_unique",
    );
    assert.deepEqual(await writtenRows(sql), before, "nothing written on conflict");

    const res = await insertMany(sql, job, batch, { onConflict: "skip" });
    assert.equal(res.count, 2);
    assert.equal(res.ids[1], null);
    assert.ok(res.ids[0] !== null && res.ids[2] !== null);
    const rows = await rowsByIds(res.ids);
    assert.deepEqual([...rows.values()].map((r) => r.n).sort(), [101, 102]);
    // The key of n=100 still belongs to the original job.
    const [claim] = await sql`
      SELECT job_id::text FROM awa.job_unique_claims
      WHERE unique_key = decode(${uniqueKeyHex({ kind: "many_job", args: { n: 100 } })}, 'hex')`;
    assert.equal(Number(claim.job_id), existing.id);
  },
});

Deno.test({
  name: "duplicates inside one batch: error raises, skip keeps the first",
  ...POOL_TEST,
  async fn() {
    const batch: ManyJob<{ n: number }>[] = [
      { args: { n: 200 }, unique: {} },
      { args: { n: 201 } },
      { args: { n: 200 }, unique: {} },
    ];
    const before = await writtenRows(sql);
    await assert.rejects(insertMany(sql, job, batch), UniqueConflictError);
    assert.deepEqual(await writtenRows(sql), before);
    const res = await insertMany(sql, job, batch, { onConflict: "skip" });
    assert.equal(res.count, 2);
    assert.ok(res.ids[0] !== null);
    assert.equal(res.ids[2], null);
    const [{ n }] = await sql`SELECT count(*)::int AS n FROM awa.jobs WHERE args->>'n' = '200'`;
    assert.equal(n, 1, "exactly one job holds key n=200");
  },
});

Deno.test({
  name: "rollback of the caller's transaction leaves nothing",
  ...POOL_TEST,
  async fn() {
    const before = await writtenRows(sql);
    let ids: (number | null)[] = [];
    await assert.rejects(
      sql.begin(async (tx) => {
        const res = await insertMany(tx, job, [
          { args: { n: 300 }, unique: {} },
          { args: { n: 301 }, runAt: new Date(Date.now() + 60_000) },
          { args: { n: 302 }, orderingKey: "k" },
        ]);
        ids = res.ids;
        const [{ n }] =
          await tx`SELECT count(*)::int AS n FROM awa.jobs WHERE id = ANY(${ids as number[]})`;
        assert.equal(n, 3, "visible inside the transaction");
        throw new Error("caller rolls back");
      }),
      /caller rolls back/,
    );
    assert.equal(ids.length, 3);
    assert.deepEqual(await writtenRows(sql), before);
    // The key is free again.
    const again = await insertMany(sql, job, [{ args: { n: 300 }, unique: {} }]);
    assert.equal(again.count, 1);
  },
});

Deno.test({
  name: "100k jobs insert in ceil(100000 / batchSize) COPY round trips",
  ...POOL_TEST,
  async fn() {
    const statements: string[] = [];
    const counted = t.connect({
      max: 1,
      debug: (_conn: number, query: string) => statements.push(query),
    });
    const total = 100_000;
    const jobs = Array.from({ length: total }, (_, i) => ({ args: { n: i } }));
    for (const batchSize of [30_000, 20_000]) {
      statements.length = 0;
      const started = performance.now();
      const res = await insertMany(counted, job, jobs, { queue: `bulk_${batchSize}`, batchSize });
      const seconds = (performance.now() - started) / 1000;
      assert.equal(res.count, total);
      const copies = statements.filter((s) => /^\s*COPY\b/i.test(s));
      const reserves = statements.filter((s) => s.includes("reserve_bulk_enqueue"));
      const expected = Math.ceil(total / batchSize);
      assert.equal(copies.length, expected, `COPY statements at batchSize ${batchSize}`);
      assert.equal(reserves.length, expected, "one reservation per batch");
      assert.ok(copies.every((c) => /ready_entries/.test(c)));
      const [{ n }] = await sql<{ n: number }[]>`
        SELECT count(*)::int AS n FROM awa.ready_entries WHERE queue = ${`bulk_${batchSize}`}`;
      assert.equal(n, total);
      console.log(
        `insertMany ${total} jobs, batchSize ${batchSize}: ${copies.length} COPY, ` +
          `${statements.length} statements, ${Math.round(total / seconds)} rows/s`,
      );
    }
    await counted.end();
  },
});

Deno.test({
  name: "insertMany notifies each queue with immediate jobs, once, and only at commit",
  ...POOL_TEST,
  async fn() {
    const listener = t.connect({ max: 1 });
    const seen: string[] = [];
    const marker = deferred();
    const done = deferred();
    for (const ch of ["awa:nm_a", "awa:nm_b", "awa:nm_later"]) {
      await listener.listen(ch, () => void seen.push(ch));
    }
    await listener.listen("test_marker", () => marker.resolve());
    await listener.listen("test_done", () => done.resolve());
    const inTx = deferred();
    const commit = deferred();
    const tx = sql.begin(async (tx) => {
      await insertMany(tx, job, [
        { args: { n: 1 }, queue: "nm_a" },
        { args: { n: 2 }, queue: "nm_a" },
        { args: { n: 3 }, queue: "nm_b" },
        { args: { n: 4 }, queue: "nm_later", runAt: new Date(Date.now() + 60_000) },
      ]);
      inTx.resolve();
      await commit.promise;
    });
    await inTx.promise;
    await t.sql`SELECT pg_notify('test_marker', '')`;
    await marker.promise;
    assert.deepEqual(seen, [], "nothing is announced before commit");
    commit.resolve();
    await tx;
    await assert.rejects(sql.begin(async (tx) => {
      await insertMany(tx, job, [{ args: { n: 5 }, queue: "nm_a" }]);
      throw new Error("abort");
    }));
    await t.sql`SELECT pg_notify('test_done', '')`;
    await done.promise;
    assert.deepEqual(
      [...seen].sort(),
      ["awa:nm_a", "awa:nm_b"],
      "one notification per queue with immediate jobs; none for scheduled or rolled-back rows",
    );
    await listener.end();
  },
});

Deno.test({
  name: "close insertMany database",
  ...POOL_TEST,
  async fn() {
    await t.close();
  },
});
