/**
 * The testing kit: what a test suite of an application that uses Awa needs.
 *
 * - {@link drainQueue} runs a queue's jobs until it is idle and returns their outcomes;
 * - {@link assertEnqueued} / {@link enqueuedJobs} check what was enqueued, inside the test's
 *   transaction too;
 * - {@link testClientOptions} gives a client short polls, heartbeats and maintenance intervals.
 *
 * ```ts
 * import { assertEnqueued, drainQueue, handle } from "@awa/awa/testing";
 *
 * await insert(sql, sendEmail, { to: "alice@example.com" });
 * await assertEnqueued(sql, sendEmail, { args: { to: "alice@example.com" } });
 * const [run] = await drainQueue(sql, { queue: "email", handlers: [handle(sendEmail, send)] });
 * ```
 * @module
 */
export {
  type BoundHandler,
  type DrainedJob,
  type DrainOptions,
  type DrainOutcome,
  drainQueue,
  handle,
} from "./src/testing/drain.ts";
export {
  assertEnqueued,
  type EnqueuedJob,
  enqueuedJobs,
  type EnqueuedMatch,
} from "./src/testing/enqueued.ts";
export {
  TEST_HEARTBEAT,
  TEST_MAINTENANCE,
  TEST_POLL_INTERVAL_MS,
  testClientOptions,
} from "./src/testing/config.ts";
export { NotEnqueuedError } from "./src/errors.ts";
