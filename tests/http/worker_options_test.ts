/** httpWorker checks its options when it is built: every mistake is a ValidationError. */
import assert from "node:assert/strict";
import { httpWorker, type HttpWorkerOptions } from "../../http.ts";
import { ValidationError } from "../../mod.ts";

const SECRET = "ab".repeat(32);
const ASYNC: HttpWorkerOptions = {
  url: "https://fn.test/run",
  mode: "async",
  callbackBaseUrl: "https://jobs.test",
};

Deno.test("valid options build a handler, in both modes", () => {
  assert.equal(typeof httpWorker(ASYNC), "function");
  assert.equal(
    typeof httpWorker({
      ...ASYNC,
      callbackPathPrefix: "",
      callbackTimeoutMs: 60_000,
      requestTimeoutMs: 5_000,
      headers: { authorization: "Bearer t" },
      hmacSecret: SECRET,
    }),
    "function",
  );
  assert.equal(typeof httpWorker({ url: "http://fn.test/run?code=k", mode: "sync" }), "function");
  assert.equal(
    typeof httpWorker({ url: "http://fn.test", mode: "sync", responseTimeoutMs: 120_000 }),
    "function",
  );
});

Deno.test("each bad option is rejected with its name", () => {
  const bad: [unknown, string][] = [
    [undefined, "options"],
    [{ ...ASYNC, urll: "x" }, "options.urll"],
    [{ ...ASYNC, url: "fn.test/run" }, "url"],
    [{ ...ASYNC, url: "file:///etc/passwd" }, "url"],
    [{ ...ASYNC, mode: "later" }, "mode"],
    [{ url: ASYNC.url, mode: "async" }, "callbackBaseUrl"],
    [{ ...ASYNC, callbackBaseUrl: "jobs.test" }, "callbackBaseUrl"],
    [{ ...ASYNC, callbackPathPrefix: "/cb?x=1" }, "callbackPathPrefix"],
    [{ ...ASYNC, callbackTimeoutMs: 0 }, "callbackTimeoutMs"],
    [{ ...ASYNC, callbackTimeoutMs: 1.5 }, "callbackTimeoutMs"],
    [{ ...ASYNC, requestTimeoutMs: -1 }, "requestTimeoutMs"],
    [{ ...ASYNC, requestTimeoutMs: Infinity }, "requestTimeoutMs"],
    [{ ...ASYNC, responseTimeoutMs: 1000 }, "responseTimeoutMs"],
    [{ ...ASYNC, headers: ["a"] }, "headers"],
    [{ ...ASYNC, headers: { "x-n": 5 } }, "headers.x-n"],
    [{ ...ASYNC, headers: { "bad header": "v" } }, "headers.bad header"],
    [{ ...ASYNC, headers: { "x-v": "a\nb" } }, "headers.x-v"],
    [{ ...ASYNC, headers: { "Content-Type": "text/plain" } }, "headers.Content-Type"],
    [{ ...ASYNC, headers: { "X-Awa-Signature": "x" } }, "headers.X-Awa-Signature"],
    [{ ...ASYNC, hmacSecret: "short" }, "hmacSecret"],
    [{ url: ASYNC.url, mode: "sync", callbackBaseUrl: "https://jobs.test" }, "callbackBaseUrl"],
    [{ url: ASYNC.url, mode: "sync", hmacSecret: SECRET }, "hmacSecret"],
    [{ url: ASYNC.url, mode: "sync", callbackTimeoutMs: 1000 }, "callbackTimeoutMs"],
    [{ url: ASYNC.url, mode: "sync", responseTimeoutMs: 0 }, "responseTimeoutMs"],
  ];
  for (const [options, field] of bad) {
    assert.throws(
      () => httpWorker(options as HttpWorkerOptions),
      (e) => e instanceof ValidationError && e.field === field,
      `${JSON.stringify(options)} → ${field}`,
    );
  }
});
