/**
 * Cancel by unique key: recompute the key from the same components used at insert and cancel
 * the job that holds it, without storing job ids.
 * @module
 */
import { type Db, toExecutor } from "../db/executor.ts";
import { ValidationError } from "../errors.ts";
import { toDatabaseError } from "../db/classify.ts";
import { uniqueKeyHex } from "../hash.ts";
import { checkKind, checkQueue, type JobDefinition } from "../job.ts";
import { mapMissingSchema, requireSchema } from "../migrate.ts";
import { checkSchema } from "../schema.ts";
import { cancelJobByUniqueKey } from "../storage/cancel.ts";
import { storeOf } from "../storage/store.ts";
import { checkInt64, checkJson, checkOptions, checkText } from "../validate.ts";

/** The components a unique key was built from (as passed to `insert`'s `unique`). */
export interface CancelByUniqueKeyOptions {
  /** Job args, when the key was built `byArgs` (the default). */
  args?: unknown;
  /** Queue name, when the key was built `byQueue`. */
  queue?: string;
  /** Period bucket, when the key was built `byPeriod`: a safe integer or a bigint. */
  byPeriod?: number | bigint;
  /** Reason recorded in the job's errors (at most 1000 characters, no NUL). */
  reason?: string;
  /** Awa schema. Default `"awa"`. */
  schema?: string;
}

const CANCEL_KEYS: ReadonlySet<string> = new Set(["args", "queue", "byPeriod", "reason", "schema"]);

/**
 * Cancel the job holding the unique key built from `kind` and the given components. Returns the
 * cancelled job's id, or null when no live job holds the key. A running job's handler sees its
 * signal abort. Pass a transaction handle to cancel inside your transaction. Unknown option keys
 * (a misspelt `arg`) are rejected with {@link ValidationError}: silently dropping one would
 * compute a different key and could cancel another job.
 */
export async function cancelByUniqueKey<A>(
  db: Db,
  job: JobDefinition<A>,
  opts: CancelByUniqueKeyOptions = {},
): Promise<number | null> {
  if (typeof job !== "object" || job === null || typeof job.kind !== "string") {
    throw new ValidationError("job", "expected a job definition from defineJob()");
  }
  checkKind(job.kind, "job.kind");
  const o = checkOptions<CancelByUniqueKeyOptions>(opts, "opts", CANCEL_KEYS);
  const schema = checkSchema(o.schema, "opts.schema");
  if (o.queue !== undefined) checkQueue(o.queue, "opts.queue");
  if (o.args !== undefined) checkJson(o.args, "opts.args");
  const byPeriod = o.byPeriod === undefined ? undefined : checkInt64(o.byPeriod, "opts.byPeriod");
  const reason = o.reason === undefined
    ? "cancelled by unique key"
    : checkText(o.reason, "opts.reason", 1000);
  let key: string;
  try {
    key = uniqueKeyHex({ kind: job.kind, queue: o.queue, args: o.args, periodBucket: byPeriod });
  } catch (err) {
    if (!(err instanceof ValidationError) || !err.field.startsWith("args")) throw err;
    throw new ValidationError(
      "opts." + err.field,
      err.message.slice(err.field.length + 2),
      { cause: err },
    );
  }
  const ex = toExecutor(db);
  try {
    await requireSchema(ex, schema);
    const id = await cancelJobByUniqueKey(storeOf(ex, schema), key, reason);
    return id === null ? null : Number(id);
  } catch (err) {
    throw toDatabaseError(mapMissingSchema(err, ex, schema), "cancelByUniqueKey");
  }
}
