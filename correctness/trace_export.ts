/**
 * Writes a recorded trace of abstract storage events as a TLA+ module plus a TLC config
 * that replays it through `AwaSegmentedStorageTrace` (correctness/specs/).
 *
 * The checker ACCEPTS a trace when it reports `TraceIncomplete` violated (the whole trace
 * was replayed) and REJECTS it when it reports a deadlock (some event was not enabled) or
 * any other invariant violation. `deno task tlc --trace <file.tla> <file.cfg>` runs one.
 *
 * Traces must be recorded from ONE lane (queue, priority, enqueue_shard), in commit order,
 * with the DLQ policy on (a retry or rescue whose attempts are exhausted goes to the DLQ).
 *
 * @module
 */

/** A job id as the engine reports it (it is written into the trace as the string `j<id>`). */
export type JobId = string | number | bigint;
/** A receipt id as the engine reports it; receipts are renumbered 1, 2, … in order of claim. */
export type ReceiptId = string | number | bigint;

/** Where a finalization sent the job (the actual destination, after attempt accounting). */
export type FinalizeOutcome = "completed" | "cancelled" | "failed" | "retry" | "snooze" | "dlq";

/**
 * The abstract events of `AwaSegmentedStorage`. One event per committed transaction.
 *
 * - `enqueue`: an immediate insert of a new job committed (`awa.insert_job`).
 * - `schedule`: an insert with a future `run_at` committed (the job went to deferred_jobs).
 * - `claim`: one claim transaction by `worker` took these rows, in lane order, each with
 *   the receipt it opened (`awa.claim_batch`). The batch size is the number of rows.
 * - `finalize`: a worker flushed one outcome for the attempt `receipt`
 *   (`awa.finalize_attempts`); `stale` is what the engine reported (true = changed nothing).
 * - `rescue`: maintenance closed the open attempt `receipt` (`awa.rescue_*`); `to` is where
 *   the job went (`release`: a held attempt that never started went back uncounted).
 * - `promote`: a due deferred job was appended to the lane (`awa.promote_due`).
 * - `cancelReady`: a ready (never claimed) job was tombstoned and cancelled.
 * - `cancelRunning`: an admin cancel (`awa.cancel_job`) closed the open attempt `receipt` of a
 *   running job as cancelled; the worker still holds it and its later outcome is stale.
 * - `dlqMove` / `dlqRetry` / `dlqPurge`: DLQ operations (`awa.dlq_move`, `awa.dlq_retry`).
 * - `rotate` / `prune`: a successful rotation or truncation of ring `Q` (queue ring) or
 *   `C` (attempt ring) (`awa.rotate_ring`, `awa.prune_ring`); skipped ones are not events.
 * - `crash`: a worker process died; its open attempts stay open.
 */
export type TraceEvent =
  | { kind: "enqueue"; job: JobId }
  | { kind: "schedule"; job: JobId }
  | { kind: "claim"; worker: string; jobs: { job: JobId; receipt: ReceiptId }[] }
  | {
    kind: "finalize";
    worker: string;
    job: JobId;
    receipt: ReceiptId;
    outcome: FinalizeOutcome;
    stale: boolean;
  }
  | { kind: "rescue"; job: JobId; receipt: ReceiptId; to: "retry" | "dlq" | "release" }
  | { kind: "cancelRunning"; job: JobId; receipt: ReceiptId }
  | { kind: "promote"; job: JobId }
  | { kind: "cancelReady"; job: JobId }
  | { kind: "dlqMove"; job: JobId }
  | { kind: "dlqRetry"; job: JobId }
  | { kind: "dlqPurge"; job: JobId }
  | { kind: "rotate"; ring: "Q" | "C" }
  | { kind: "prune"; ring: "Q" | "C" }
  | { kind: "crash"; worker: string };

/** Ring sizes and attempt budget of the engine that produced the trace. */
export interface TraceExportOptions {
  /** Queue-ring slots (engine default 16). */
  qSlots?: number;
  /** Attempt-ring slots (engine default 8). */
  cSlots?: number;
  /** `max_attempts` of the traced jobs (a retry at this attempt goes to the DLQ). Default 25. */
  maxAttempts?: number;
}

/** The base invariants checked while replaying, then the completion marker. */
export const TRACE_INVARIANTS: readonly string[] = [
  "TypeOK",
  "NoLostJob",
  "SingleLiveAttempt",
  "StaleNeverApplied",
  "CloseAtMostOnce",
  "PrunedSegmentsAreEmpty",
  "CursorSafety",
  "HoldIsolated",
  "TerminalKeepsBody",
  "OpenAttemptKeepsBody",
  "RingShape",
  "TraceIncomplete",
];

function tlaString(s: string): string {
  return `"${s.replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"`;
}

function jobName(id: JobId): string {
  return `j${String(id)}`;
}

interface Fields {
  a: string;
  j?: string;
  w?: string;
  r?: number;
  o?: string;
  stale?: boolean;
  ring?: string;
  jobs?: { j: string; r: number }[];
}

function record(f: Fields): string {
  const jobs = (f.jobs ?? []).map((x) => `[j |-> ${tlaString(x.j)}, r |-> ${x.r}]`).join(", ");
  return `[a |-> ${tlaString(f.a)}, j |-> ${tlaString(f.j ?? "none")}, ` +
    `w |-> ${tlaString(f.w ?? "none")}, r |-> ${f.r ?? 0}, o |-> ${tlaString(f.o ?? "none")}, ` +
    `stale |-> ${f.stale ? "TRUE" : "FALSE"}, ring |-> ${tlaString(f.ring ?? "none")}, ` +
    `jobs |-> <<${jobs}>>]`;
}

/**
 * Turns recorded events into `{ tla, cfg }`: write them to `<name>.tla` and `<name>.cfg`
 * (the module name is `name`). The module EXTENDS `AwaSegmentedStorageTrace`, so put the
 * files next to the specs or point the checker's library path at correctness/specs/.
 */
export function exportTlaTrace(
  events: TraceEvent[],
  name: string,
  options: TraceExportOptions = {},
): { tla: string; cfg: string } {
  if (!/^[A-Za-z][A-Za-z0-9_]*$/.test(name)) {
    throw new Error(`trace name must be a TLA+ identifier: ${JSON.stringify(name)}`);
  }
  const qSlots = options.qSlots ?? 16;
  const cSlots = options.cSlots ?? 8;
  const maxAttempts = options.maxAttempts ?? 25;
  if (qSlots < 2 || cSlots < 1 || maxAttempts < 1) throw new Error("bad ring or attempt sizes");

  const receipts = new Map<string, number>();
  const receipt = (id: ReceiptId, where: number): number => {
    const n = receipts.get(String(id));
    if (n === undefined) {
      throw new Error(`event ${where}: receipt ${String(id)} was never claimed earlier`);
    }
    return n;
  };
  const jobs = new Set<string>();
  const workers = new Set<string>();
  let appends = 0;
  let maxBatch = 1;

  const records = events.map((ev, i): string => {
    switch (ev.kind) {
      case "enqueue":
      case "promote":
      case "dlqRetry":
        appends++;
        jobs.add(jobName(ev.job));
        return record({ a: ev.kind, j: jobName(ev.job) });
      case "schedule":
      case "cancelReady":
      case "dlqMove":
      case "dlqPurge":
        jobs.add(jobName(ev.job));
        return record({ a: ev.kind, j: jobName(ev.job) });
      case "claim": {
        if (ev.jobs.length === 0) throw new Error(`event ${i}: a claim event needs its rows`);
        workers.add(ev.worker);
        maxBatch = Math.max(maxBatch, ev.jobs.length);
        const rows = ev.jobs.map((x) => {
          if (receipts.has(String(x.receipt))) {
            throw new Error(`event ${i}: receipt ${String(x.receipt)} claimed twice`);
          }
          receipts.set(String(x.receipt), receipts.size + 1);
          jobs.add(jobName(x.job));
          return { j: jobName(x.job), r: receipts.size };
        });
        return record({ a: "claim", w: ev.worker, jobs: rows });
      }
      case "finalize":
        workers.add(ev.worker);
        jobs.add(jobName(ev.job));
        return record({
          a: "finalize",
          w: ev.worker,
          j: jobName(ev.job),
          r: receipt(ev.receipt, i),
          o: ev.outcome,
          stale: ev.stale,
        });
      case "rescue":
        jobs.add(jobName(ev.job));
        return record({ a: "rescue", j: jobName(ev.job), r: receipt(ev.receipt, i), o: ev.to });
      case "cancelRunning":
        jobs.add(jobName(ev.job));
        return record({ a: "cancelRunning", j: jobName(ev.job), r: receipt(ev.receipt, i) });
      case "rotate":
      case "prune":
        return record({ a: ev.kind, ring: ev.ring });
      case "crash":
        workers.add(ev.worker);
        return record({ a: "crash", w: ev.worker });
      default: {
        const never: never = ev;
        throw new Error(`unknown trace event ${JSON.stringify(never)}`);
      }
    }
  });

  if (jobs.size === 0) jobs.add("j0");
  if (workers.size === 0) workers.add("w0");
  const set = (xs: Iterable<string>) => `{${[...xs].sort().map(tlaString).join(", ")}}`;

  const tla = [
    `${"-".repeat(4)} MODULE ${name} ${"-".repeat(4)}`,
    `\\* Generated by correctness/trace_export.ts: ${events.length} events, replayed by`,
    `\\* AwaSegmentedStorageTrace.  Accepted iff the checker reports TraceIncomplete violated.`,
    `EXTENDS AwaSegmentedStorageTrace`,
    ``,
    `TraceEvents == <<`,
    records.map((r) => `  ${r}`).join(",\n"),
    `>>`,
    `${"=".repeat(4)}`,
    ``,
  ].join("\n");

  const cfg = [
    `\\* Generated by correctness/trace_export.ts for ${name}.`,
    `CONSTANTS`,
    `  Jobs = ${set(jobs)}`,
    `  Workers = ${set(workers)}`,
    `  QSlots = ${qSlots}`,
    `  CSlots = ${cSlots}`,
    `  MaxSeq = ${Math.max(1, appends)}`,
    `  MaxRcpt = ${Math.max(1, receipts.size)}`,
    `  MaxAttempts = ${maxAttempts}`,
    `  MaxBatch = ${maxBatch}`,
    `  Outcomes = {"completed", "cancelled", "failed", "retry", "snooze", "dlq"}`,
    `  StaleSlotClaim = FALSE`,
    `  LeaseOnlyGuard = FALSE`,
    `  Faults = TRUE`,
    `  Trace <- TraceEvents`,
    `INIT TraceInit`,
    `NEXT TraceNext`,
    `CHECK_DEADLOCK TRUE`,
    `INVARIANTS`,
    ...TRACE_INVARIANTS.map((n) => `  ${n}`),
    ``,
  ].join("\n");

  return { tla, cfg };
}
