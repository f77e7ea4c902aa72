/**
 * Hand-written representative traces for `AwaSegmentedStorageTrace`, in the shape a
 * recorder of the real engine produces. `deno task tlc` exports and replays each one; the
 * exported files are also committed under correctness/specs/traces/ for running by hand.
 *
 * @module
 */
import type { TraceEvent, TraceExportOptions } from "./trace_export.ts";

/** A named trace and whether the spec must accept or reject it. */
export interface ExampleTrace {
  name: string;
  description: string;
  expect: "accept" | "reject";
  options?: TraceExportOptions;
  events: TraceEvent[];
}

export const EXAMPLE_TRACES: ExampleTrace[] = [
  {
    name: "Trace_CompleteRotatePrune",
    description: "enqueue -> claim -> complete -> rotate -> prune (terminal history expires)",
    expect: "accept",
    events: [
      { kind: "enqueue", job: 1 },
      { kind: "claim", worker: "w1", jobs: [{ job: 1, receipt: 65536 }] },
      {
        kind: "finalize",
        worker: "w1",
        job: 1,
        receipt: 65536,
        outcome: "completed",
        stale: false,
      },
      { kind: "rotate", ring: "Q" },
      { kind: "prune", ring: "Q" },
      { kind: "rotate", ring: "C" },
      { kind: "prune", ring: "C" },
    ],
  },
  {
    name: "Trace_RetryPromoteRescueDlq",
    description:
      "two jobs: retry + promotion, rescue + stale completion, DLQ at max_attempts, DLQ retry",
    expect: "accept",
    options: { maxAttempts: 2 },
    events: [
      { kind: "enqueue", job: 1 },
      { kind: "enqueue", job: 2 },
      { kind: "claim", worker: "w1", jobs: [{ job: 1, receipt: 65536 }] },
      { kind: "finalize", worker: "w1", job: 1, receipt: 65536, outcome: "retry", stale: false },
      { kind: "promote", job: 1 },
      // the lane head is job 2 (position 2); job 1 came back at position 3
      { kind: "claim", worker: "w1", jobs: [{ job: 2, receipt: 131072 }] },
      { kind: "rescue", job: 2, receipt: 131072, to: "retry" },
      { kind: "claim", worker: "w2", jobs: [{ job: 1, receipt: 196608 }] },
      // w1 finishes job 2 after rescue closed its attempt: stale, nothing changes
      {
        kind: "finalize",
        worker: "w1",
        job: 2,
        receipt: 131072,
        outcome: "completed",
        stale: true,
      },
      // job 1 is on attempt 2 = max_attempts: a retry lands in the DLQ
      { kind: "finalize", worker: "w2", job: 1, receipt: 196608, outcome: "dlq", stale: false },
      { kind: "promote", job: 2 },
      { kind: "dlqRetry", job: 1 },
      {
        kind: "claim",
        worker: "w1",
        jobs: [{ job: 2, receipt: 262144 }, { job: 1, receipt: 262145 }],
      },
      {
        kind: "finalize",
        worker: "w1",
        job: 2,
        receipt: 262144,
        outcome: "completed",
        stale: false,
      },
      {
        kind: "finalize",
        worker: "w1",
        job: 1,
        receipt: 262145,
        outcome: "completed",
        stale: false,
      },
      { kind: "rotate", ring: "Q" },
      { kind: "prune", ring: "Q" },
    ],
  },
  {
    name: "Trace_BrokenPromoteBeforeRetry",
    description: "impossible: promotion of a job that was never sent to retry (must stop at 2)",
    expect: "reject",
    events: [
      { kind: "enqueue", job: 1 },
      { kind: "claim", worker: "w1", jobs: [{ job: 1, receipt: 65536 }] },
      { kind: "promote", job: 1 },
      { kind: "finalize", worker: "w1", job: 1, receipt: 65536, outcome: "retry", stale: false },
    ],
  },
];
