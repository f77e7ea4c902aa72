/**
 * A client that owns its pool leaves nothing behind: Deno's op and resource sanitizers stay on
 * here, so a timer, socket or listener still alive after `shutdown()` fails the test.
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { Client, defineJob, insertMany, withNoDelay } from "../../mod.ts";
import { testDatabase } from "../support/db.ts";
import { POOL_TEST, TIMINGS } from "../support/runtime.ts";

const t = await testDatabase("runtime_lifecycle");

const job = defineJob<{ n: number }>("life_job", { queue: "life" });

async function runOnce(maintenance: boolean): Promise<void> {
  const producer = postgres(t.url, withNoDelay({ max: 2, onnotice: () => {} }));
  const client = new Client(t.url, {
    queues: { life: { maxWorkers: 4 } },
    heartbeat: TIMINGS.heartbeat,
    maintenance: maintenance ? TIMINGS.maintenance! : false,
  });
  const done = new Set<number>();
  let resolveAll!: () => void;
  const all = new Promise<void>((r) => resolveAll = r);
  client.work(job, () => null);
  client.on("completed", ({ job }) => {
    done.add(job.id);
    if (done.size === 20) resolveAll();
  });
  try {
    await client.start();
    const ids = await insertMany(
      producer,
      job,
      Array.from({ length: 20 }, (_, n) => ({ args: { n } })),
    );
    assert.equal(ids.count, 20);
    await all;
  } finally {
    await client.shutdown({ timeoutMs: 5000 });
    await producer.end({ timeout: 1 });
  }
  assert.equal(done.size, 20);
}

Deno.test("a client with maintenance leaves no timer, socket or listener after shutdown", () =>
  runOnce(true));

Deno.test("a client without maintenance leaves nothing behind either", () => runOnce(false));

Deno.test({ name: "close runtime_lifecycle database", ...POOL_TEST, fn: () => t.close() });
