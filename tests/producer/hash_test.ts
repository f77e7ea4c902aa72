/**
 * Interop vectors for the hash derivations (Algorithms U and H) and the canonical JSON rules.
 * These must never change: other Awa implementations compute the same bytes.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { blake3 } from "@noble/hashes/blake3.js";
import { bytesToHex } from "@noble/hashes/utils.js";
import {
  canonicalJson,
  DEFAULT_UNIQUE_STATES,
  orderingKeyHash64,
  partitionForOrderingKey,
  partitionHash64,
  stateMaskBits,
  uniqueKeyHex,
  ValidationError,
} from "../../mod.ts";
import { testDatabase } from "../support/db.ts";
import { POOL_TEST } from "../support/producer.ts";

Deno.test("U1–U3 unique-key vectors", () => {
  assert.equal(uniqueKeyHex({ kind: "send_email" }), "bee8bfbcd9d48e51f79059a523039018");
  const u2Args = { to: "alice@example.com", subject: "Welcome" };
  assert.equal(canonicalJson(u2Args), '{"subject":"Welcome","to":"alice@example.com"}');
  assert.equal(
    uniqueKeyHex({ kind: "send_email", queue: "email", args: u2Args }),
    "93c3005f70fde2c5aa06779be3818fd1",
  );
  const u3Args = { z: [3, { b: true, a: null }], "é": "naïve", a: -7 };
  assert.equal(canonicalJson(u3Args), '{"a":-7,"z":[3,{"a":null,"b":true}],"é":"naïve"}');
  assert.equal(
    uniqueKeyHex({ kind: "daily_report", args: u3Args, periodBucket: 480000 }),
    "1472157aec659600b951bf45e186c77a",
  );
  // Bucket as number or bigint is the same key.
  assert.equal(
    uniqueKeyHex({ kind: "daily_report", args: u3Args, periodBucket: 480000n }),
    "1472157aec659600b951bf45e186c77a",
  );
});

Deno.test("Algorithm U byte layout: 0x00 separators, int64 little-endian two's complement", () => {
  const enc = new TextEncoder();
  const bucket = new Uint8Array(8);
  new DataView(bucket.buffer).setBigInt64(0, -2n, true);
  assert.deepEqual([...bucket], [0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
  const bytes = new Uint8Array([
    ...enc.encode("k"),
    0,
    ...enc.encode("q"),
    0,
    ...enc.encode('{"a":1}'),
    0,
    ...bucket,
  ]);
  assert.equal(
    uniqueKeyHex({ kind: "k", queue: "q", args: { a: 1 }, periodBucket: -2 }),
    bytesToHex(blake3(bytes).subarray(0, 16)),
  );
  assert.throws(
    () => uniqueKeyHex({ kind: "k", periodBucket: 1n << 63n }),
    ValidationError,
  );
  assert.equal(
    uniqueKeyHex({ kind: "k", periodBucket: -(1n << 63n) }).length,
    32,
  );
});

const H_VECTORS: [string, bigint, string, number, number, string, number, number][] = [
  ["", 14695981039346656037n, "cbf29ce484222325", 1, 5, "b2ea36a15b0ca032", 2, 1],
  ["customer-42", 695220319317454988n, "09a5eb326d8cf08c", 0, 4, "21871fa9a580060b", 3, 0],
  ["order:7f3a", 18345657545900744594n, "fe98de56aa60df92", 2, 2, "f20155217ed7e5a5", 1, 1],
];

Deno.test("H and P vectors: orderingKeyHash64, partitionHash64, partitionForOrderingKey", () => {
  for (const [key, h, hHex, mod4, mod8, pHex, p4, p3] of H_VECTORS) {
    const got = orderingKeyHash64(key);
    assert.equal(got, h, key);
    assert.equal(got.toString(16).padStart(16, "0"), hHex);
    assert.equal(Number(got % 4n), mod4);
    assert.equal(Number(got % 8n), mod8);
    assert.equal(orderingKeyHash64(new TextEncoder().encode(key)), h, "bytes = UTF-8 string");
    assert.equal(partitionHash64(key).toString(16).padStart(16, "0"), pHex, key);
    assert.equal(partitionForOrderingKey(key, 4), p4, key);
    assert.equal(partitionForOrderingKey(key, 3), p3, key);
    assert.equal(partitionForOrderingKey(key, 1), 0);
    assert.equal(partitionForOrderingKey(key, 0), 0);
  }
  // The reference example: customer-42 on customer-updates with 4 partitions → __p3.
  assert.equal(partitionForOrderingKey("customer-42", 4), 3);
  // Multiply then ADD (not FNV-1a XOR): one byte 0x01 gives basis * prime + 1.
  const one = orderingKeyHash64(new Uint8Array([1]));
  assert.equal(one, (14695981039346656037n * 1099511628211n + 1n) % (1n << 64n));
});

Deno.test("canonical JSON: keys sorted by UTF-8 bytes, not JS UTF-16 sort", () => {
  // U+FF61 (UTF-8 EF BD A1) sorts before U+1F600 (F0 9F 98 80) by bytes, but after it in UTF-16
  // (FF61 > D83D), which is what Array.prototype.sort does.
  const value = { "😀": 1, "｡": 2, "b": 3, "a": { "é": 1, "z": 2, "e": 3 } };
  assert.deepEqual(Object.keys(value).sort(), ["a", "b", "😀", "｡"]);
  assert.equal(canonicalJson(value), '{"a":{"e":3,"z":2,"é":1},"b":3,"｡":2,"😀":1}');
  assert.equal(canonicalJson([3, 1, 2]), "[3,1,2]", "arrays keep order");
  assert.equal(canonicalJson({ a: undefined, b: 1 }), '{"b":1}', "undefined members are dropped");
  assert.equal(canonicalJson(-0), "0");
  assert.equal(canonicalJson(Number.MAX_SAFE_INTEGER), "9007199254740991");
  assert.equal(canonicalJson(-Number.MAX_SAFE_INTEGER), "-9007199254740991");
  assert.equal(canonicalJson({}), "{}");
  assert.equal(canonicalJson([]), "[]");
  assert.equal(canonicalJson(null), "null");
  assert.equal(canonicalJson({ t: true, f: false }), '{"f":false,"t":true}');
});

Deno.test("canonical JSON: string escapes", () => {
  const s = '"\\\b\t\n\f\r\u0001\u001f\u007f/é\u2028😀';
  assert.equal(
    canonicalJson(s),
    '"\\"\\\\\\b\\t\\n\\f\\r\\u0001\\u001f\u007f/é\u2028😀"',
  );
  assert.equal(canonicalJson({ "\n": "x" }), '{"\\n":"x"}');
});

Deno.test("canonical JSON rejects 1.5, 2**60, non-finite numbers and lone surrogates", () => {
  const bad: [unknown, string][] = [
    [1.5, "args"],
    [{ a: [1, 2 ** 60] }, "args.a[1]"],
    [2 ** 53, "args"],
    [-(2 ** 53), "args"],
    [NaN, "args"],
    [Infinity, "args"],
    [1e16, "args"],
    ["\ud800", "args"],
    [{ x: "a\udc00b" }, "args.x"],
    [{ ["\ud83d"]: 1 }, "args"],
    [1n, "args"],
    [() => 1, "args"],
  ];
  for (const [v, field] of bad) {
    assert.throws(
      () => canonicalJson(v),
      (e) => e instanceof ValidationError && e.code === "VALIDATION" && e.field === field,
      String(v),
    );
  }
  // A well-formed surrogate pair is fine.
  assert.equal(canonicalJson("😀"), '"😀"');
});

Deno.test("stateMaskBits: leftmost character is bit 0 (scheduled)", () => {
  assert.equal(stateMaskBits(DEFAULT_UNIQUE_STATES), "11111000");
  assert.equal(stateMaskBits([]), "00000000");
  assert.equal(stateMaskBits(["scheduled"]), "10000000");
  assert.equal(stateMaskBits(["available"]), "01000000");
  assert.equal(stateMaskBits(["waiting_external"]), "00000001");
  assert.equal(stateMaskBits(["completed", "available"]), "01010000");
});

const t = await testDatabase("hash");

Deno.test({
  name: "SQL awa.ordering_key_hash64 agrees with the TS Algorithm H",
  ...POOL_TEST,
  async fn() {
    for (const [key, h] of H_VECTORS) {
      const [r] = await t.sql<{ h: string }[]>`
        SELECT awa.ordering_key_hash64(convert_to(${key}, 'UTF8'))::text AS h`;
      assert.equal(BigInt(r.h), h, key);
    }
    // Random byte strings, including 0x00 and 0xff, all in one round trip.
    const samples = fc.sample(fc.uint8Array({ minLength: 0, maxLength: 64 }), {
      numRuns: 300,
      seed: 20240601,
    });
    const hex = samples.map((b) => bytesToHex(b));
    const rows = await t.sql<{ i: number; h: string }[]>`
      SELECT i::int, awa.ordering_key_hash64(decode(k, 'hex'))::text AS h
      FROM unnest(${hex}::text[]) WITH ORDINALITY AS u(k, i) ORDER BY i`;
    assert.equal(rows.length, samples.length);
    rows.forEach((r, i) => assert.equal(BigInt(r.h), orderingKeyHash64(samples[i]), hex[i]));
    // And the shard the database picks for keyed inserts matches H mod S.
    const [s] = await t.sql<{ shard: number }[]>`
      SELECT enqueue_shard AS shard FROM awa.insert_job('hash_probe',
        p_ordering_key => convert_to('customer-42', 'UTF8'))`;
    assert.equal(s.shard, Number(orderingKeyHash64("customer-42") % 4n));
  },
});

Deno.test({
  name: "close hash database",
  ...POOL_TEST,
  async fn() {
    await t.close();
  },
});
