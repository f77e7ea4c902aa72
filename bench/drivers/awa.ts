/**
 * Awa driver: the public API only (mod.ts), Deno + postgres.js, as a user would write it.
 */
import postgres from "postgres";
import { Client, defineJob, insert, insertMany, migrate, withNoDelay } from "../../mod.ts";
import { type Driver, type Handle, type JobArgs, serve } from "../lib/harness.mjs";
import { npmVersion } from "../lib/versions.ts";
import { setConcurrencyLimit } from "../../admin.ts";

const SCHEMA = "awa";
const QUEUE = "bench";
/** Jobs claimed ahead of free workers: matches graphile-worker's localQueue.size in this suite. */
const PREFETCH = 500;

let sql: postgres.Sql;
const noop = defineJob<JobArgs>("bench_noop", { queue: QUEUE });
let client: Client | undefined;
/** Keys to spread inserts over (the keyed drain), none when 0; `inserted` picks the next one. */
let keyCount = 0;
let inserted = 0;
const keyOpts = () => keyCount > 0 ? { concurrencyKey: `key-${inserted++ % keyCount}` } : {};

async function install(): Promise<void> {
  await sql.unsafe(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
  await migrate(sql, { schema: SCHEMA });
}

function engineVersion(): string {
  try {
    const cfg = JSON.parse(Deno.readTextFileSync(new URL("../../deno.json", import.meta.url)));
    return String(cfg.version ?? "unknown");
  } catch {
    return "unknown";
  }
}

async function gitCommit(): Promise<string> {
  try {
    const out = await new Deno.Command("git", {
      args: ["rev-parse", "--short", "HEAD"],
      cwd: new URL("../../", import.meta.url).pathname,
      stdout: "piped",
      stderr: "null",
    }).output();
    return new TextDecoder().decode(out.stdout).trim() || "unknown";
  } catch {
    return "unknown";
  }
}

const driver: Driver = {
  async init(cfg) {
    // TCP_NODELAY, as the README recommends (node-postgres, which the peers use, sets it too).
    sql = postgres(cfg.url, withNoDelay({ max: cfg.poolMax, onnotice: () => {} }));
    if (!cfg.follower) await install();
    return {
      version: `awa ${engineVersion()} @ ${await gitCommit()} (postgres.js ${
        npmVersion("postgres")
      })`,
      runtime: `deno ${Deno.version.deno}`,
      settings: {
        migrate: { schema: SCHEMA },
        client: `new Client(sql, { queues: { bench: { maxWorkers: W, prefetch: ${PREFETCH} } } })`,
        prefetch: "the same 500-job local buffer graphile-worker gets (localQueue.size 500)",
        insert: "insert() per single job; insertMany() (COPY) per batch",
        socket: "withNoDelay() (TCP_NODELAY), as the README recommends",
        pool_max: cfg.poolMax,
      },
      schemas: [SCHEMA],
    };
  },
  async reset() {
    keyCount = 0;
    inserted = 0;
    await install();
  },
  async insertOne(args) {
    await insert(sql, noop, args, keyOpts());
  },
  async insertBatch(batch) {
    await insertMany(sql, noop, batch.map((args) => ({ args, ...keyOpts() })));
  },
  async concurrencyKeys(limit, keys) {
    keyCount = limit === null ? 0 : keys;
    inserted = 0;
    await setConcurrencyLimit(sql, QUEUE, limit);
  },
  async startWorkers(workers: number, handle: Handle) {
    client = new Client(sql, {
      queues: { [QUEUE]: { maxWorkers: workers, prefetch: PREFETCH } },
    });
    client.work(noop, (job) => {
      handle(job.args);
      return Promise.resolve();
    });
    await client.start();
    return { maxWorkers: workers, prefetch: PREFETCH };
  },
  async stopWorkers() {
    await client?.shutdown({ timeoutMs: 10_000 });
    client = undefined;
  },
  async close() {
    await client?.shutdown({ timeoutMs: 5_000 });
    await sql?.end({ timeout: 2 });
  },
};

serve(driver);
