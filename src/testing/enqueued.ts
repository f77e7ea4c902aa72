/**
 * Assertions on what was enqueued: read through the caller's handle, so given a transaction
 * they see its uncommitted inserts.
 * @module
 */
import { type Db, toExecutor } from "../db/executor.ts";
import { toDatabaseError } from "../db/classify.ts";
import { NotEnqueuedError, ValidationError } from "../errors.ts";
import { checkStates, type JobState } from "../hash.ts";
import { checkKind, checkQueue, type JobDefinition } from "../job.ts";
import { mapMissingSchema, requireSchema } from "../migrate.ts";
import { checkSchema } from "../schema.ts";
import { storeOf } from "../storage/store.ts";
import { findJobs, type JobRow } from "../storage/testing.ts";
import { checkInteger, checkJson, checkOptions } from "../validate.ts";

/** What an enqueued job must match; every field left out matches anything. */
export interface EnqueuedMatch<A> {
  /**
   * Args the job's args must contain: JSON containment, so `{ to: "a@b.c" }` matches
   * `{ to: "a@b.c", subject: "Hi" }`; nested objects match the same way.
   */
  args?: Partial<A>;
  /** Queue the job must be in. */
  queue?: string;
  /** States the job may be in. Default: any. */
  states?: readonly JobState[];
  /** With `assertEnqueued`: how many jobs must match, exactly. Default: at least one. */
  count?: number;
  /** Awa schema. Default `"awa"`. */
  schema?: string;
}

/** A job found by {@link enqueuedJobs} or {@link assertEnqueued}. */
export interface EnqueuedJob<A> {
  /** The job's id. */
  id: number;
  /** The job's kind. */
  kind: string;
  /** The queue it is in. */
  queue: string;
  /** Its args. */
  args: A;
  /** Its state now. */
  state: JobState;
  /** Priority, 1 (first) to 4. */
  priority: number;
  /** When it is (or was) due. */
  runAt: Date;
}

const MATCH_KEYS: ReadonlySet<string> = new Set(["args", "queue", "states", "count", "schema"]);

function kindOf(job: unknown): string {
  if (typeof job === "string") return checkKind(job, "job");
  if (
    typeof job === "object" && job !== null && typeof (job as { kind?: unknown }).kind === "string"
  ) {
    return checkKind((job as { kind: string }).kind, "job.kind");
  }
  throw new ValidationError("job", "expected a job definition from defineJob() or a kind name");
}

function toJob<A>(row: JobRow): EnqueuedJob<A> {
  return {
    id: Number(row.id),
    kind: row.kind,
    queue: row.queue,
    args: row.args as A,
    state: row.state as JobState,
    priority: row.priority,
    runAt: row.run_at,
  };
}

async function find<A>(
  db: Db,
  job: JobDefinition<A> | string,
  match: EnqueuedMatch<A> | undefined,
  caller: string,
): Promise<{ kind: string; jobs: EnqueuedJob<A>[]; count: number | undefined }> {
  const kind = kindOf(job);
  const o = checkOptions<EnqueuedMatch<A>>(match, "match", MATCH_KEYS);
  const schema = checkSchema(o.schema, "match.schema");
  const queue = o.queue === undefined ? null : checkQueue(o.queue, "match.queue");
  const args = o.args === undefined ? null : checkJson(o.args, "match.args");
  const states = o.states === undefined ? null : checkStates(o.states, "match.states");
  const count = o.count === undefined
    ? undefined
    : checkInteger(o.count, "match.count", 0, Number.MAX_SAFE_INTEGER);
  const ex = toExecutor(db);
  try {
    await requireSchema(ex, schema);
    const rows = await findJobs(storeOf(ex, schema), kind, queue, args, states);
    return { kind, jobs: rows.map((r) => toJob<A>(r)), count };
  } catch (err) {
    throw toDatabaseError(mapMissingSchema(err, ex, schema), caller);
  }
}

/**
 * The jobs of `job`'s kind that match, ordered by id (finished ones too, while the ring
 * keeps them). Pass your test's transaction handle to see its uncommitted inserts.
 */
export async function enqueuedJobs<A>(
  db: Db,
  job: JobDefinition<A> | string,
  match?: EnqueuedMatch<A>,
): Promise<EnqueuedJob<A>[]> {
  return (await find(db, job, match, "enqueuedJobs")).jobs;
}

/**
 * Assert that a job of `job`'s kind matching `match` was enqueued, and return the matches.
 * Throws {@link NotEnqueuedError} when none matches (or not exactly `match.count`); its message
 * lists the jobs of that kind that were found. Given a transaction handle, it sees that
 * transaction's uncommitted inserts.
 *
 * ```ts
 * await sql.begin(async (tx) => {
 *   await signUp(tx, "alice@example.com");
 *   await assertEnqueued(tx, sendEmail, { args: { to: "alice@example.com" } });
 * });
 * ```
 */
export async function assertEnqueued<A>(
  db: Db,
  job: JobDefinition<A> | string,
  match?: EnqueuedMatch<A>,
): Promise<EnqueuedJob<A>[]> {
  const { kind, jobs, count } = await find(db, job, match, "assertEnqueued");
  if (count === undefined ? jobs.length > 0 : jobs.length === count) return jobs;
  const wanted = count === undefined ? "at least one job" : `exactly ${count} job(s)`;
  const others = await find(
    db,
    kind,
    match?.schema === undefined ? {} : { schema: match.schema },
    "assertEnqueued",
  );
  const seen = others.jobs.slice(0, 5).map((j) =>
    `#${j.id} ${j.queue} ${j.state} ${JSON.stringify(j.args)}`
  );
  throw new NotEnqueuedError(
    kind,
    `expected ${wanted} of kind "${kind}" matching ${JSON.stringify(describeMatch(match))}, ` +
      `found ${jobs.length}; jobs of that kind: ${
        seen.length === 0 ? "none" : seen.join("; ") + (others.jobs.length > 5 ? "; …" : "")
      }`,
  );
}

function describeMatch<A>(match: EnqueuedMatch<A> | undefined): Record<string, unknown> {
  const { schema: _schema, count: _count, ...rest } = match ?? {};
  return rest;
}
