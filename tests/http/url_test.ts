/** The callback URL rule: base and prefix normalisation, ids and actions. */
import assert from "node:assert/strict";
import { callbackUrl } from "../../http.ts";
import { ValidationError } from "../../mod.ts";

const ID = "550e8400-e29b-41d4-a716-446655440000";

Deno.test("base loses its trailing slashes, the prefix is trimmed and gets one leading slash", () => {
  const cases: [string, string, string][] = [
    ["https://x.test", "/api/callbacks", `https://x.test/api/callbacks/${ID}/complete`],
    ["https://x.test/", "/api/callbacks", `https://x.test/api/callbacks/${ID}/complete`],
    ["https://x.test//", "api/callbacks/", `https://x.test/api/callbacks/${ID}/complete`],
    ["https://x.test", "  /hooks//  ", `https://x.test/hooks/${ID}/complete`],
    ["https://x.test/base/", "cb", `https://x.test/base/cb/${ID}/complete`],
    ["http://127.0.0.1:8080", "", `http://127.0.0.1:8080/${ID}/complete`],
    ["http://127.0.0.1:8080", "/", `http://127.0.0.1:8080/${ID}/complete`],
  ];
  for (const [base, prefix, want] of cases) {
    assert.equal(callbackUrl(base, prefix, ID, "complete"), want, `${base} + ${prefix}`);
  }
});

Deno.test("each action is the last path segment", () => {
  for (const action of ["complete", "fail", "heartbeat"] as const) {
    assert.equal(
      callbackUrl("https://x.test", "/cb", ID, action),
      `https://x.test/cb/${ID}/${action}`,
    );
  }
});

Deno.test("a bad base, prefix, id or action is a ValidationError naming it", () => {
  const bad: [unknown[], string][] = [
    [["not a url", "/cb", ID, "complete"], "base"],
    [["ftp://x.test", "/cb", ID, "complete"], "base"],
    [["https://x.test?a=1", "/cb", ID, "complete"], "base"],
    [["https://x.test", "/cb?x", ID, "complete"], "prefix"],
    [["https://x.test", 5, ID, "complete"], "prefix"],
    [["https://x.test", "/cb", "", "complete"], "callbackId"],
    [["https://x.test", "/cb", "a/b", "complete"], "callbackId"],
    [["https://x.test", "/cb", "..", "complete"], "callbackId"],
    [["https://x.test", "/cb", ID, "resume"], "action"],
  ];
  for (const [args, field] of bad) {
    assert.throws(
      () => (callbackUrl as (...a: unknown[]) => string)(...args),
      (e) => e instanceof ValidationError && e.field === field,
      JSON.stringify(args),
    );
  }
});
