/**
 * Job definitions shared by the results tests and their worker process (not a test file).
 */
import { defineJob } from "../../mod.ts";

/** Queue every results test job goes to. */
export const QUEUE = "rr";

/** Completes with twice `n` and the pid of the process that ran it. */
export const echo = defineJob<{ n: number }, { doubled: number; pid: number }>("rr.echo", {
  queue: QUEUE,
});
/** Fails for good with a TerminalError carrying `why`. */
export const fail = defineJob<{ why: string }, never>("rr.fail", { queue: QUEUE, maxAttempts: 3 });
/** Completes with `"slept"` after `ms` milliseconds. */
export const slow = defineJob<{ ms: number }, string>("rr.slow", { queue: QUEUE });
/** Returns a string of `chars` characters: over the cap when larger than 1 MiB. */
export const big = defineJob<{ chars: number }, string>("rr.big", { queue: QUEUE });
/** Cancels itself with `ctx.cancel(reason)`. */
export const selfCancel = defineJob<{ reason: string }, never>("rr.cancel", { queue: QUEUE });
