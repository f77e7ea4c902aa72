/**
 * Partitioned queues: naming, validation, Algorithm P routing against the reference vectors,
 * per-job routing of one insertMany across partitions, a Client serving every partition, and
 * per-key insert order within a partition.
 */
import assert from "node:assert/strict";
import {
  Client,
  defineJob,
  insertMany,
  PartitionedQueue,
  partitionForOrderingKey,
  ValidationError,
} from "../../mod.ts";
import { testDatabase } from "../support/db.ts";
import { POOL_TEST, TIMINGS, waitFor } from "../support/runtime.ts";

Deno.test("names: partition 0 is the logical name, then name__p1 …; explicit lists kept", () => {
  const pq = new PartitionedQueue("email", 4);
  assert.deepEqual(pq.names, ["email", "email__p1", "email__p2", "email__p3"]);
  assert.equal(pq.count, 4);
  assert.deepEqual(new PartitionedQueue("solo", 1).names, ["solo"]);
  const listed = new PartitionedQueue("mail", ["mail_east", "mail_west"]);
  assert.deepEqual(listed.names, ["mail_east", "mail_west"]);
  assert.equal(pq.queueForIndex(0), "email");
  assert.equal(pq.queueForIndex(6), "email__p2", "index mod n");
  assert.throws(() => (pq.names as string[]).push("x"), TypeError);
});

Deno.test("validation: typed errors naming the field", () => {
  const bad = (f: () => unknown, field: string) =>
    assert.throws(f, (e) => e instanceof ValidationError && e.field === field);
  bad(() => new PartitionedQueue("", 2), "name");
  bad(() => new PartitionedQueue("q", 0), "partitions");
  bad(() => new PartitionedQueue("q", 1.5), "partitions");
  bad(() => new PartitionedQueue("q", 32768), "partitions");
  bad(() => new PartitionedQueue("q", "4" as never), "partitions");
  bad(() => new PartitionedQueue("q", []), "partitions");
  bad(() => new PartitionedQueue("q", ["a", ""]), "partitions[1]");
  bad(() => new PartitionedQueue("q", ["a", "b", "a"]), "partitions[2]");
  // A name that leaves no room for the partition suffix within the 59-byte queue limit.
  bad(() => new PartitionedQueue("x".repeat(56), 2), "partitions[1]");
  const pq = new PartitionedQueue("q", 3);
  bad(() => pq.queueForIndex(-1), "index");
  bad(() => pq.queueForIndex(0.5), "index");
  bad(() => pq.queueForKey(42 as never), "key");
  bad(() => pq.queues(null as never), "config");
});

Deno.test("routing follows Algorithm P: the reference vectors, and both queue and key set", () => {
  // partition_hash64 mod 4 and mod 3 of the reference keys.
  const vectors: [string, number, number][] = [["", 2, 1], ["customer-42", 3, 0], [
    "order:7f3a",
    1,
    1,
  ]];
  const four = new PartitionedQueue("customer-updates", 4);
  const three = new PartitionedQueue("q", 3);
  for (const [key, p4, p3] of vectors) {
    assert.equal(four.partitionForKey(key), p4, key);
    assert.equal(three.partitionForKey(key), p3, key);
    assert.equal(four.partitionForKey(new TextEncoder().encode(key)), p4, "bytes route as text");
  }
  assert.equal(four.queueForKey("customer-42"), "customer-updates__p3");
  assert.deepEqual(four.route("customer-42"), {
    queue: "customer-updates__p3",
    orderingKey: "customer-42",
  });
  // Routing is the shared function, so producers in other languages agree.
  for (let i = 0; i < 50; i++) {
    assert.equal(four.partitionForKey(`k${i}`), partitionForOrderingKey(`k${i}`, 4));
  }
  assert.equal(new PartitionedQueue("one", 1).queueForKey("anything"), "one");
});

const t = await testDatabase("flow_partitioned");
const sql = t.sql;

Deno.test({
  name: "one insertMany routes across partitions; a Client works them all, per-key in order",
  ...POOL_TEST,
  async fn() {
    const pq = new PartitionedQueue("pt_orders", 4);
    const job = defineJob<{ key: string; seq: number }>("pt_order", { queue: pq.name });
    const keys = Array.from({ length: 12 }, (_, i) => `tenant-${i}`);
    // Interleaved: the jobs of each key are spread across the whole batch.
    const rows = [];
    for (let seq = 0; seq < 10; seq++) {
      for (const key of keys) rows.push({ args: { key, seq }, ...pq.route(key) });
    }
    const { count } = await insertMany(sql, job, rows);
    assert.equal(count, rows.length);
    const placed = await sql<{ queue: string; key: string; n: number }[]>`
      SELECT queue, args->>'key' AS key, count(*)::int AS n FROM awa.jobs
      WHERE kind = 'pt_order' GROUP BY 1, 2 ORDER BY 2`;
    assert.equal(placed.length, keys.length, "every key's jobs sit in one queue");
    for (const p of placed) {
      assert.equal(p.queue, pq.queueForKey(p.key));
      assert.equal(p.n, 10);
    }
    assert.ok(new Set(placed.map((p) => p.queue)).size >= 3, "keys spread over partitions");

    const order = new Map<string, number[]>();
    const client = new Client(t.connect(), {
      // One worker per partition: jobs of a key run one after another in claim order.
      queues: { ...pq.queues({ maxWorkers: 1, claimBatchSize: 3 }) },
      ...TIMINGS,
    });
    const seenQueues = new Set<string>();
    client.work(job, (j) => {
      seenQueues.add(j.queue);
      assert.equal(j.queue, pq.queueForKey(j.args.key));
      order.set(j.args.key, [...(order.get(j.args.key) ?? []), j.args.seq]);
    });
    try {
      await client.start();
      await waitFor("every job ran", () => [...order.values()].flat().length === rows.length);
    } finally {
      await client.shutdown({ timeoutMs: 5000 });
    }
    assert.deepEqual([...seenQueues].sort(), [...new Set(placed.map((p) => p.queue))].sort());
    for (const key of keys) {
      assert.deepEqual(order.get(key), [...Array(10).keys()], `${key} ran in insert order`);
    }
  },
});

Deno.test({ name: "close database", ...POOL_TEST, fn: () => t.close() });
