/**
 * Properties tying the worker's side to the receiver's: every URL `callbackUrl` builds routes,
 * in the receiver with the same prefix, to the same id and action; a signature verifies for its
 * own key and id only, and any one changed character of it is rejected.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { callbackUrl, signCallbackId, verifyCallbackSignature } from "../../http.ts";
import { type CallbackActions, callbackRoutes } from "../../src/http/routes.ts";
import { normalizePrefix } from "../../src/http/url.ts";

const segment = fc.stringMatching(/^[a-z0-9_-]{1,8}$/);
const prefixArb = fc.tuple(
  fc.constantFrom("", " ", "/"),
  fc.array(segment, { maxLength: 3 }),
  fc.constantFrom("", "/", "//", " "),
).map(([lead, parts, tail]) => `${lead}${parts.join("/")}${tail}`);
const baseArb = fc.tuple(
  fc.constantFrom("http://127.0.0.1:8080", "https://jobs.example.com"),
  fc.array(segment, { maxLength: 2 }),
  fc.constantFrom("", "/", "//"),
).map(([origin, parts, tail]) => `${origin}${parts.map((p) => `/${p}`).join("")}${tail}`);
const actionArb = fc.constantFrom("complete" as const, "fail" as const, "heartbeat" as const);
const keyArb = fc.uint8Array({ minLength: 32, maxLength: 32 });

Deno.test("a URL built by callbackUrl routes to its id and action in the receiver", async () => {
  await fc.assert(
    fc.asyncProperty(baseArb, prefixArb, fc.uuid(), actionArb, async (base, prefix, id, action) => {
      const url = callbackUrl(base, prefix, id, action);
      const basePath = new URL(base).pathname.replace(/\/+$/, "");
      const calls: [string, string][] = [];
      const answer = (name: string) => (cid: string) => {
        calls.push([name, cid]);
        return Promise.resolve({ jobId: 1, state: "completed" });
      };
      const actions: CallbackActions = {
        complete: answer("complete"),
        fail: answer("fail"),
        heartbeat: answer("heartbeat"),
      };
      const routes = callbackRoutes(actions, {
        prefix: basePath + normalizePrefix(prefix),
        key: null,
        readOnly: false,
      });
      const body = action === "fail" ? { error: "x" } : {};
      const res = await routes(new Request(url, { method: "POST", body: JSON.stringify(body) }));
      assert.equal(res.status, 200, url);
      assert.deepEqual(calls, [[action, id.toLowerCase()]]);
    }),
    { numRuns: 200 },
  );
});

Deno.test("a signature verifies for its key and id only; one changed hex digit is rejected", () => {
  fc.assert(
    fc.property(keyArb, keyArb, fc.uuid(), fc.nat(63), (key, other, id, at) => {
      const sig = signCallbackId(key, id);
      assert.match(sig, /^[0-9a-f]{64}$/);
      assert.equal(verifyCallbackSignature(key, id, sig), true);
      const digit = sig[at] === "0" ? "1" : "0";
      assert.equal(
        verifyCallbackSignature(key, id, sig.slice(0, at) + digit + sig.slice(at + 1)),
        false,
      );
      if (other.some((b, i) => b !== key[i])) {
        assert.equal(verifyCallbackSignature(other, id, sig), false);
      }
    }),
    { numRuns: 300 },
  );
});
