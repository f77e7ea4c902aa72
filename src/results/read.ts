/**
 * Reading a finished job's result, typed by its job definition: {@link getJobResult}.
 * @module
 */
import type { Db } from "../db/executor.ts";
import { JobStateError, ValidationError } from "../errors.ts";
import type { JobDefinition } from "../job.ts";
import { adminCall } from "../admin/call.ts";
import { checkAdminOptions, checkJobId, type SchemaOption } from "../admin/filters.ts";
import { checkKindMatches, readOutcome } from "./outcome.ts";

/**
 * The result job `id` completed with, typed by its definition (`null` when the handler returned
 * nothing). Readable as long as the completed job is retained (its history retention). Throws
 * `JobStateError` while the job has not ended (use `waitForJob` to wait), `JobFailedError` when
 * it ended without a result (failed or cancelled), `JobNotFoundError` for an unknown id or one
 * past its retention, and `ValidationError` when the job is of another kind. A plain read: it
 * may run in your transaction.
 */
export async function getJobResult<A, R>(
  db: Db,
  job: JobDefinition<A, R>,
  id: number | bigint,
  opts?: SchemaOption,
): Promise<R> {
  if (typeof job !== "object" || job === null || typeof job.kind !== "string") {
    throw new ValidationError("job", "expected a job definition from defineJob()");
  }
  const jobId = Number(checkJobId(id));
  const { schema } = checkAdminOptions(opts, "opts", []);
  const outcome = await adminCall(db, schema, "getJobResult", (s) => readOutcome(s, jobId));
  checkKindMatches(jobId, outcome, job.kind);
  if (!outcome.done) {
    throw new JobStateError(
      jobId,
      outcome.state,
      "it has no result yet; waitForJob waits for it to end",
    );
  }
  if ("error" in outcome) throw outcome.error;
  return outcome.result as R;
}
