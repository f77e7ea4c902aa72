/**
 * Request-response over the queue: {@link insertAndWait} enqueues a job and resolves with its
 * result once a worker, in any process, has completed it.
 * @module
 */
import type { Db } from "../db/executor.ts";
import type { JobDefinition } from "../job.ts";
import { insertOne, mapInsertError } from "../producer/insert.ts";
import { type InsertOptions, JOB_OPTION_KEYS, normalizeJob } from "../producer/options.ts";
import { addJobWaiter } from "../storage/results.ts";
import { checkOptions } from "../validate.ts";
import { prepareWait, runWait, WAIT_KEYS, WAITER_TTL_MARGIN_MS, type WaitOptions } from "./wait.ts";

/**
 * Options of {@link insertAndWait}: those of `insert` (but `onConflict`: a skipped duplicate
 * leaves nothing to wait for) and those of the wait.
 */
export type InsertAndWaitOptions = Omit<InsertOptions, "onConflict"> & WaitOptions;

const KEYS: ReadonlySet<string> = new Set([...JOB_OPTION_KEYS, ...WAIT_KEYS, "schema"]);

/**
 * Insert a job and wait for its outcome: resolves with the handler's result (typed by the job
 * definition) once the job completed, in whichever process ran it. Rejects with
 * `JobFailedError` (`code` `JOB_FAILED`, or `JOB_WAS_CANCELLED`; with the job's errors) when it
 * ended without a result, `JobWaitTimeoutError` after `timeoutMs` (default 60 000; the job was
 * inserted and keeps running: `error.jobId` names it for a later `waitForJob`), or the
 * signal's reason when `signal` aborts (likewise). Bad arguments throw `ValidationError` and a
 * unique clash `UniqueConflictError`, inserting nothing. A transaction handle is refused with
 * `TransactionStateError`: workers could not see the job before your commit, so insert it in
 * the transaction and `waitForJob` after committing.
 *
 * Woken by a notification from the transition that ends the job, sent only for jobs someone
 * waits for; the job's state is also read every `pollIntervalMs`, so a lost notification only
 * delays the answer. Handles that cannot LISTEN (adapters, a single node-postgres client)
 * rely on that poll alone.
 */
export async function insertAndWait<A, R>(
  db: Db,
  job: JobDefinition<A, R>,
  args: A,
  opts: InsertAndWaitOptions = {},
): Promise<R> {
  const o = checkOptions<InsertAndWaitOptions>(opts, "opts", KEYS);
  const { timeoutMs, signal, pollIntervalMs, schema, ...jobOpts } = o;
  const normalized = normalizeJob(job, args, jobOpts, "opts");
  const p = prepareWait(db, { timeoutMs, signal, pollIntervalMs, schema }, "opts", "insertAndWait");
  const ttlMs = p.timeoutMs + WAITER_TTL_MARGIN_MS;
  const result = await runWait(p, {
    start: (store, waiter) =>
      store.atomic("insertAndWait", async (tx) => {
        const inserted = await insertOne(tx, normalized, "error");
        // onConflict "error" never skips: a duplicate threw UniqueConflictError.
        const id = inserted!.id;
        if (waiter !== null) await addJobWaiter(tx, id, waiter, ttlMs);
        return id;
      }).catch((err) => {
        throw mapInsertError(err, normalized.uniqueKeyHex);
      }),
    registerAfterStart: false,
    checkFirst: false,
  }, job.kind);
  return result as R;
}
