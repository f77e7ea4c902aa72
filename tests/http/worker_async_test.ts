/**
 * The HTTP worker in async mode end to end, on real Postgres with real local servers: a
 * "function" (Deno.serve) that accepts jobs, and the signed receiver (Deno.serve) it calls
 * back. A 2xx parks the job without holding the worker slot; the signed callback completes or
 * fails it; bad signatures are 401 and change nothing; an id of an attempt that was retried is
 * 404 and leaves the new attempt alone.
 */
import assert from "node:assert/strict";
import { callbackReceiver, httpWorker, signCallbackId } from "../../http.ts";
import { Client, defineJob, insert, ValidationError } from "../../mod.ts";
import { testDatabase } from "../support/db.ts";
import { type Seen, serveFunction } from "../support/http.ts";
import { jobState, POOL_TEST, waitFor, withTimings } from "../support/runtime.ts";

const t = await testDatabase("http_worker_async");
const sql = t.sql;
const SECRET = "0123456789abcdef".repeat(4);

type Sent = { job_id: number; attempt: number; callback_id: string; callback_url: string };

const receiverServer = Deno.serve(
  { hostname: "127.0.0.1", port: 0, onListen() {} },
  callbackReceiver({ db: sql, secret: SECRET }),
);
const receiverUrl = `http://127.0.0.1:${receiverServer.addr.port}`;

/** What the eager function got back when it called back before answering. */
const eagerAnswers: { status: number; json: Record<string, unknown> }[] = [];
const fn = serveFunction(async (path, body, req) => {
  const { attempt } = body as { attempt: number };
  if (path === "/flaky" && attempt === 1) return new Response("cold start", { status: 503 });
  if (path === "/eager") {
    // Calls back before answering: the job is still running, not parked yet.
    const res = await fetch((body as Sent).callback_url, {
      method: "POST",
      headers: { "x-awa-signature": req.headers.get("x-awa-signature")! },
      body: JSON.stringify({ payload: "too soon" }),
    });
    eagerAnswers.push({ status: res.status, json: await res.json() });
  }
  return Response.json({ accepted: true }, { status: 202 });
});

const render = defineJob<{ scene: string }>("http_async_render", { queue: "http_async" });
const flaky = defineJob<unknown>("http_async_flaky", { queue: "http_async", maxAttempts: 3 });
const eager = defineJob<unknown>("http_async_eager", { queue: "http_async" });
const worker = (path: string) =>
  httpWorker({
    url: `${fn.url}${path}`,
    mode: "async",
    callbackBaseUrl: `${receiverUrl}/`,
    callbackTimeoutMs: 600_000,
    hmacSecret: SECRET,
    headers: { authorization: "Bearer fn-key" },
  });
// One worker slot: parked jobs must not hold it, or the second job would never be sent. The
// heartbeat staleness is generous: a cold first request on a loaded machine must not be
// rescued before it parks (these tests are about the HTTP path, not about rescue).
const client = new Client(t.connect(), {
  queues: { http_async: { maxWorkers: 1 } },
  ...withTimings({ heartbeat: { intervalMs: 200, stalenessMs: 10_000 } }),
});
client.work(render, worker("/accept"));
client.work(flaky, worker("/flaky"));
client.work(eager, worker("/eager"));
const rescued: number[] = [];
client.on("rescued", (e) => void rescued.push(e.jobId));
await client.start();

const requestsOf = (id: number): (Seen & { body: Sent })[] =>
  fn.seen.filter((s) => (s.body as Sent).job_id === id) as (Seen & { body: Sent })[];

/** POST to the receiver route `action` of `sent`'s callback, signed unless `sig` says otherwise. */
async function callBack(
  sent: Sent,
  action: "complete" | "fail" | "heartbeat",
  body: unknown,
  sig: string | null = signCallbackId(SECRET, sent.callback_id),
): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(sent.callback_url.replace(/\/complete$/, `/${action}`), {
    method: "POST",
    headers: sig === null ? {} : { "x-awa-signature": sig },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: await res.json() };
}

async function parked(id: number, attempt = 1): Promise<Sent> {
  await waitFor(`job ${id} parked`, async () => {
    const s = await jobState(sql, id);
    return s?.state === "waiting_external" && s.attempt === attempt;
  });
  const sent = requestsOf(id).find((r) => r.body.attempt === attempt);
  assert.ok(sent, `job ${id} attempt ${attempt} was sent`);
  return sent.body;
}

async function callbackTimeoutOf(id: number): Promise<Date | null> {
  const [r] = await sql<{ at: Date | null }[]>`
    SELECT callback_timeout_at AS at FROM awa.attempt_state WHERE job_id = ${id}`;
  return r?.at ?? null;
}

async function resultOf(id: number): Promise<unknown> {
  const [r] = await sql<{ result: unknown }[]>`
    SELECT result FROM awa.jobs WHERE id = ${id} ORDER BY run_lease DESC LIMIT 1`;
  return r!.result;
}

Deno.test({
  name: "2xx parks both jobs with one worker slot; signed callbacks complete and fail them",
  ...POOL_TEST,
  async fn() {
    const a = await insert(sql, render, { scene: "intro" });
    const b = await insert(sql, render, { scene: "outro" });
    const sentA = await parked(a.id);
    const sentB = await parked(b.id);

    const [req] = requestsOf(a.id);
    assert.match(
      sentA.callback_id,
      /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
    );
    assert.deepEqual(req!.body, {
      job_id: a.id,
      kind: "http_async_render",
      args: { scene: "intro" },
      attempt: 1,
      max_attempts: 25,
      callback_id: sentA.callback_id,
      callback_url: `${receiverUrl}/api/callbacks/${sentA.callback_id}/complete`,
    });
    assert.equal(req!.headers.get("x-awa-signature"), signCallbackId(SECRET, sentA.callback_id));
    assert.equal(req!.headers.get("authorization"), "Bearer fn-key");
    assert.equal(req!.headers.get("content-type"), "application/json");

    const done = await callBack(sentA, "complete", { payload: { frames: 240 } });
    assert.deepEqual(done, { status: 200, json: { id: a.id, state: "completed" } });
    assert.equal((await jobState(sql, a.id))!.state, "completed");
    assert.deepEqual(await resultOf(a.id), { frames: 240 });

    const failed = await callBack(sentB, "fail", { error: "render farm on fire" });
    assert.deepEqual(failed, { status: 200, json: { id: b.id, state: "failed" } });
    const [{ errors }] = await sql<{ errors: { error: string }[] }[]>`
      SELECT errors FROM awa.jobs WHERE id = ${b.id} ORDER BY run_lease DESC LIMIT 1`;
    assert.match(JSON.stringify(errors), /render farm on fire/);
  },
});

Deno.test({
  name:
    "missing, malformed or tampered signatures are 401 and change nothing; double completion is 404",
  ...POOL_TEST,
  async fn() {
    const { id } = await insert(sql, render, { scene: "guarded" });
    const sent = await parked(id);
    const good = signCallbackId(SECRET, sent.callback_id);
    const tampered = good.slice(0, -1) + (good.endsWith("a") ? "b" : "a");
    const timeoutBefore = await callbackTimeoutOf(id);
    assert.ok(timeoutBefore !== null);
    const bodies = { complete: {}, fail: { error: "x" }, heartbeat: { timeout_seconds: 1 } };
    for (const sig of [null, "not-hex", good.slice(0, 32), tampered]) {
      for (const action of ["complete", "fail", "heartbeat"] as const) {
        const r = await callBack(sent, action, bodies[action], sig);
        assert.equal(r.status, 401, `${action} with ${sig}`);
      }
    }
    assert.equal((await jobState(sql, id))!.state, "waiting_external");
    assert.deepEqual(await callbackTimeoutOf(id), timeoutBefore);

    const beat = await callBack(sent, "heartbeat", { timeout_seconds: 120 });
    assert.deepEqual(beat, { status: 200, json: { id, state: "waiting_external" } });
    const timeoutAfter = await callbackTimeoutOf(id);
    assert.ok(timeoutAfter !== null && timeoutAfter.getTime() < timeoutBefore.getTime());
    const done = await callBack(sent, "complete", {});
    assert.deepEqual(done, { status: 200, json: { id, state: "completed" } });
    assert.equal(await resultOf(id), null);
    const again = await callBack(sent, "complete", { payload: 2 });
    assert.equal(again.status, 404);
    const late = await callBack(sent, "fail", { error: "too late" });
    assert.equal(late.status, 404);
    assert.equal((await jobState(sql, id))!.state, "completed");
  },
});

Deno.test({
  name: "a callback id of an attempt that was retried is 404 and leaves the new attempt parked",
  ...POOL_TEST,
  async fn() {
    const { id } = await insert(sql, flaky, {});
    const second = await parked(id, 2);
    const first = requestsOf(id).find((r) => r.body.attempt === 1)!.body;
    assert.notEqual(first.callback_id, second.callback_id);
    const stale = await callBack(first, "complete", { payload: "from the cold start" });
    assert.equal(stale.status, 404);
    assert.match(String(stale.json.error), /no live callback/);
    assert.equal((await jobState(sql, id))!.state, "waiting_external");
    const fresh = await callBack(second, "complete", { payload: "ok" });
    assert.deepEqual(fresh, { status: 200, json: { id, state: "completed" } });
  },
});

Deno.test({
  name: "a callback before the function's answer completes the running job; the late park is void",
  ...POOL_TEST,
  async fn() {
    const { id } = await insert(sql, eager, {});
    await waitFor("eager callback answered", () => eagerAnswers.length === 1);
    assert.deepEqual(eagerAnswers[0], { status: 200, json: { id, state: "completed" } });
    await waitFor("job completed", async () => (await jobState(sql, id))?.state === "completed");
    assert.equal(await resultOf(id), "too soon");
    const sent = requestsOf(id)[0]!.body;
    assert.equal((await callBack(sent, "complete", { payload: "again" })).status, 404);
    assert.equal(await resultOf(id), "too soon");
    assert.deepEqual(rescued, [], "no attempt of these tests was rescued");
  },
});

Deno.test("callbackReceiver checks its options", () => {
  const bad: [unknown, string][] = [
    [undefined, "options"],
    [{ db: sql }, "secret"],
    [{ db: sql, secret: "short" }, "secret"],
    [{ db: sql, secret: SECRET, allowUnsigned: true }, "allowUnsigned"],
    [{ db: sql, allowUnsigned: "yes" }, "allowUnsigned"],
    [{ secret: SECRET }, "db"],
    [{ db: sql, secret: SECRET, prefix: "/cb?x" }, "prefix"],
    [{ db: sql, secret: SECRET, schema: "no such;schema" }, "schema"],
    [{ db: sql, secret: SECRET, readOnly: 1 }, "readOnly"],
    [{ db: sql, secret: SECRET, onError: "log" }, "onError"],
    [{ db: sql, secret: SECRET, extra: 1 }, "options.extra"],
  ];
  for (const [options, field] of bad) {
    assert.throws(
      () => callbackReceiver(options as never),
      (e) => e instanceof ValidationError && e.field === field,
      `${field}`,
    );
  }
  assert.equal(typeof callbackReceiver({ db: sql, allowUnsigned: true, prefix: "" }), "function");
});

Deno.test({
  name: "teardown",
  ...POOL_TEST,
  async fn() {
    await client.shutdown();
    await fn.close();
    await receiverServer.shutdown();
    await t.close();
  },
});
