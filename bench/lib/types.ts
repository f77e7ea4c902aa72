/** Shapes of the result file (bench/results/<run>.json). */

export type SystemId = "awa" | "raw" | "pgboss" | "graphile" | "bullmq" | "bullmq_pg";

export const SYSTEM_LABEL: Record<SystemId, string> = {
  awa: "Awa",
  raw: "raw SKIP LOCKED",
  pgboss: "pg-boss",
  graphile: "graphile-worker",
  bullmq: "BullMQ (Redis)",
  bullmq_pg: "BullMQ (PostgreSQL)",
};

export interface Latency {
  count: number;
  mean: number | null;
  p50: number | null;
  p95: number | null;
  p99: number | null;
  max: number | null;
}

export interface SeriesPoint {
  /** seconds since the soak started */
  t: number;
  /** jobs completed during the last interval, per second */
  jobs_per_s: number;
  /** cumulative jobs completed */
  completed: number;
  /** n_dead_tup summed over the system's tables (null for Redis) */
  dead: number | null;
  /** total size of the system's tables incl. indexes/TOAST, bytes (null for Redis) */
  bytes: number | null;
}

export interface SoakResult {
  offered_rate: number;
  seconds: number;
  workers: number;
  offered: number;
  achieved_offer_rate: number;
  completed: number;
  /** completed ÷ (time from first offer to last completion) */
  throughput: number;
  drain_tail_ms: number;
  latency_ms: Latency;
  peak_dead: number | null;
  final_dead: number | null;
  final_dead_method: string | null;
  final_dead_tables: { table: string; dead: number }[];
  dead_per_job: number | null;
  final_bytes: number | null;
  series: SeriesPoint[];
  /** only for the idle-in-transaction phase */
  pinned_xid?: string;
}

/** One process count of the fleet: N worker processes and one producer against one server. */
export interface FleetResult {
  processes: number;
  workers_per_process: number;
  drain: {
    n: number;
    ms: number;
    jobs_per_s: number;
    /** jobs each worker process ran */
    per_process: number[];
  };
  soak: {
    offered_rate: number;
    seconds: number;
    offered: number;
    completed: number;
    throughput: number;
    latency_ms: Latency;
    per_process: number[];
  };
}

export interface ScenarioResults {
  enqueue?: {
    single: { n: number; ms: number; jobs_per_s: number };
    batch: { n: number; batch: number; ms: number; jobs_per_s: number };
    concurrent: { n: number; producers: number; ms: number; jobs_per_s: number };
  };
  drain?: { workers: number; n: number; ms: number; jobs_per_s: number; settings: unknown }[];
  pickup?: { workers: number; n: number; gap_ms: number; latency_ms: Latency };
  soak?: SoakResult;
  idle_tx?: SoakResult;
  /** the soak at each offered rate of --load-rates */
  load?: SoakResult[];
  fleet?: FleetResult[];
  deep?: {
    deep_queued: number;
    measured: number;
    workers: number;
    fill_ms: number;
    deep_jobs_per_s: number;
    shallow_jobs_per_s: number;
    ratio: number;
  };
  /** the same drain without keys and with concurrency keys at each limit, rounds interleaved */
  keyed?: KeyedResult;
}

export interface KeyedResult {
  n: number;
  keys: number;
  workers: number;
  rounds: number;
  /** median over rounds, jobs/s */
  unlimited_jobs_per_s: number;
  unlimited_runs: number[];
  limits: { limit: number; jobs_per_s: number; ratio: number; runs: number[] }[];
}

export interface SystemResult {
  id: SystemId;
  label: string;
  status: "ok" | "skipped" | "failed";
  reason?: string;
  version?: string;
  runtime?: string;
  settings?: Record<string, unknown>;
  schemas?: string[] | null;
  /** wall time this system took in the bench, seconds */
  seconds?: number;
  scenarios: ScenarioResults;
  errors: { scenario: string; error: string }[];
}

export interface Target {
  name: string;
  detail: string;
  status: "met" | "not met" | "n/a";
}

export interface RunResult {
  run_id: string;
  mode: "quick" | "full";
  started_at: string;
  finished_at?: string;
  config: Record<string, unknown>;
  machine: Record<string, unknown>;
  postgres: Record<string, unknown>;
  redis: Record<string, unknown>;
  systems: SystemResult[];
  targets: Target[];
  checks: { system: string; check: string; ok: boolean; detail: string }[];
}
