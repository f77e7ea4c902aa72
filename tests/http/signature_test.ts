/**
 * Algorithm S: vectors S1–S3 with the key as bytes and as hex, and what verification rejects.
 */
import assert from "node:assert/strict";
import { signCallbackId, verifyCallbackSignature } from "../../http.ts";
import { ValidationError } from "../../mod.ts";

const VECTORS = [
  {
    name: "S1",
    key: new Uint8Array(32).fill(0x07),
    id: "abc",
    sig: "b1495225f01fa8cd09e410d288d09b68c1cc9fb2414686c0d3ac13fc905497d9",
  },
  {
    name: "S2",
    key: "0123456789abcdef".repeat(4),
    id: "550e8400-e29b-41d4-a716-446655440000",
    sig: "334c91304caebf6d653076d0be2a44db5757ac2a1579ae964015e80c049e4594",
  },
  {
    name: "S3",
    key: Uint8Array.from({ length: 32 }, (_, i) => i),
    id: "018f0f69-63c9-7c86-bf2f-9b62d2cda6f4",
    sig: "35eaf17f60a8ef6800901468f391ddba6602a6a26d2f02b787203995450cc5ed",
  },
] as const;

const hexOf = (k: Uint8Array | string) =>
  typeof k === "string" ? k : [...k].map((b) => b.toString(16).padStart(2, "0")).join("");
const bytesOf = (k: Uint8Array | string) =>
  typeof k !== "string" ? k : Uint8Array.from(k.match(/../g)!.map((h) => parseInt(h, 16)));

for (const v of VECTORS) {
  Deno.test(`${v.name}: the signature of ${v.id} is the pinned vector, key as bytes or hex`, () => {
    assert.equal(signCallbackId(bytesOf(v.key), v.id), v.sig);
    assert.equal(signCallbackId(hexOf(v.key), v.id), v.sig);
    assert.equal(signCallbackId(hexOf(v.key).toUpperCase(), v.id), v.sig);
    assert.equal(verifyCallbackSignature(v.key, v.id, v.sig), true);
  });
}

Deno.test("verification rejects a tampered, missing or malformed header, and another id", () => {
  const { key, id, sig } = VECTORS[1];
  const flipped = sig.slice(0, 10) + (sig[10] === "0" ? "1" : "0") + sig.slice(11);
  assert.equal(verifyCallbackSignature(key, id, flipped), false);
  assert.equal(verifyCallbackSignature(key, id, null), false);
  assert.equal(verifyCallbackSignature(key, id, undefined), false);
  assert.equal(verifyCallbackSignature(key, id, ""), false);
  assert.equal(verifyCallbackSignature(key, id, sig.slice(0, 62)), false);
  assert.equal(verifyCallbackSignature(key, id, sig + "00"), false);
  assert.equal(verifyCallbackSignature(key, id, ` ${sig}`), false);
  assert.equal(verifyCallbackSignature(key, id, sig.replace(/^../, "zz")), false);
  assert.equal(verifyCallbackSignature(key, "550e8400-e29b-41d4-a716-446655440001", sig), false);
  // Hex decoding is case-blind: the same bytes in capitals verify.
  assert.equal(verifyCallbackSignature(key, id, sig.toUpperCase()), true);
  // Another key, same id.
  assert.equal(verifyCallbackSignature(VECTORS[0].key, id, sig), false);
});

Deno.test("a secret that is not 32 bytes or 64 hex characters is a ValidationError", () => {
  const bad: unknown[] = [
    new Uint8Array(31),
    new Uint8Array(33),
    "ab".repeat(31),
    "ab".repeat(33),
    "zz".repeat(32),
    "",
    42,
    null,
    undefined,
    [1, 2, 3],
  ];
  for (const secret of bad) {
    assert.throws(
      () => signCallbackId(secret as string, "abc"),
      (e) => e instanceof ValidationError && e.field === "secret",
      String(secret),
    );
    assert.throws(
      () => verifyCallbackSignature(secret as string, "abc", VECTORS[0].sig),
      ValidationError,
    );
  }
  assert.throws(() => signCallbackId(VECTORS[0].key, ""), ValidationError);
});

Deno.test("the key is copied: changing the caller's array later does not change signatures", () => {
  const key = new Uint8Array(32).fill(0x07);
  const before = signCallbackId(key, "abc");
  key[0] = 0;
  assert.equal(before, VECTORS[0].sig);
  assert.notEqual(signCallbackId(key, "abc"), VECTORS[0].sig);
});
