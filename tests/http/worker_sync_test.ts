/**
 * The HTTP worker in sync mode against a real local server and real Postgres: a 2xx completes
 * the job with the JSON answer as result, a 500 and a timeout retry it, a 400 fails it for good
 * with the body in the error, a redirect is not followed, static headers are sent.
 */
import assert from "node:assert/strict";
import { httpWorker } from "../../http.ts";
import { Client, type ClientEvents, defineJob, insert } from "../../mod.ts";
import { testDatabase } from "../support/db.ts";
import { pause, serveFunction } from "../support/http.ts";
import { POOL_TEST, waitFor, withTimings } from "../support/runtime.ts";

const t = await testDatabase("http_worker_sync");
const sql = t.sql;

const server = serveFunction(async (path, body, req) => {
  switch (path) {
    case "/ok":
      return Response.json({ echoed: (body as { args: unknown }).args });
    case "/text":
      return new Response("done, no JSON here", { headers: { "content-type": "text/plain" } });
    case "/empty":
      return new Response(null, { status: 204 });
    case "/boom":
      return new Response("upstream exploded", { status: 500 });
    case "/reject":
      return new Response(`bad input: ${"x".repeat(5000)}`, { status: 400 });
    case "/moved":
      return new Response(null, { status: 302, headers: { location: "/ok" } });
    case "/slow":
      await pause(1_500, req.signal);
      return Response.json({ late: true });
    default:
      return new Response("no such function", { status: 404 });
  }
});

const kinds = {
  ok: defineJob<{ n: number }>("http_sync_ok", { queue: "http_sync" }),
  text: defineJob<unknown>("http_sync_text", { queue: "http_sync" }),
  empty: defineJob<unknown>("http_sync_empty", { queue: "http_sync" }),
  boom: defineJob<unknown>("http_sync_boom", { queue: "http_sync", maxAttempts: 3 }),
  reject: defineJob<unknown>("http_sync_reject", { queue: "http_sync" }),
  moved: defineJob<unknown>("http_sync_moved", { queue: "http_sync" }),
  slow: defineJob<unknown>("http_sync_slow", { queue: "http_sync", maxAttempts: 3 }),
  refused: defineJob<unknown>("http_sync_refused", { queue: "http_sync", maxAttempts: 3 }),
};

// A port nothing listens on: a server opened and closed at once.
const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
const deadPort = (closed.addr as Deno.NetAddr).port;
closed.close();

// A generous heartbeat staleness: a loaded machine must not rescue a request in flight.
const client = new Client(t.connect(), {
  queues: { http_sync: { maxWorkers: 8 } },
  ...withTimings({ heartbeat: { intervalMs: 200, stalenessMs: 10_000 } }),
});
const sync = (path: string, extra: Record<string, unknown> = {}) =>
  httpWorker({ url: `${server.url}${path}`, mode: "sync", ...extra });
client.work(kinds.ok, sync("/ok", { headers: { authorization: "Bearer s3cret", "x-team": "a" } }));
client.work(kinds.text, sync("/text"));
client.work(kinds.empty, sync("/empty"));
client.work(kinds.boom, sync("/boom"));
client.work(kinds.reject, sync("/reject"));
client.work(kinds.moved, sync("/moved"));
client.work(kinds.slow, sync("/slow", { responseTimeoutMs: 300 }));
client.work(kinds.refused, httpWorker({ url: `http://127.0.0.1:${deadPort}/x`, mode: "sync" }));

const completed = new Map<number, ClientEvents["completed"]>();
const retried = new Map<number, ClientEvents["retried"]>();
const failed = new Map<number, ClientEvents["failed"]>();
client.on("completed", (e) => void completed.set(e.job.id, e));
client.on("retried", (e) => void retried.set(e.job.id, e));
client.on("failed", (e) => void failed.set(e.job.id, e));
await client.start();

async function row(id: number) {
  const [r] = await sql<{ state: string; result: unknown; errors: { error: string }[] | null }[]>`
    SELECT state::text, result, errors FROM awa.jobs WHERE id = ${id}
    ORDER BY run_lease DESC LIMIT 1`;
  return r!;
}

Deno.test({
  name: "2xx completes the job: JSON answer as result, body without callback fields, headers sent",
  ...POOL_TEST,
  async fn() {
    const { id } = await insert(sql, kinds.ok, { n: 42 });
    await waitFor("completion", () => completed.get(id));
    assert.deepEqual(completed.get(id)!.result, { echoed: { n: 42 } });
    const r = await row(id);
    assert.equal(r.state, "completed");
    assert.deepEqual(r.result, { echoed: { n: 42 } });
    const req = server.seen.find((s) =>
      s.path === "/ok" && (s.body as { job_id: number }).job_id === id
    )!;
    assert.deepEqual(req.body, {
      job_id: id,
      kind: "http_sync_ok",
      args: { n: 42 },
      attempt: 1,
      max_attempts: 25,
    });
    assert.equal(req.headers.get("content-type"), "application/json");
    assert.equal(req.headers.get("authorization"), "Bearer s3cret");
    assert.equal(req.headers.get("x-team"), "a");
    assert.equal(req.headers.get("x-awa-signature"), null);
  },
});

Deno.test({
  name: "2xx without a JSON body completes with a null result",
  ...POOL_TEST,
  async fn() {
    const a = await insert(sql, kinds.text, {});
    const b = await insert(sql, kinds.empty, {});
    await waitFor("both complete", () => completed.has(a.id) && completed.has(b.id));
    for (const id of [a.id, b.id]) {
      const r = await row(id);
      assert.equal(r.state, "completed");
      assert.equal(r.result, null);
    }
  },
});

Deno.test({
  name: "500 retries the job with the status and body in the error",
  ...POOL_TEST,
  async fn() {
    const { id } = await insert(sql, kinds.boom, {});
    await waitFor("retry", () => retried.get(id));
    assert.match(
      retried.get(id)!.error,
      /^HttpWorkerError: POST http:\/\/127\.0\.0\.1:\d+\/boom answered 500/,
    );
    assert.match(retried.get(id)!.error, /upstream exploded/);
    const r = await row(id);
    assert.equal(r.state, "retryable");
    assert.match(r.errors![0]!.error, /answered 500.*upstream exploded/);
  },
});

Deno.test({
  name: "400 fails the job for good, the error holding the truncated body",
  ...POOL_TEST,
  async fn() {
    const { id } = await insert(sql, kinds.reject, {});
    await waitFor("failure", () => failed.get(id));
    const error = failed.get(id)!.error;
    assert.match(error, /^TerminalError: POST http:\/\/127\.0\.0\.1:\d+\/reject answered 400/);
    assert.match(error, /bad input: x{100}/);
    assert.match(error, /… \(truncated\)$/);
    assert.ok(error.length < 2_200, `error is ${error.length} chars`);
    assert.equal((await row(id)).state, "failed");
    assert.equal(retried.has(id), false);
  },
});

Deno.test({
  name: "a redirect is not followed: 302 fails the job for good",
  ...POOL_TEST,
  async fn() {
    const { id } = await insert(sql, kinds.moved, {});
    await waitFor("failure", () => failed.get(id));
    assert.match(failed.get(id)!.error, /answered 302/);
    assert.equal(
      server.seen.filter((s) => (s.body as { job_id?: number }).job_id === id).length,
      1,
    );
  },
});

Deno.test({
  name: "no answer within the timeout retries the job; so does a refused connection",
  ...POOL_TEST,
  async fn() {
    const slow = await insert(sql, kinds.slow, {});
    const refused = await insert(sql, kinds.refused, {});
    await waitFor("both retried", () => retried.has(slow.id) && retried.has(refused.id));
    assert.match(retried.get(slow.id)!.error, /\/slow: no answer within 300 ms/);
    assert.match(
      retried.get(refused.id)!.error,
      /^HttpWorkerError: POST http:\/\/127\.0\.0\.1:\d+\/x failed/,
    );
    assert.equal((await row(slow.id)).state, "retryable");
    assert.equal(completed.has(slow.id), false);
  },
});

Deno.test({
  name: "teardown",
  ...POOL_TEST,
  async fn() {
    await client.shutdown();
    await server.close();
    await t.close();
  },
});
