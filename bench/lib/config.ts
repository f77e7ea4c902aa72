/** Command-line flags of `deno task bench`. Every scenario size is a flag. */
import type { SystemId } from "./types.ts";

export interface Config {
  quick: boolean;
  durable: boolean;
  systems: SystemId[];
  out: string;
  payloadBytes: number;
  poolMax: number;
  workers: number;
  enqueueSingle: number;
  enqueueBatchJobs: number;
  batchSize: number;
  producers: number;
  concurrentJobs: number;
  drainJobs: number;
  drainWorkers: number[];
  pickupJobs: number;
  pickupGapMs: number;
  pickupWorkers: number;
  soakRate: number;
  soakSeconds: number;
  idleRate: number;
  idleSeconds: number;
  deepJobs: number;
  deepMeasure: number;
  loadRates: number[];
  loadSeconds: number;
  fleetProcesses: number[];
  fleetDrainJobs: number;
  fleetSoakRate: number;
  fleetSoakSeconds: number;
  keyedJobs: number;
  keyedKeys: number;
  keyedLimits: number[];
  keyedWorkers: number;
  keyedRounds: number;
  scenarios: string[];
}

export const ALL_SYSTEMS: SystemId[] = ["awa", "raw", "pgboss", "graphile", "bullmq", "bullmq_pg"];
export const ALL_SCENARIOS = [
  "enqueue",
  "drain",
  "pickup",
  "soak",
  "idle_tx",
  "deep",
  "load",
  "fleet",
  "keyed",
];

const QUICK: Omit<Config, "quick" | "durable" | "systems" | "out" | "scenarios"> = {
  payloadBytes: 64,
  poolMax: 10,
  workers: 32,
  enqueueSingle: 300,
  enqueueBatchJobs: 20_000,
  batchSize: 1000,
  producers: 4,
  concurrentJobs: 400,
  drainJobs: 2_000,
  drainWorkers: [4, 32],
  pickupJobs: 25,
  pickupGapMs: 40,
  pickupWorkers: 4,
  soakRate: 500,
  soakSeconds: 4,
  idleRate: 500,
  idleSeconds: 3,
  deepJobs: 10_000,
  deepMeasure: 1_000,
  loadRates: [200, 1000],
  loadSeconds: 1,
  fleetProcesses: [1, 2],
  fleetDrainJobs: 1_000,
  fleetSoakRate: 200,
  fleetSoakSeconds: 1,
  keyedJobs: 2_000,
  keyedKeys: 1_000,
  keyedLimits: [1, 4],
  keyedWorkers: 64,
  keyedRounds: 1,
};

const FULL: typeof QUICK = {
  payloadBytes: 64,
  poolMax: 10,
  workers: 32,
  enqueueSingle: 5_000,
  enqueueBatchJobs: 200_000,
  batchSize: 5_000,
  producers: 8,
  concurrentJobs: 8_000,
  drainJobs: 50_000,
  drainWorkers: [4, 16, 64],
  pickupJobs: 200,
  pickupGapMs: 50,
  pickupWorkers: 4,
  soakRate: 1_000,
  soakSeconds: 100,
  idleRate: 1_000,
  idleSeconds: 30,
  deepJobs: 1_000_000,
  deepMeasure: 20_000,
  loadRates: [500, 2_000, 5_000],
  loadSeconds: 20,
  fleetProcesses: [1, 2, 4],
  fleetDrainJobs: 50_000,
  fleetSoakRate: 1_000,
  fleetSoakSeconds: 20,
  keyedJobs: 20_000,
  keyedKeys: 1_000,
  keyedLimits: [1, 4],
  keyedWorkers: 64,
  keyedRounds: 3,
};

const FLAG_KEYS: Record<string, keyof typeof QUICK> = {
  "payload-bytes": "payloadBytes",
  "pool-max": "poolMax",
  "workers": "workers",
  "enqueue-single": "enqueueSingle",
  "enqueue-batch-jobs": "enqueueBatchJobs",
  "batch-size": "batchSize",
  "producers": "producers",
  "concurrent-jobs": "concurrentJobs",
  "drain-jobs": "drainJobs",
  "drain-workers": "drainWorkers",
  "pickup-jobs": "pickupJobs",
  "pickup-gap-ms": "pickupGapMs",
  "pickup-workers": "pickupWorkers",
  "soak-rate": "soakRate",
  "soak-seconds": "soakSeconds",
  "idle-rate": "idleRate",
  "idle-seconds": "idleSeconds",
  "deep-jobs": "deepJobs",
  "deep-measure": "deepMeasure",
  "load-rates": "loadRates",
  "load-seconds": "loadSeconds",
  "fleet-processes": "fleetProcesses",
  "fleet-drain-jobs": "fleetDrainJobs",
  "fleet-soak-rate": "fleetSoakRate",
  "fleet-soak-seconds": "fleetSoakSeconds",
  "keyed-jobs": "keyedJobs",
  "keyed-keys": "keyedKeys",
  "keyed-limits": "keyedLimits",
  "keyed-workers": "keyedWorkers",
  "keyed-rounds": "keyedRounds",
};

const LIST_KEYS = new Set<string>(["drainWorkers", "loadRates", "fleetProcesses", "keyedLimits"]);

export const USAGE = `deno task bench [flags]

  --quick                 small sizes (< 2 min); the CI smoke test
  --durable               fsync and synchronous_commit on: the embedded server is started so
                          (full_page_writes too); a DATABASE_URL server must already run so
                          (checked; the run stops otherwise)
  --systems=a,b,...       subset of ${ALL_SYSTEMS.join(",")} (default: all)
  --scenarios=a,b,...     subset of ${ALL_SCENARIOS.join(",")} (default: all)
  --out=DIR               where results go (default bench/results)
${
  Object.entries(FLAG_KEYS).map(([flag, key]) =>
    `  --${flag}=N`.padEnd(26) + `full ${fmtDefault(FULL[key])}, quick ${fmtDefault(QUICK[key])}`
  ).join("\n")
}

DATABASE_URL, when set, points at the server to use (a database "awa_bench" is created on it);
otherwise an embedded PostgreSQL 18 is started. BullMQ uses REDIS_URL (default
redis://127.0.0.1:6379) and is skipped when Redis does not answer.`;

function fmtDefault(v: number | number[]): string {
  return Array.isArray(v) ? v.join(",") : String(v);
}

export function parseArgs(args: string[]): Config | "help" {
  const quick = args.includes("--quick");
  const base = { ...(quick ? QUICK : FULL) };
  const cfg: Config = {
    ...base,
    quick,
    durable: false,
    systems: [...ALL_SYSTEMS],
    out: new URL("../results/", import.meta.url).pathname,
    scenarios: [...ALL_SCENARIOS],
  };
  for (const arg of args) {
    if (arg === "--help" || arg === "-h") return "help";
    if (arg === "--quick") continue;
    if (arg === "--durable") {
      cfg.durable = true;
      continue;
    }
    const m = /^--([a-z-]+)=(.*)$/.exec(arg);
    if (!m) throw new Error(`unknown argument ${arg}\n\n${USAGE}`);
    const [, flag, value] = m;
    if (flag === "systems") {
      const list = value.split(",").map((s) => s.trim()).filter(Boolean);
      for (const s of list) {
        if (!ALL_SYSTEMS.includes(s as SystemId)) throw new Error(`unknown system ${s}`);
      }
      cfg.systems = list as SystemId[];
    } else if (flag === "scenarios") {
      const list = value.split(",").map((s) => s.trim()).filter(Boolean);
      for (const s of list) {
        if (!ALL_SCENARIOS.includes(s)) throw new Error(`unknown scenario ${s}`);
      }
      cfg.scenarios = list;
    } else if (flag === "out") {
      cfg.out = value.endsWith("/") ? value : value + "/";
    } else if (flag in FLAG_KEYS) {
      const key = FLAG_KEYS[flag];
      if (LIST_KEYS.has(key)) {
        (cfg as unknown as Record<string, number[]>)[key] = value.split(",").map((v) =>
          positive(flag, v)
        );
      } else {
        (cfg as unknown as Record<string, number>)[key] = positive(flag, value);
      }
    } else {
      throw new Error(`unknown flag --${flag}\n\n${USAGE}`);
    }
  }
  return cfg;
}

function positive(flag: string, v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${flag} needs a positive number`);
  return n;
}
