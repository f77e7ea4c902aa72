/**
 * Awa driver: the public API only (mod.ts), Deno + postgres.js, as a user would write it.
 *
 * mod.ts is imported dynamically so that the bench (and `deno check bench/`) keeps working while
 * the engine is being written; without it, `init` fails with "Awa engine not available yet".
 */
import postgres from "postgres";
import { type Driver, type Handle, type JobArgs, serve } from "../lib/harness.mjs";
import { npmVersion } from "../lib/versions.ts";

const SCHEMA = "awa";
const QUEUE = "bench";

// The slice of mod.ts this driver uses (see /work/shared/design/api.md).
interface JobKind {
  readonly kind?: string;
}
interface AwaClient {
  work(kind: JobKind, handler: (job: { args: JobArgs }, ctx: unknown) => Promise<unknown>): void;
  start(): Promise<void>;
  shutdown(opts?: { timeoutMs?: number }): Promise<void>;
}
interface AwaModule {
  migrate(sql: postgres.Sql, opts?: { schema?: string }): Promise<unknown>;
  defineJob<T>(kind: string, opts: { queue: string }): JobKind & { __args?: T };
  insert(sql: postgres.Sql, kind: JobKind, args: JobArgs): Promise<unknown>;
  insertMany(sql: postgres.Sql, kind: JobKind, jobs: { args: JobArgs }[]): Promise<unknown>;
  Client: new (
    sql: postgres.Sql,
    opts: { queues: Record<string, { maxWorkers: number }> },
  ) => AwaClient;
}

let awa: AwaModule;
let sql: postgres.Sql;
let noop: JobKind;
let client: AwaClient | undefined;

async function loadEngine(): Promise<AwaModule> {
  const modUrl = new URL("../../mod.ts", import.meta.url);
  try {
    await Deno.stat(modUrl);
  } catch {
    throw new Error(`Awa engine not available yet (${modUrl.pathname} does not exist)`);
  }
  const spec = modUrl.href; // a computed specifier keeps `deno check bench/` independent of mod.ts
  const mod = await import(spec) as Partial<AwaModule>;
  for (const name of ["migrate", "defineJob", "insert", "insertMany", "Client"] as const) {
    if (typeof mod[name] !== "function") {
      throw new Error(`Awa engine not available yet (mod.ts does not export ${name})`);
    }
  }
  return mod as AwaModule;
}

async function install(): Promise<void> {
  await sql.unsafe(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
  await awa.migrate(sql, { schema: SCHEMA });
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
    awa = await loadEngine();
    sql = postgres(cfg.url, { max: cfg.poolMax, onnotice: () => {} });
    noop = awa.defineJob<JobArgs>("bench_noop", { queue: QUEUE });
    await install();
    return {
      version: `awa ${engineVersion()} @ ${await gitCommit()} (postgres.js ${
        npmVersion("postgres")
      })`,
      runtime: `deno ${Deno.version.deno}`,
      settings: {
        migrate: { schema: SCHEMA },
        client: "new Client(sql, { queues: { bench: { maxWorkers: W } } })",
        insert: "insert() per single job; insertMany() (COPY) per batch",
        pool_max: cfg.poolMax,
      },
      schemas: [SCHEMA],
    };
  },
  async reset() {
    await install();
  },
  async insertOne(args) {
    await awa.insert(sql, noop, args);
  },
  async insertBatch(batch) {
    await awa.insertMany(sql, noop, batch.map((args) => ({ args })));
  },
  async startWorkers(workers: number, handle: Handle) {
    client = new awa.Client(sql, { queues: { [QUEUE]: { maxWorkers: workers } } });
    client.work(noop, (job) => {
      handle(job.args);
      return Promise.resolve();
    });
    await client.start();
    return { maxWorkers: workers };
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
