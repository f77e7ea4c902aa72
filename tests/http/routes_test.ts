/**
 * The receiver's routes against a recording resolver: routing, methods, signature before body,
 * body checks, and how resolver answers map to statuses. The database path is covered end to
 * end by receiver_test.ts; here every request that must not resolve is shown not to reach the
 * resolver at all.
 */
import assert from "node:assert/strict";
import { signCallbackId } from "../../http.ts";
import { DatabaseError, ValidationError } from "../../mod.ts";
import { type CallbackActions, callbackRoutes, MAX_BODY_BYTES } from "../../src/http/routes.ts";
import { secretKey } from "../../src/http/signature.ts";

const SECRET = "0123456789abcdef".repeat(4);
const ID = "550e8400-e29b-41d4-a716-446655440000";
const SIG = signCallbackId(SECRET, ID);

type Call = [string, string, unknown];
function recorder(answer: () => Promise<{ jobId: number; state: string } | null>) {
  const calls: Call[] = [];
  const actions: CallbackActions = {
    complete: (id, payload) => (calls.push(["complete", id, payload]), answer()),
    fail: (id, error) => (calls.push(["fail", id, error]), answer()),
    heartbeat: (id, ms) => (calls.push(["heartbeat", id, ms]), answer()),
  };
  return { calls, actions };
}

const live = () => Promise.resolve({ jobId: 7, state: "completed" });
const errors: unknown[] = [];
function routes(
  actions: CallbackActions,
  over: Partial<{ prefix: string; key: Uint8Array | null; readOnly: boolean }> = {},
) {
  return callbackRoutes(actions, {
    prefix: "/api/callbacks",
    key: secretKey(SECRET),
    readOnly: false,
    onError: (e) => errors.push(e),
    ...over,
  });
}

function post(path: string, body?: unknown, sig: string | null = SIG, method = "POST") {
  const headers: Record<string, string> = {};
  if (sig !== null) headers["x-awa-signature"] = sig;
  return new Request(`http://jobs.test${path}`, {
    method,
    headers,
    ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) }),
  });
}

Deno.test("each action reaches the resolver with its checked body and answers {id, state}", async () => {
  const { calls, actions } = recorder(live);
  const h = routes(actions);
  const base = `/api/callbacks/${ID}`;
  for (
    const [path, body] of [
      [`${base}/complete`, { payload: { ok: true } }],
      [`${base}/complete`, undefined],
      [`${base}/complete`, { payload: null }],
      [`${base}/fail`, { error: "render farm on fire" }],
      [`${base}/heartbeat`, {}],
      [`${base}/heartbeat`, { timeout_seconds: 1.5 }],
      [`${base}/heartbeat`, { timeout_seconds: 0 }],
    ] as const
  ) {
    const res = await h(post(path, body));
    assert.equal(res.status, 200, path);
    assert.equal(res.headers.get("content-type"), "application/json");
    assert.deepEqual(await res.json(), { id: 7, state: "completed" });
  }
  assert.deepEqual(calls, [
    ["complete", ID, { ok: true }],
    ["complete", ID, undefined],
    ["complete", ID, null],
    ["fail", ID, "render farm on fire"],
    ["heartbeat", ID, 3_600_000],
    ["heartbeat", ID, 1500],
    ["heartbeat", ID, 0],
  ]);
});

Deno.test("a missing, malformed, tampered or other id's signature is 401 and resolves nothing", async () => {
  const { calls, actions } = recorder(live);
  const h = routes(actions);
  const path = `/api/callbacks/${ID}/complete`;
  const tampered = SIG.slice(0, -1) + (SIG.endsWith("0") ? "1" : "0");
  const otherId = signCallbackId(SECRET, "018f0f69-63c9-7c86-bf2f-9b62d2cda6f4");
  for (const sig of [null, "", "xyz", SIG.slice(2), `${SIG}00`, tampered, otherId]) {
    const res = await h(post(path, { payload: 1 }, sig));
    assert.equal(res.status, 401, String(sig));
    assert.match((await res.json()).error, /X-Awa-Signature/);
  }
  // Signature first: a bad body behind a bad signature still says 401.
  assert.equal((await h(post(path, "{not json", tampered))).status, 401);
  assert.deepEqual(calls, []);
});

Deno.test("other paths are 404, other methods 405 with Allow: POST", async () => {
  const { calls, actions } = recorder(live);
  const h = routes(actions);
  for (
    const path of [
      "/",
      "/api/callbacks",
      "/api/callbacks/",
      `/api/callbacks/${ID}`,
      `/api/callbacks/${ID}/resume`,
      `/api/callbacks/${ID}/complete/extra`,
      `/api/callbacksX/${ID}/complete`,
      `/other/${ID}/complete`,
    ]
  ) {
    assert.equal((await h(post(path, {}))).status, 404, path);
  }
  for (const method of ["GET", "PUT", "DELETE"]) {
    const res = await h(post(`/api/callbacks/${ID}/complete`, undefined, SIG, method));
    assert.equal(res.status, 405, method);
    assert.equal(res.headers.get("allow"), "POST");
  }
  assert.deepEqual(calls, []);
});

Deno.test("a bad body is 400 (413 when too large) and resolves nothing", async () => {
  const { calls, actions } = recorder(live);
  const h = routes(actions);
  const base = `/api/callbacks/${ID}`;
  const cases: [string, unknown, number][] = [
    [`${base}/complete`, "{not json", 400],
    [`${base}/complete`, "[1]", 400],
    [`${base}/complete`, "null", 400],
    [`${base}/complete`, { payload: 1, extra: 2 }, 400],
    [`${base}/fail`, {}, 400],
    [`${base}/fail`, { error: "" }, 400],
    [`${base}/fail`, { error: 5 }, 400],
    [`${base}/heartbeat`, { timeout_seconds: -1 }, 400],
    [`${base}/heartbeat`, { timeout_seconds: "60" }, 400],
    [`${base}/heartbeat`, '{"timeout_seconds": 1e999}', 400],
    [`${base}/heartbeat`, { timeout: 60 }, 400],
    [`${base}/complete`, JSON.stringify({ payload: "x".repeat(MAX_BODY_BYTES) }), 413],
  ];
  for (const [path, body, status] of cases) {
    const res = await h(post(path, body));
    assert.equal(res.status, status, `${path} ${String(body).slice(0, 40)}`);
    assert.equal(typeof (await res.json()).error, "string");
  }
  assert.deepEqual(calls, []);
});

Deno.test("a callback the resolver does not know, or an id that is no UUID, is 404", async () => {
  const { calls, actions } = recorder(() => Promise.resolve(null));
  const h = routes(actions);
  const res = await h(post(`/api/callbacks/${ID}/complete`, {}));
  assert.equal(res.status, 404);
  assert.match((await res.json()).error, /no live callback/);
  assert.equal(calls.length, 1);
  const notUuid = "abc";
  const signed = await h(
    post(`/api/callbacks/${notUuid}/fail`, { error: "x" }, signCallbackId(SECRET, notUuid)),
  );
  assert.equal(signed.status, 404);
  assert.equal(calls.length, 1, "a non-UUID id is never looked up");
});

Deno.test("an upper-case id verifies as sent and resolves in lower case", async () => {
  const { calls, actions } = recorder(live);
  const upper = ID.toUpperCase();
  const res = await routes(actions)(
    post(`/api/callbacks/${upper}/complete`, {}, signCallbackId(SECRET, upper)),
  );
  assert.equal(res.status, 200);
  assert.deepEqual(calls, [["complete", ID, undefined]]);
});

Deno.test("resolver errors: ValidationError is 400, anything else 500 and reported", async () => {
  errors.length = 0;
  const invalid = routes(
    recorder(() => Promise.reject(new ValidationError("payload", "too big"))).actions,
  );
  const r400 = await invalid(post(`/api/callbacks/${ID}/complete`, {}));
  assert.equal(r400.status, 400);
  assert.match((await r400.json()).error, /payload: too big/);
  const down = new DatabaseError("connection lost", { transient: true });
  const broken = routes(recorder(() => Promise.reject(down)).actions);
  const r500 = await broken(post(`/api/callbacks/${ID}/complete`, {}));
  assert.equal(r500.status, 500);
  assert.match((await r500.json()).error, /DATABASE/);
  assert.deepEqual(errors, [down]);
});

Deno.test("read-only answers 503; without a key no signature is needed; prefixes route", async () => {
  const { calls, actions } = recorder(live);
  const ro = await routes(actions, { readOnly: true })(post(`/api/callbacks/${ID}/complete`, {}));
  assert.equal(ro.status, 503);
  assert.deepEqual(calls, []);
  const unsigned = routes(actions, { key: null, prefix: "" });
  assert.equal((await unsigned(post(`/${ID}/complete`, {}, null))).status, 200);
  assert.equal((await unsigned(post(`/api/callbacks/${ID}/complete`, {}, null))).status, 404);
  assert.deepEqual(calls, [["complete", ID, undefined]]);
});
