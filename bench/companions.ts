/**
 * Pub/sub and cache numbers from one process (docs/pubsub.md, docs/cache.md):
 *
 * - publish → deliver latency on an idle connection: one message at a time, each published on a
 *   pool and timed until its subscriber's handler runs; p50 / p95 / p99 in ms.
 * - cache get and set per second, sequential (one at a time) and with 16 in flight.
 *
 *   DATABASE_URL=postgres://… deno run -A bench/companions.ts [--messages 1000] [--seconds 3]
 *
 * Without DATABASE_URL it starts an embedded PostgreSQL. It creates and drops its own database.
 * @module
 */
import postgres from "postgres";
import { parseArgs } from "node:util";
import { Cache, defineChannel, migrate, publish, subscribe, withNoDelay } from "../mod.ts";
import { startEmbeddedPostgres } from "../dev/embedded_postgres.ts";

const { values: args } = parseArgs({
  args: Deno.args,
  options: {
    messages: { type: "string", default: "1000" },
    seconds: { type: "string", default: "3" },
  },
});
const MESSAGES = Number(args.messages);
const SECONDS = Number(args.seconds);

let serverUrl = Deno.env.get("DATABASE_URL");
let stop: (() => Promise<void>) | undefined;
if (!serverUrl) ({ url: serverUrl, stop } = await startEmbeddedPostgres());
const dbName = `awa_bench_companions_${Deno.pid}`;
const admin = postgres(serverUrl, { max: 1, onnotice() {} });
await admin.unsafe(`CREATE DATABASE ${dbName}`);
const url = new URL(serverUrl);
url.pathname = `/${dbName}`;
const sql = postgres(url.toString(), withNoDelay({ max: 16, onnotice() {} }));

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

async function rate(inFlight: number, op: (i: number) => Promise<unknown>): Promise<number> {
  let done = 0;
  const until = performance.now() + SECONDS * 1000;
  await Promise.all(Array.from({ length: inFlight }, async (_, w) => {
    for (let i = w; performance.now() < until; i += inFlight) {
      await op(i);
      done++;
    }
  }));
  return Math.round(done / SECONDS);
}

try {
  await migrate(sql);
  const ping = defineChannel<{ i: number }>("bench_ping");
  let arrived: ((i: number) => void) | null = null;
  const sub = await subscribe(sql, ping, ({ i }) => arrived?.(i), { checkIntervalMs: 0 });
  const latencies: number[] = [];
  for (let i = 0; i < MESSAGES + 50; i++) {
    const got = new Promise<number>((r) => arrived = r);
    const t0 = performance.now();
    await publish(sql, ping, { i });
    await got;
    // The first 50 warm up the connections and the JIT.
    if (i >= 50) latencies.push(performance.now() - t0);
  }
  await sub.unsubscribe();
  latencies.sort((a, b) => a - b);
  const ms = (x: number) => x.toFixed(2);
  console.log(
    `publish → deliver (${MESSAGES} messages, idle): p50 ${ms(percentile(latencies, 0.5))} ms, ` +
      `p95 ${ms(percentile(latencies, 0.95))} ms, p99 ${ms(percentile(latencies, 0.99))} ms`,
  );

  const cache = new Cache<{ n: number; s: string }>(sql, { namespace: "bench", ttlMs: 600_000 });
  const value = (i: number) => ({ n: i, s: "x".repeat(100) });
  for (const inFlight of [1, 16]) {
    const sets = await rate(inFlight, (i) => cache.set(`k${i % 10_000}`, value(i)));
    const gets = await rate(inFlight, (i) => cache.get(`k${i % 10_000}`));
    console.log(`cache, ${inFlight} in flight: set ${sets}/s, get ${gets}/s (~120-byte values)`);
  }
} finally {
  await sql.end();
  await admin.unsafe(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
  await admin.end();
  await stop?.();
}
