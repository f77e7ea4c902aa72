/**
 * Cancel by unique key: recompute the key from the same components used at insert and cancel
 * the job that holds it, without storing job ids.
 * @module
 */
import { type Db, toExecutor } from "../executor.ts";
import { ValidationError } from "../errors.ts";
import { uniqueKeyHex } from "../hash.ts";
import { checkQueue, type JobDefinition } from "../job.ts";
import { checkSchema, q } from "../schema.ts";

/** The components a unique key was built from (as passed to `insert`'s `unique`). */
export interface CancelByUniqueKeyOptions {
  /** Job args, when the key was built `byArgs` (the default). */
  args?: unknown;
  /** Queue name, when the key was built `byQueue`. */
  queue?: string;
  /** Period bucket, when the key was built `byPeriod`. */
  byPeriod?: number | bigint;
  /** Reason recorded in the job's errors. */
  reason?: string;
  /** Awa schema. Default `"awa"`. */
  schema?: string;
}

/**
 * Cancel the job holding the unique key built from `kind` and the given components. Returns the
 * cancelled job's id, or null when no live job holds the key. A running job's handler sees its
 * signal abort. Pass a transaction handle to cancel inside your transaction.
 */
export async function cancelByUniqueKey<A>(
  db: Db,
  job: JobDefinition<A>,
  opts: CancelByUniqueKeyOptions = {},
): Promise<number | null> {
  if (!job || typeof job.kind !== "string") {
    throw new ValidationError("job", "expected a job definition from defineJob()");
  }
  const schema = checkSchema(opts.schema, "opts.schema");
  if (opts.queue !== undefined) checkQueue(opts.queue, "opts.queue");
  const key = uniqueKeyHex({
    kind: job.kind,
    queue: opts.queue,
    args: opts.args,
    periodBucket: opts.byPeriod,
  });
  const rows = await toExecutor(db).query<{ id: string; state: string | null }>(
    q(
      schema,
      `SELECT u.job_id::text AS id, awa.cancel_job(u.job_id, $2) AS state
      FROM awa.job_unique_claims u WHERE u.unique_key = decode($1, 'hex')`,
    ),
    [key, opts.reason ?? "cancelled by unique key"],
  );
  const hit = rows.find((r) => r.state === "cancelled");
  return hit ? Number(hit.id) : null;
}
