// @ts-check
/**
 * The driver side of the bench protocol, shared by every system (Awa and raw SKIP LOCKED under
 * Deno, the peers under Node 22). Plain JavaScript so that both runtimes load it unchanged.
 *
 * A driver process reads one JSON request per line on stdin — `{"id":1,"cmd":"enqueue_single",
 * "n":500}` — and answers with one JSON line on stdout — `{"id":1,"ok":true,...}` or
 * `{"id":1,"ok":false,"error":"..."}`. Requests may overlap (the orchestrator polls `stats` while
 * `offer` runs). Everything that is common to all systems lives here, so a driver only supplies
 * the six operations of {@link Driver}: the loops, the pacing, the clocks and the latency
 * percentiles are literally the same code for every system.
 *
 * Latency is measured inside one process: the job's args carry `t0` (wall clock in ms with
 * sub-millisecond precision, `performance.timeOrigin + performance.now()`) taken just before the
 * insert call, and the handler records `now - t0` as its first action.
 */
import process from "node:process";
import { createInterface } from "node:readline";

/**
 * @typedef {{ t0: number, p?: string }} JobArgs
 * @typedef {(args: JobArgs) => void} Handle
 * @typedef {{
 *   url: string,
 *   redisUrl?: string,
 *   poolMax: number,
 *   payloadBytes: number,
 *   follower?: boolean,
 *   [key: string]: unknown,
 * }} InitConfig
 * @typedef {{
 *   version: string,
 *   runtime: string,
 *   settings: Record<string, unknown>,
 *   schemas: string[] | null,
 *   unsupported?: string,
 * }} DriverInfo
 * @typedef {{
 *   init(cfg: InitConfig): Promise<DriverInfo>,
 *   reset(): Promise<void>,
 *   insertOne(args: JobArgs): Promise<void>,
 *   insertBatch(args: JobArgs[]): Promise<void>,
 *   startWorkers(workers: number, handle: Handle): Promise<Record<string, unknown> | void>,
 *   stopWorkers(): Promise<void>,
 *   close(): Promise<void>,
 *   concurrencyKeys?(limit: number | null, keys: number): Promise<void>,
 * }} Driver
 *
 * `concurrencyKeys` (optional, for systems with fleet-wide per-key limits): until the next
 * reset, spread inserted jobs round-robin over `keys` keys with at most `limit` running per key;
 * null inserts without keys.
 */

/** Wall-clock milliseconds with sub-millisecond resolution. */
export function nowMs() {
  return performance.timeOrigin + performance.now();
}

/** @param {number} ms */
export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Percentiles by nearest rank over a copy of `samples`.
 * @param {number[]} samples
 */
export function summarize(samples) {
  if (samples.length === 0) {
    return { count: 0, mean: null, p50: null, p95: null, p99: null, max: null };
  }
  const s = Float64Array.from(samples).sort();
  /** @param {number} q */
  const at = (q) => s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))];
  let sum = 0;
  for (const v of s) sum += v;
  const r = (/** @type {number} */ v) => Math.round(v * 1000) / 1000;
  return {
    count: s.length,
    mean: r(sum / s.length),
    p50: r(at(0.5)),
    p95: r(at(0.95)),
    p99: r(at(0.99)),
    max: r(s[s.length - 1]),
  };
}

/**
 * Run a driver: serve requests from stdin until `close` or end of input.
 * @param {Driver} driver
 */
export function serve(driver) {
  /** @type {number[]} */
  let latencies = [];
  let completed = 0;
  let lastHandledAt = 0;
  let workersStartedAt = 0;
  let payload = "";
  /** @type {{ n: number, resolve: () => void }[]} */
  let waiters = [];

  /** @type {Handle} */
  const handle = (args) => {
    const lat = nowMs() - args.t0;
    latencies.push(lat);
    completed++;
    lastHandledAt = lat + args.t0;
    if (waiters.length > 0) {
      const still = [];
      for (const w of waiters) {
        if (completed >= w.n) w.resolve();
        else still.push(w);
      }
      waiters = still;
    }
  };

  /** @returns {JobArgs} */
  const makeArgs = () => (payload ? { t0: nowMs(), p: payload } : { t0: nowMs() });

  /**
   * @param {number} n
   * @param {number} timeoutMs
   */
  const waitCompleted = (n, timeoutMs) =>
    new Promise((resolve) => {
      if (completed >= n) return resolve(true);
      const timer = setTimeout(() => {
        waiters = waiters.filter((w) => w !== entry);
        resolve(false);
      }, timeoutMs);
      const entry = {
        n,
        resolve: () => {
          clearTimeout(timer);
          resolve(true);
        },
      };
      waiters.push(entry);
    });

  /** @type {Record<string, (req: any) => Promise<Record<string, unknown>>>} */
  const commands = {
    async init(req) {
      payload = "x".repeat(req.cfg.payloadBytes ?? 0);
      const info = await driver.init(req.cfg);
      return { info };
    },
    async reset() {
      const t = nowMs();
      await driver.reset();
      latencies = [];
      completed = 0;
      return { elapsed_ms: nowMs() - t };
    },
    async keys(req) {
      if (!driver.concurrencyKeys) return { supported: false };
      await driver.concurrencyKeys(req.limit, req.keys);
      return { supported: true };
    },
    async enqueue_single(req) {
      const t = nowMs();
      for (let i = 0; i < req.n; i++) await driver.insertOne(makeArgs());
      return { elapsed_ms: nowMs() - t, n: req.n };
    },
    async enqueue_batch(req) {
      const t = nowMs();
      let left = req.n;
      while (left > 0) {
        const k = Math.min(left, req.batch);
        await driver.insertBatch(Array.from({ length: k }, makeArgs));
        left -= k;
      }
      return { elapsed_ms: nowMs() - t, n: req.n };
    },
    async enqueue_concurrent(req) {
      const per = Math.ceil(req.n / req.producers);
      const t = nowMs();
      await Promise.all(
        Array.from({ length: req.producers }, async () => {
          for (let i = 0; i < per; i++) await driver.insertOne(makeArgs());
        }),
      );
      return { elapsed_ms: nowMs() - t, n: per * req.producers };
    },
    async start(req) {
      latencies = [];
      completed = 0;
      workersStartedAt = nowMs();
      const settings = await driver.startWorkers(req.workers, handle);
      return { start_ms: nowMs() - workersStartedAt, settings: settings ?? {} };
    },
    async wait(req) {
      const done = await waitCompleted(req.n, req.timeout_ms);
      return { done, completed, elapsed_ms: nowMs() - workersStartedAt };
    },
    stats() {
      return Promise.resolve({ completed, at: nowMs(), last_handled_at: lastHandledAt });
    },
    take_latencies() {
      const s = summarize(latencies);
      latencies = [];
      return Promise.resolve({ latency_ms: s });
    },
    // The raw samples, for the fleet: the orchestrator merges them over processes.
    take_latency_samples() {
      const samples = latencies.map((v) => Math.round(v * 1000) / 1000);
      latencies = [];
      return Promise.resolve({ samples });
    },
    async stop() {
      const t = nowMs();
      await driver.stopWorkers();
      return { elapsed_ms: nowMs() - t, completed };
    },
    async pickup(req) {
      const base = completed;
      latencies = [];
      for (let i = 0; i < req.n; i++) {
        await driver.insertOne(makeArgs());
        await waitCompleted(base + i + 1, req.gap_ms * 20 + 5000);
        await sleep(req.gap_ms * (0.5 + Math.random()));
      }
      const done = await waitCompleted(base + req.n, req.timeout_ms ?? 30000);
      const s = summarize(latencies);
      latencies = [];
      return { done, latency_ms: s };
    },
    async offer(req) {
      // Fixed offered rate: every tick, insert (as one batch) the jobs that have come due.
      const start = nowMs();
      const total = Math.round(req.rate * req.seconds);
      let offered = 0;
      let maxBatch = 0;
      while (offered < total) {
        const due = Math.min(total, Math.floor((req.rate * (nowMs() - start)) / 1000));
        const k = Math.min(due - offered, req.max_batch ?? 5000);
        if (k > 0) {
          await driver.insertBatch(Array.from({ length: k }, makeArgs));
          offered += k;
          if (k > maxBatch) maxBatch = k;
        } else {
          await sleep(req.tick_ms ?? 10);
        }
      }
      const elapsed = nowMs() - start;
      return { offered, elapsed_ms: elapsed, achieved_rate: offered / (elapsed / 1000), maxBatch };
    },
    async close() {
      await driver.close();
      setTimeout(() => process.exit(0), 10);
      return {};
    },
  };

  /** @param {Record<string, unknown>} msg */
  const send = (msg) => {
    process.stdout.write(JSON.stringify(msg) + "\n");
  };

  const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
  rl.on("line", (line) => {
    if (!line.trim()) return;
    /** @type {any} */
    let req;
    try {
      req = JSON.parse(line);
    } catch {
      send({ id: null, ok: false, error: `bad request line: ${line.slice(0, 200)}` });
      return;
    }
    const fn = commands[req.cmd];
    if (!fn) {
      send({ id: req.id, ok: false, error: `unknown command ${req.cmd}` });
      return;
    }
    fn(req).then(
      (res) => send({ id: req.id, ok: true, ...res }),
      (err) =>
        send({
          id: req.id,
          ok: false,
          error: err instanceof Error ? (err.stack ?? err.message) : String(err),
        }),
    );
  });
  rl.on("close", () => {
    driver.close().finally(() => process.exit(0));
  });
}
