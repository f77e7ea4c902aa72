/**
 * toNodeListener under a real `node:http` server: request method, path, headers and body reach
 * the handler, its status, headers and body reach the client, oversized bodies get 413 and a
 * throwing handler 500.
 */
import assert from "node:assert/strict";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { toNodeListener } from "../../http.ts";
import { ValidationError } from "../../mod.ts";

async function withServer(
  listener: http.RequestListener,
  use: (base: string) => Promise<void>,
): Promise<void> {
  const server = http.createServer(listener);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  try {
    await use(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  } finally {
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    await closed;
  }
}

Deno.test("a request goes through to the handler and its response comes back", async () => {
  const seen: { method: string; url: string; sig: string | null; body: string }[] = [];
  const listener = toNodeListener(async (req) => {
    seen.push({
      method: req.method,
      url: req.url,
      sig: req.headers.get("x-awa-signature"),
      body: await req.text(),
    });
    return new Response(JSON.stringify({ ok: true }), {
      status: 201,
      headers: { "content-type": "application/json", "x-extra": "1" },
    });
  });
  await withServer(listener, async (base) => {
    const res = await fetch(`${base}/api/callbacks/abc/complete?x=1`, {
      method: "POST",
      headers: { "x-awa-signature": "ff" },
      body: JSON.stringify({ payload: "é" }),
    });
    assert.equal(res.status, 201);
    assert.equal(res.headers.get("x-extra"), "1");
    assert.deepEqual(await res.json(), { ok: true });
  });
  assert.equal(seen.length, 1);
  assert.equal(seen[0]!.method, "POST");
  assert.match(seen[0]!.url, /^http:\/\/127\.0\.0\.1:\d+\/api\/callbacks\/abc\/complete\?x=1$/);
  assert.equal(seen[0]!.sig, "ff");
  assert.equal(seen[0]!.body, '{"payload":"é"}');
});

Deno.test("a body over maxBodyBytes is 413 without calling the handler; a thrower is 500", async () => {
  let calls = 0;
  const errors: unknown[] = [];
  const listener = toNodeListener((req) => {
    calls++;
    if (new URL(req.url).pathname === "/throw") throw new Error("handler bug");
    return new Response("fine");
  }, { maxBodyBytes: 10, onError: (e) => errors.push(e) });
  await withServer(listener, async (base) => {
    const big = await fetch(`${base}/x`, { method: "POST", body: "x".repeat(11) });
    assert.equal(big.status, 413);
    await big.body?.cancel();
    const small = await fetch(`${base}/x`, { method: "POST", body: "x".repeat(10) });
    assert.equal(await small.text(), "fine");
    const thrown = await fetch(`${base}/throw`, { method: "POST" });
    assert.equal(thrown.status, 500);
    assert.deepEqual(await thrown.json(), { error: "internal error" });
  });
  assert.equal(calls, 2);
  assert.equal(errors.length, 1);
});

Deno.test("bad adapter arguments are ValidationErrors", () => {
  assert.throws(() => toNodeListener("nope" as never), ValidationError);
  assert.throws(() => toNodeListener(() => new Response(), { maxBodyBytes: -1 }), ValidationError);
  assert.throws(() => toNodeListener(() => new Response(), { other: 1 } as never), ValidationError);
});
