/**
 * BullMQ driver (Redis, not Postgres: it has no dead tuples, so it appears only in the
 * throughput and latency tables). Configured for throughput as BullMQ documents it: one Worker
 * with `concurrency` = the worker count, `removeOnComplete` so finished jobs do not accumulate,
 * `addBulk` for batches, ioredis connections with `maxRetriesPerRequest: null` (required for
 * workers). The queue lives under its own prefix and is obliterated on reset; nothing else in
 * Redis is touched.
 */
import { readFileSync } from "node:fs";
import { serve } from "../lib/harness.mjs";

// Peer packages are loaded with a computed specifier: Node resolves them from
// bench/peers/node_modules, while `deno check bench/` (which has no such import map) skips them.
const load = (/** @type {string} */ name) => import(name);
const { Queue, Worker } = await load("bullmq");
const { Redis } = await load("ioredis");

const QUEUE = "noop";
const PREFIX = "awa-bench";
const JOB_OPTS = { removeOnComplete: true, removeOnFail: 1000 };

/** @type {import("../lib/harness.mjs").InitConfig} */
let cfg;
let queue;
let worker;
const connections = [];

function pkgVersion(/** @type {string} */ name) {
  const url = new URL(`./node_modules/${name}/package.json`, import.meta.url);
  return JSON.parse(readFileSync(url, "utf8")).version;
}

function connect() {
  const c = new Redis(cfg.redisUrl, { maxRetriesPerRequest: null });
  connections.push(c);
  return c;
}

/** @type {import("../lib/harness.mjs").Driver} */
const driver = {
  async init(c) {
    cfg = c;
    queue = new Queue(QUEUE, { connection: connect(), prefix: PREFIX });
    if (!c.follower) await queue.obliterate({ force: true });
    const redis = connections[0];
    const serverInfo = await redis.info("server");
    const redisVersion = /redis_version:(\S+)/.exec(serverInfo)?.[1] ?? "unknown";
    return {
      version: `bullmq ${pkgVersion("bullmq")} (ioredis ${
        pkgVersion("ioredis")
      }, redis ${redisVersion})`,
      runtime: `node ${process.versions.node}`,
      settings: {
        job_options: JOB_OPTS,
        worker: "new Worker(queue, handler, { concurrency: W }) — one worker, W concurrent jobs",
        insert: "queue.add() per single job; queue.addBulk() per batch",
        prefix: PREFIX,
      },
      schemas: null,
    };
  },
  async reset() {
    await worker?.close(true);
    worker = undefined;
    await queue?.obliterate({ force: true });
  },
  async insertOne(args) {
    await queue.add(QUEUE, args, JOB_OPTS);
  },
  async insertBatch(batch) {
    await queue.addBulk(
      batch.map((data) => ({ name: QUEUE, data, opts: JOB_OPTS })),
    );
  },
  async startWorkers(workers, handle) {
    worker = new Worker(
      QUEUE,
      (job) => {
        handle(job.data);
        return Promise.resolve();
      },
      { connection: connect(), prefix: PREFIX, concurrency: workers },
    );
    worker.on("error", (err) => console.error("[bullmq error]", err.message));
    await worker.waitUntilReady();
    return { concurrency: workers };
  },
  async stopWorkers() {
    await worker?.close();
    worker = undefined;
  },
  async close() {
    await worker?.close();
    await queue?.obliterate({ force: true }).catch(() => {});
    await queue?.close();
    for (const c of connections) c.disconnect();
  },
};

serve(driver);
