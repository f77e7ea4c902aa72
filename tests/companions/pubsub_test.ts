/**
 * Pub/sub over the shared notifier (docs/pubsub.md): transactional publish (rollback delivers
 * nothing, commit delivers once), delivery to subscribers in two processes, re-listen after the
 * LISTEN backend is killed, the payload limit (oversized payloads are refused), and typed errors
 * for bad channel names, non-JSON payloads and bad arguments.
 */
import assert from "node:assert/strict";
import {
  defineChannel,
  MAX_PUBLISH_BYTES,
  migrate,
  PayloadTooLargeError,
  publish,
  subscribe,
  ValidationError,
} from "../../mod.ts";
import { LISTEN_APPLICATION_NAME } from "../../src/db/notifier.ts";
import { testDatabase } from "../support/db.ts";
import { POOL_TEST, sleep, waitFor } from "../support/runtime.ts";
import { Child } from "./children.ts";

const t = await testDatabase("pubsub");
await migrate(t.sql, { schema: "awa_b" });
const sql = t.sql;

type Order = { id: number; total: number };
const orders = defineChannel<Order>("orders", {
  validate: (o) => {
    if (typeof o.id !== "number") throw new Error("id must be a number");
  },
});

/** Collect messages of `channel` until the returned subscription is disposed. */
async function collect<P>(channel: ReturnType<typeof defineChannel<P>>, schema?: string) {
  const got: P[] = [];
  const errors: unknown[] = [];
  const sub = await subscribe(sql, channel, (p) => void got.push(p), {
    schema,
    onError: (e) => void errors.push(e),
    checkIntervalMs: 0,
  });
  return { got, errors, sub };
}

Deno.test({
  name: "pubsub: a publish in a rolled-back transaction delivers nothing; a commit delivers once",
  ...POOL_TEST,
  async fn() {
    const { got, sub } = await collect(orders);
    try {
      await sql.begin(async (tx) => {
        await publish(tx, orders, { id: 1, total: 10 });
        throw new Error("roll back");
      }).catch(() => {});
      await sql.begin(async (tx) => {
        await publish(tx, orders, { id: 2, total: 20 });
        // Not delivered before the commit.
        await sleep(150);
        assert.deepEqual(got, []);
      });
      await waitFor("the committed message", () => got.length === 1);
      // A sentinel published after both: once it arrives, nothing else is still in flight.
      await publish(sql, orders, { id: 3, total: 30 });
      await waitFor("the sentinel", () => got.length === 2);
      assert.deepEqual(got, [{ id: 2, total: 20 }, { id: 3, total: 30 }]);
    } finally {
      await sub.unsubscribe();
    }
  },
});

Deno.test({
  name: "pubsub: channels are scoped to the schema and apart from queue wakeups",
  ...POOL_TEST,
  async fn() {
    const a = await collect(orders);
    const b = await collect(orders, "awa_b");
    try {
      await publish(sql, orders, { id: 1, total: 1 }, { schema: "awa_b" });
      // A queue named like the channel: its wakeup is not a message.
      await sql`SELECT pg_notify(awa.notify_channel('orders'), 'wake')`;
      await publish(sql, orders, { id: 2, total: 2 });
      await waitFor("both messages", () => a.got.length === 1 && b.got.length === 1);
      await sleep(100);
      assert.deepEqual(a.got, [{ id: 2, total: 2 }]);
      assert.deepEqual(b.got, [{ id: 1, total: 1 }]);
      assert.deepEqual(a.errors, []);
    } finally {
      await a.sub.unsubscribe();
      await b.sub.unsubscribe();
    }
  },
});

Deno.test({
  name: "pubsub: a commit delivers once to every subscriber in two processes",
  ...POOL_TEST,
  async fn() {
    const children = [0, 1].map(() => new Child(["subscribe", t.url, "fanout"]));
    try {
      await Promise.all(children.map((c) => c.line((l) => l.ready === true)));
      const fanout = defineChannel<{ n: number }>("fanout");
      const local = await collect(fanout);
      try {
        await sql.begin(async (tx) => {
          for (let n = 0; n < 5; n++) await publish(tx, fanout, { n });
        });
        const want = [0, 1, 2, 3, 4].map((n) => ({ n }));
        for (const c of children) {
          await c.line(() => c.lines.filter((l) => "msg" in l).length >= 5);
        }
        await waitFor("the local subscriber", () => local.got.length === 5);
        // A sentinel after them: anything duplicated would have arrived before it.
        await publish(sql, fanout, { n: 99 });
        for (const c of children) await c.line((l) => (l.msg as { n: number })?.n === 99);
        await waitFor("the local sentinel", () => local.got.length === 6);
        for (const c of children) {
          assert.deepEqual(c.lines.filter((l) => "msg" in l).map((l) => l.msg), [
            ...want,
            { n: 99 },
          ]);
        }
        assert.deepEqual(local.got, [...want, { n: 99 }]);
      } finally {
        await local.sub.unsubscribe();
      }
    } finally {
      for (const c of children) assert.equal((await c.stop()).code, 0);
    }
  },
});

Deno.test({
  name:
    "pubsub: all subscriptions share one LISTEN connection, re-listened after its backend is killed",
  ...POOL_TEST,
  async fn() {
    const listenBackends = async () =>
      (await sql<{ pid: number }[]>`
        SELECT pid FROM pg_stat_activity
        WHERE datname = current_database() AND application_name = ${LISTEN_APPLICATION_NAME}`)
        .map((r) => r.pid);
    const other = defineChannel<string>("other");
    let relistened = 0;
    const got: Order[] = [];
    const sub = await subscribe(sql, orders, (o) => void got.push(o), {
      checkIntervalMs: 0,
      onRelisten: () => relistened++,
      onError: () => {},
    });
    const sub2 = await subscribe(sql, other, () => {}, { checkIntervalMs: 0 });
    try {
      const [pid, ...more] = await listenBackends();
      assert.deepEqual(more, [], "one LISTEN connection for every subscription");
      await sql`SELECT pg_terminate_backend(${pid})`;
      await waitFor("the re-listen", () => relistened === 1);
      const [next] = await listenBackends();
      assert.notEqual(next, pid);
      await publish(sql, orders, { id: 7, total: 70 });
      await waitFor("a message after the re-listen", () => got.length === 1);
      assert.deepEqual(got, [{ id: 7, total: 70 }]);
    } finally {
      await sub.unsubscribe();
      await sub2.unsubscribe();
    }
    await waitFor(
      "the LISTEN connection closed",
      async () => (await listenBackends()).length === 0,
    );
  },
});

Deno.test({
  name: "pubsub: payloads up to 7999 bytes of JSON arrive; larger ones are refused, nothing sent",
  ...POOL_TEST,
  async fn() {
    const blobs = defineChannel<string>("blobs");
    const { got, sub } = await collect(blobs);
    try {
      // JSON adds the two quotes.
      const largest = "x".repeat(MAX_PUBLISH_BYTES - 2);
      await publish(sql, blobs, largest);
      await waitFor("the largest payload", () => got.length === 1);
      const err = await sql.begin(async (tx) => {
        await publish(tx, blobs, "small");
        return await publish(tx, blobs, largest + "é").catch((e) => e);
      });
      assert.ok(err instanceof PayloadTooLargeError, String(err));
      assert.equal(err.code, "PAYLOAD_TOO_LARGE");
      assert.equal(err.bytes, MAX_PUBLISH_BYTES + 2);
      assert.equal(err.limitBytes, 7999);
      await waitFor("the transaction's other message", () => got.length === 2);
      await sleep(100);
      assert.deepEqual(got, [largest, "small"]);
    } finally {
      await sub.unsubscribe();
    }
  },
});

Deno.test({
  name: "pubsub: bad channel names, non-JSON payloads and bad arguments are typed errors",
  ...POOL_TEST,
  async fn() {
    for (const name of ["", "a b", "-x", "x".repeat(59), "é", 42, "has#hash", "a;drop"]) {
      assert.throws(() => defineChannel(name as string), ValidationError, String(name));
    }
    assert.throws(() => defineChannel("ok", { validate: async () => {} }), ValidationError);
    assert.throws(() => defineChannel("ok", { nope: 1 } as never), ValidationError);
    const any = defineChannel<unknown>("any");
    for (
      const bad of [undefined, () => 1, 1n, NaN, Symbol("s"), new Date(), { a: [1, , 3] }, "\u0000"]
    ) {
      await assert.rejects(publish(sql, any, bad), ValidationError, String(typeof bad));
    }
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    await assert.rejects(publish(sql, any, cyclic), ValidationError);
    await assert.rejects(publish(sql, orders, { id: "1" } as never), ValidationError);
    await assert.rejects(publish(sql, { name: "x y" } as never, 1), ValidationError);
    await assert.rejects(publish(sql, any, 1, { schema: "Bad" }), ValidationError);
    await assert.rejects(publish(sql, any, 1, { nope: 1 } as never), ValidationError);
    await assert.rejects(subscribe(sql, any, "no" as never), ValidationError);
    await sql.begin(async (tx) => {
      await assert.rejects(subscribe(tx as never, any, () => {}), ValidationError);
    });
    await assert.rejects(subscribe(sql, any, () => {}, { checkIntervalMs: -1 }), ValidationError);
    await assert.rejects(subscribe(sql, any, () => {}, { signal: "x" as never }), ValidationError);
    const aborted = AbortSignal.abort(new Error("gone"));
    await assert.rejects(subscribe(sql, any, () => {}, { signal: aborted }), /gone/);
  },
});

Deno.test({
  name:
    "pubsub: a foreign non-JSON notice, an invalid payload and a throwing handler go to onError",
  ...POOL_TEST,
  async fn() {
    const got: Order[] = [];
    const errors: unknown[] = [];
    const sub = await subscribe(sql, orders, (o) => {
      got.push(o);
      if (o.id === 2) throw new Error("handler failed");
    }, { checkIntervalMs: 0, onError: (e) => void errors.push(e) });
    try {
      await sql`SELECT pg_notify(awa.notify_channel('#orders'), 'not json')`;
      await sql`SELECT pg_notify(awa.notify_channel('#orders'), '{"id":"x"}')`;
      await publish(sql, orders, { id: 2, total: 1 });
      await publish(sql, orders, { id: 3, total: 1 });
      await waitFor("the valid messages", () => got.length === 2);
      assert.deepEqual(got.map((o) => o.id), [2, 3]);
      assert.equal(errors.length, 3);
      assert.ok(errors[0] instanceof ValidationError && /not JSON/.test(errors[0].message));
      assert.ok(
        errors[1] instanceof ValidationError && /id must be a number/.test(errors[1].message),
      );
      assert.match(String(errors[2]), /handler failed/);
    } finally {
      await sub.unsubscribe();
    }
  },
});

Deno.test({
  name: "pubsub: aborting the signal unsubscribes; await using unsubscribes at scope end",
  ...POOL_TEST,
  async fn() {
    const ping = defineChannel<number>("ping");
    const got: number[] = [];
    const ac = new AbortController();
    await subscribe(sql, ping, (n) => void got.push(n), { signal: ac.signal, checkIntervalMs: 0 });
    {
      await using _scoped = await subscribe(sql, ping, (n) => void got.push(-n), {
        checkIntervalMs: 0,
      });
      await publish(sql, ping, 1);
      await waitFor("both subscribers", () => got.length === 2);
    }
    await publish(sql, ping, 2);
    await waitFor("the signal's subscriber", () => got.length === 3);
    ac.abort();
    await sleep(50);
    await publish(sql, ping, 3);
    await sleep(200);
    assert.deepEqual(got.sort(), [-1, 1, 2]);
  },
});

Deno.test({ name: "pubsub: teardown", ...POOL_TEST, fn: () => t.close() });
