/**
 * CEL expressions of callbacks. First the rules of `decide` as cases (filter false or failing,
 * onFail before onComplete, transforms and their failures, int against double, BigInt results,
 * no expressions), then the same rules through `resolveCallback` on parked jobs, and invalid
 * expressions refused at registration with nothing written.
 */
import assert from "node:assert/strict";
import {
  CallbackNotFoundError,
  Client,
  defineJob,
  insert,
  resolveCallback,
  ValidationError,
} from "../../mod.ts";
import { celToJson, compileExpression, decide } from "../../src/callbacks/cel.ts";
import { testDatabase } from "../support/db.ts";
import { jobState, POOL_TEST, TIMINGS, waitFor } from "../support/runtime.ts";

type Exprs = Parameters<typeof decide>[0];
const none: Exprs = { filter: null, onComplete: null, onFail: null, transform: null };
const ex = (e: Partial<Exprs>): Exprs => ({ ...none, ...e });

const CASES: { name: string; exprs: Exprs; payload: unknown; want: ReturnType<typeof decide> }[] = [
  {
    name: "no expressions: the default applies",
    exprs: none,
    payload: { a: 1 },
    want: { action: "default" },
  },
  {
    name: "filter false ignores",
    exprs: ex({ filter: "payload.status == 'done'" }),
    payload: { status: "pending" },
    want: { action: "ignore" },
  },
  {
    name: "filter true passes on to the default",
    exprs: ex({ filter: "payload.status == 'done'" }),
    payload: { status: "done" },
    want: { action: "default" },
  },
  {
    name: "a filter that errors (missing key) passes",
    exprs: ex({ filter: "payload.missing == 'x'" }),
    payload: {},
    want: { action: "default" },
  },
  {
    name: "a filter with a non-boolean result counts as an error and passes",
    exprs: ex({ filter: "payload.status" }),
    payload: { status: "x" },
    want: { action: "default" },
  },
  {
    name: "onFail true fails",
    exprs: ex({ onFail: "payload.status == 'error'" }),
    payload: { status: "error" },
    want: { action: "fail", error: "on_fail expression matched" },
  },
  {
    name: "onFail and onComplete both true: onFail wins",
    exprs: ex({ onFail: "true", onComplete: "true" }),
    payload: null,
    want: { action: "fail", error: "on_fail expression matched" },
  },
  {
    name: "an onFail that errors counts as false",
    exprs: ex({ onFail: "payload.nope == 1", onComplete: "true" }),
    payload: {},
    want: { action: "complete", payload: {} },
  },
  {
    name: "onComplete true without transform completes with the payload",
    exprs: ex({ onComplete: "payload.ok" }),
    payload: { ok: true },
    want: { action: "complete", payload: { ok: true } },
  },
  {
    name: "onComplete with transform completes with the transformed value",
    exprs: ex({ onComplete: "payload.ok", transform: "{'id': payload.ref, 'n': 1 + 2}" }),
    payload: { ok: true, ref: "r-9" },
    want: { action: "complete", payload: { id: "r-9", n: 3 } },
  },
  {
    name: "a transform that errors falls back to the original payload",
    exprs: ex({ onComplete: "true", transform: "payload.absent.deeper" }),
    payload: { x: 1 },
    want: { action: "complete", payload: { x: 1 } },
  },
  {
    name: "a transform whose result is not JSON (bytes) falls back to the payload",
    exprs: ex({ onComplete: "true", transform: "b'abc'" }),
    payload: { x: 2 },
    want: { action: "complete", payload: { x: 2 } },
  },
  {
    name: "an onComplete that errors counts as false",
    exprs: ex({ onComplete: "payload.missing" }),
    payload: {},
    want: { action: "default" },
  },
  {
    name: "int literal equals a JSON number (a double)",
    exprs: ex({ onComplete: "payload.amount == 100" }),
    payload: { amount: 100 },
    want: { action: "complete", payload: { amount: 100 } },
  },
  {
    name: "double literal equals a JSON integer too",
    exprs: ex({ onComplete: "payload.amount == 100.0 && payload.amount > 99" }),
    payload: { amount: 100 },
    want: { action: "complete", payload: { amount: 100 } },
  },
  {
    name: "a null payload is the null value",
    exprs: ex({ onComplete: "payload == null" }),
    payload: undefined,
    want: { action: "complete", payload: null },
  },
];

for (const c of CASES) {
  Deno.test(`CEL: ${c.name}`, () => {
    assert.deepEqual(decide(c.exprs, c.payload), c.want);
  });
}

Deno.test("CEL: integer results arrive as BigInt and are stored as numbers", () => {
  const out = compileExpression("[1, 2 + 3]", "t")({ payload: null });
  assert.equal(typeof (out as unknown[])[1], "bigint");
  assert.deepEqual(celToJson(out), [1, 5]);
  assert.throws(() => celToJson(2n ** 60n), /does not fit/);
});

Deno.test("CEL: any variable but payload, bad syntax and type errors are refused at compile", () => {
  for (const src of ["other == 1", "payload.a ==", "1 + 'a'", "", "  "]) {
    assert.throws(() => compileExpression(src, "filter"), ValidationError, src);
  }
  assert.throws(() => compileExpression(42, "filter"), ValidationError);
});

// --- through resolveCallback on parked jobs ---

const t = await testDatabase("callbacks_cel");
const sql = t.sql;
const celJob = defineJob<{ exprs: Record<string, string> }>("cel_job", { queue: "cel" });
const ids = new Map<number, string>();
const refused: unknown[] = [];
const client = new Client(t.connect(), { queues: { cel: {} }, ...TIMINGS });
client.work(celJob, async (job, ctx) => {
  try {
    const id = await ctx.registerCallback({ timeoutMs: 60_000, ...job.args.exprs });
    ids.set(job.id, id);
    return ctx.park(id);
  } catch (err) {
    refused.push(err);
    return ctx.cancel("registration refused");
  }
});

async function parkedWith(exprs: Record<string, string>): Promise<{ jobId: number; id: string }> {
  const j = await insert(sql, celJob, { exprs });
  const id = await waitFor("parked", async () => {
    const id = ids.get(j.id);
    if (!id) return null;
    return (await jobState(sql, j.id))?.state === "waiting_external" ? id : null;
  });
  return { jobId: j.id, id };
}

Deno.test({
  name: "start the client",
  ...POOL_TEST,
  fn: () => client.start(),
});

Deno.test({
  name: "resolveCallback: filter false ignores and the job keeps waiting; a match completes it",
  ...POOL_TEST,
  async fn() {
    const { jobId, id } = await parkedWith({
      filter: "payload.event == 'render.done'",
      onComplete: "payload.ok == true",
      transform: "{'url': payload.url}",
    });
    const ignored = await resolveCallback(sql, id, { event: "render.progress" }, "complete");
    assert.deepEqual(ignored, { jobId, state: "waiting_external", action: "ignore" });
    assert.equal((await jobState(sql, jobId))?.state, "waiting_external");
    const done = await resolveCallback(
      sql,
      id,
      { event: "render.done", ok: true, url: "https://x/1.png", extra: 1 },
      "ignore",
    );
    assert.deepEqual(done, { jobId, state: "completed", action: "complete" });
    const [{ result }] = await sql<{ result: unknown }[]>`
      SELECT result FROM awa.jobs WHERE id = ${jobId} AND state = 'completed'`;
    assert.deepEqual(result, { url: "https://x/1.png" });
    await assert.rejects(resolveCallback(sql, id, {}, "complete"), CallbackNotFoundError);
  },
});

Deno.test({
  name: "resolveCallback: onFail and onComplete both true fail the job",
  ...POOL_TEST,
  async fn() {
    const { jobId, id } = await parkedWith({ onFail: "true", onComplete: "true" });
    const r = await resolveCallback(sql, id, { any: 1 }, "complete");
    assert.deepEqual(r, { jobId, state: "failed", action: "fail" });
    const [{ errors }] = await sql<{ errors: { error: string }[] }[]>`
      SELECT errors FROM awa.jobs WHERE id = ${jobId}`;
    assert.equal(errors.at(-1)!.error, "on_fail expression matched");
  },
});

Deno.test({
  name: "resolveCallback: no expressions apply the default action; a bad default is refused",
  ...POOL_TEST,
  async fn() {
    const { jobId, id } = await parkedWith({});
    await assert.rejects(
      resolveCallback(sql, id, {}, "explode" as "complete"),
      (e: unknown) => e instanceof ValidationError && e.field === "defaultAction",
    );
    assert.deepEqual(await resolveCallback(sql, id, { v: 1 }, "ignore"), {
      jobId,
      state: "waiting_external",
      action: "ignore",
    });
    assert.deepEqual(await resolveCallback(sql, id, { v: 2 }, "complete"), {
      jobId,
      state: "completed",
      action: "complete",
    });
  },
});

Deno.test({
  name: "an invalid expression or another variable at registration: ValidationError, no callback",
  ...POOL_TEST,
  async fn() {
    const before = refused.length;
    const bad = await insert(sql, celJob, { exprs: { filter: "amount > 3" } });
    const syntax = await insert(sql, celJob, { exprs: { onComplete: "payload.ok ==" } });
    for (const j of [bad, syntax]) {
      await waitFor("cancelled", async () => (await jobState(sql, j.id))?.state === "cancelled");
    }
    const errs = refused.slice(before) as ValidationError[];
    assert.equal(errs.length, 2);
    assert.ok(errs.every((e) => e instanceof ValidationError));
    assert.deepEqual(errs.map((e) => e.field).sort(), [
      "registerCallback(opts).filter",
      "registerCallback(opts).onComplete",
    ]);
    assert.ok(!ids.has(bad.id) && !ids.has(syntax.id));
    const [{ n }] = await sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM awa.attempt_state
      WHERE job_id IN (${bad.id}, ${syntax.id})`;
    assert.equal(n, 0, "nothing was written");
  },
});

Deno.test({
  name: "stop the client",
  ...POOL_TEST,
  async fn() {
    await client.shutdown();
    await t.close();
  },
});
