/**
 * Stored results: a handler's return value is stored with its completed job, typed by the job
 * definition, readable with getJob and getJobResult for exactly as long as the completed job is
 * retained (ring, then history, then gone), capped at MAX_RESULT_BYTES. Compile-time checks of
 * the result types are the `@ts-expect-error` lines (`deno check` runs on tests).
 */
import assert from "node:assert/strict";
import {
  Client,
  defineJob,
  getJobResult,
  insert,
  JobFailedError,
  JobNotFoundError,
  JobStateError,
  MAX_RESULT_BYTES,
  type ResultOf,
  ResultTooLargeError,
  ValidationError,
} from "../../mod.ts";
import { getJob, setRetention } from "../../admin.ts";
import { history } from "../../src/maintenance/history.ts";
import { storedResult } from "../../src/results/cap.ts";
import { testDatabase } from "../support/db.ts";
import { prepared, tickContext } from "../support/maintenance.ts";
import { POOL_TEST, sleep, TIMINGS, waitFor } from "../support/runtime.ts";
import { pruneRings } from "../admin/support.ts";

const t = await testDatabase("results_stored");
const sql = t.sql;

interface Invoice {
  total: number;
  lines: { sku: string; qty: number }[];
  issuedAt: string;
}
const invoice = defineJob<{ order: number }, Invoice>("results.invoice", { queue: "stored" });
const nothing = defineJob<{ x: number }>("results.nothing", { queue: "stored" });
const when = new Date("2026-01-02T03:04:05.000Z");

/** Compile-time checks only (never called): the handler returns the result type or an outcome. */
function _resultTypes(client: Client) {
  // @ts-expect-error a string is not an Invoice
  client.work(invoice, () => "not an invoice");
  client.work(invoice, (_job, ctx) => ctx.snooze(10));
  client.work(invoice, () => Promise.resolve({ total: 1, lines: [], issuedAt: "" }));
  // @ts-expect-error total must be a number
  client.work(invoice, () => ({ total: "1", lines: [], issuedAt: "" }));
  const total: ResultOf<typeof invoice>["total"] = 1;
  return total;
}

async function runAll(ids: number[]): Promise<void> {
  const client = new Client(t.connect(), {
    queues: { stored: {} },
    ...TIMINGS,
    maintenance: false,
  });
  client.work(invoice, (job) => ({
    total: job.args.order * 10,
    lines: [{ sku: `s${job.args.order}`, qty: 1 }],
    // A Date is stored as JSON, i.e. as its ISO text.
    issuedAt: when as unknown as string,
  }));
  client.work(nothing, () => undefined);
  await client.start();
  try {
    await waitFor("jobs completed", async () => {
      const rows = await sql<{ n: number }[]>`
        SELECT count(*)::int AS n FROM awa.jobs WHERE id = ANY(${ids}) AND state = 'completed'`;
      return rows[0].n === ids.length;
    });
  } finally {
    await client.shutdown();
  }
}

Deno.test(
  "a result is stored with its job, typed, and lives exactly as long as it",
  POOL_TEST,
  async () => {
    await setRetention(sql, { queue: "stored", completedMs: 1500 });
    const a = await insert(sql, invoice, { order: 3 });
    const b = await insert(sql, nothing, { x: 1 });
    await runAll([a.id, b.id]);

    const expected: Invoice = {
      total: 30,
      lines: [{ sku: "s3", qty: 1 }],
      issuedAt: "2026-01-02T03:04:05.000Z",
    };
    const r: Invoice = await getJobResult(sql, invoice, a.id);
    assert.deepEqual(r, expected);
    assert.deepEqual((await getJob(sql, a.id)).result, expected);
    assert.equal(await getJobResult(sql, nothing, b.id), null, "no return value stores null");
    await assert.rejects(getJobResult(sql, nothing, a.id), ValidationError, "kind mismatch");

    // Out of the ring into history: the result goes with the job.
    await pruneRings(sql);
    const inHistory = await getJob(sql, a.id);
    assert.equal(inHistory.plane, "history");
    assert.deepEqual(inHistory.result, expected);
    assert.deepEqual(await getJobResult(sql, invoice, a.id), expected);

    // Once the completed job's retention passes, job and result are gone together.
    await sleep(1600);
    const upkeep = prepared(history, {}, tickContext(sql));
    await upkeep.tick();
    await assert.rejects(getJob(sql, a.id), JobNotFoundError);
    await assert.rejects(getJobResult(sql, invoice, a.id), JobNotFoundError);
  },
);

Deno.test(
  "getJobResult of an unfinished or failed job says why there is no result",
  POOL_TEST,
  async () => {
    const queued = await insert(sql, invoice, { order: 1 }, { queue: "elsewhere" });
    const err = await getJobResult(sql, invoice, queued.id).catch((e) => e);
    assert.ok(err instanceof JobStateError);
    assert.equal(err.state, "available");
    await sql`SELECT awa.cancel_job(${queued.id}, 'changed my mind')`;
    const cancelled = await getJobResult(sql, invoice, queued.id).catch((e) => e);
    assert.ok(cancelled instanceof JobFailedError);
    assert.equal(cancelled.code, "JOB_WAS_CANCELLED");
    assert.match(cancelled.message, /changed my mind/);
    await assert.rejects(getJobResult(sql, invoice, 0), ValidationError);
    await assert.rejects(getJobResult(sql, {} as never, 1), ValidationError);
  },
);

Deno.test("the cap: JSON of at most MAX_RESULT_BYTES UTF-8 bytes is stored, more is a terminal error", () => {
  assert.equal(storedResult(undefined), null);
  assert.deepEqual(storedResult({ d: when, u: undefined }), { d: when.toISOString() });
  const fits = "x".repeat(MAX_RESULT_BYTES - 2);
  assert.equal(storedResult(fits), fits);
  // Multi-byte characters count in UTF-8 bytes: 3 bytes each here.
  const wide = "€".repeat(Math.floor(MAX_RESULT_BYTES / 3));
  const err = (() => {
    try {
      storedResult(wide);
    } catch (e) {
      return e;
    }
  })();
  assert.ok(err instanceof ResultTooLargeError);
  assert.equal(err.code, "TERMINAL", "a terminal error: the job fails at once");
  assert.equal(err.bytes, wide.length * 3 + 2);
  assert.equal(err.limitBytes, MAX_RESULT_BYTES);
  assert.throws(() => storedResult({ n: 1n }), TypeError, "a BigInt cannot be stored");
});

Deno.test({ name: "close database", ...POOL_TEST, fn: () => t.close() });
