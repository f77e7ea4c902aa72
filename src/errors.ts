/**
 * Errors raised by Awa. Every error is an {@link AwaError} with a stable `code` that callers can
 * switch on; messages say what to fix.
 * @module
 */

/** Stable codes carried by {@link AwaError.code}. */
export type AwaErrorCode =
  | "VALIDATION"
  | "UNIQUE_CONFLICT"
  | "SCHEMA_TOO_NEW"
  | "SCHEMA_TOO_OLD"
  | "SCHEMA_MISSING"
  | "RUNTIME_TOO_OLD"
  | "CLIENT_STATE"
  | "TIMEOUT"
  | "TERMINAL"
  | "TRANSACTION_STATE"
  | "DATABASE"
  | "JOB_CANCELLED"
  | "JOB_RESCUED"
  | "DEADLINE_EXCEEDED"
  | "SHUTDOWN"
  | "NOT_ENQUEUED"
  // pub/sub and cache (src/pubsub/, src/cache/)
  | "PAYLOAD_TOO_LARGE"
  // admin layer: jobs and DLQ
  | "JOB_NOT_FOUND"
  | "JOB_STATE"
  // admin layer: queues, runtimes, storage status, roles
  | "PERMISSION_DENIED"
  // cron
  | "CRON_NOT_FOUND"
  // callbacks
  | "CALLBACK_NOT_FOUND"
  | "STALE_ATTEMPT"
  // HTTP worker (@awa/awa/http)
  | "HTTP_WORKER"
  // results: insertAndWait, waitForJob (docs/results.md)
  | "JOB_FAILED"
  | "JOB_WAS_CANCELLED"
  | "JOB_WAIT_TIMEOUT"
  // follow-ups, flows and batches
  | "FLOW_GRAPH"
  | "FLOW_NOT_FOUND";

/** Base class of every error Awa throws on purpose. */
export class AwaError extends Error {
  /** Stable machine-readable code. */
  readonly code: AwaErrorCode;
  /** An error with a stable `code`; `options.cause` keeps the underlying error. */
  constructor(code: AwaErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "AwaError";
    this.code = code;
  }
}

/** An argument was invalid. Nothing was written. `field` names the offending input. */
export class ValidationError extends AwaError {
  /** Path of the offending input, e.g. `"opts.priority"` or `"args.items[2]"`. */
  readonly field: string;
  /** `field` is prefixed to the message, which says what to fix. */
  constructor(field: string, message: string, options?: ErrorOptions) {
    super("VALIDATION", `${field}: ${message}`, options);
    this.name = "ValidationError";
    this.field = field;
  }
}

/** A unique job with the same key already exists in a state covered by its unique mask. */
export class UniqueConflictError extends AwaError {
  /** The constraint that rejected the insert: always `idx_awa_jobs_unique`. */
  readonly constraint: string;
  /** Hex of the 16-byte unique key, when known. */
  readonly uniqueKey: string | undefined;
  /** For `insertMany`: index in the `jobs` array of the first row that clashed. */
  readonly index: number | undefined;
  /** `uniqueKey` is the hex key (undefined when unknown); `options.index` the clashing row. */
  constructor(uniqueKey: string | undefined, options?: ErrorOptions & { index?: number }) {
    super(
      "UNIQUE_CONFLICT",
      `${options?.index === undefined ? "" : `jobs[${options.index}] clashes: `}a job with ` +
        `unique key ${uniqueKey ?? "(unknown)"} already exists; ` +
        `pass onConflict: "skip" to ignore duplicates, or narrow unique.states`,
      options,
    );
    this.name = "UniqueConflictError";
    this.constraint = "idx_awa_jobs_unique";
    this.uniqueKey = uniqueKey;
    this.index = options?.index;
  }
}

/** The database schema is newer than this version of the code understands. */
export class SchemaTooNewError extends AwaError {
  /** Migration version the database schema is at. */
  readonly databaseVersion: number;
  /** Latest migration version this code knows. */
  readonly codeVersion: number;
  /** The schema name and both migration versions, for the message. */
  constructor(schema: string, databaseVersion: number, codeVersion: number) {
    super(
      "SCHEMA_TOO_NEW",
      `schema "${schema}" is at migration ${databaseVersion} but this @awa/awa knows only up to ` +
        `${codeVersion}; upgrade @awa/awa instead of running an older version against it`,
    );
    this.name = "SchemaTooNewError";
    this.databaseVersion = databaseVersion;
    this.codeVersion = codeVersion;
  }
}

/**
 * The database schema is older than this code needs: run `migrate()` with this version. From
 * `migrate()` itself: the schema is older than the baseline this version upgrades from
 * (`baseline` set); migrate it with an earlier release first.
 */
export class SchemaTooOldError extends AwaError {
  /** Migration version the database schema is at. */
  readonly databaseVersion: number;
  /** Migration version this code needs. */
  readonly codeVersion: number;
  /** The schema name and both versions; `options.baseline` when `migrate()` refused it. */
  constructor(
    schema: string,
    databaseVersion: number,
    codeVersion: number,
    options: { baseline?: number } = {},
  ) {
    super(
      "SCHEMA_TOO_OLD",
      options.baseline === undefined
        ? `schema "${schema}" is at migration ${databaseVersion} but this @awa/awa needs ` +
          `${codeVersion}; run migrate() with this version first`
        : `schema "${schema}" is at migration ${databaseVersion}, older than the baseline ` +
          `(migration ${options.baseline}) this @awa/awa upgrades from; run migrate() of an ` +
          `earlier @awa/awa whose migrations end at ${options.baseline} first`,
    );
    this.name = "SchemaTooOldError";
    this.databaseVersion = databaseVersion;
    this.codeVersion = codeVersion;
  }
}

/** Awa is not installed in the named schema. */
export class SchemaMissingError extends AwaError {
  /** The schema that was looked in. */
  readonly schema: string;
  /** `schema` is the schema looked in. */
  constructor(schema: string, options?: ErrorOptions) {
    super(
      "SCHEMA_MISSING",
      `schema "${schema}" has no Awa installed; run migrate() first (or pass the right schema)`,
      options,
    );
    this.name = "SchemaMissingError";
    this.schema = schema;
  }
}

/**
 * This @awa/awa is older than the database allows: the schema records a minimum runtime version
 * above this release's `VERSION`, or a newer release migrated it last (an older `migrate()`
 * must not put its functions back). Upgrade @awa/awa to `requiredVersion` or later.
 */
export class RuntimeTooOldError extends AwaError {
  /** Version this database needs, at least. */
  readonly requiredVersion: string;
  /** Version of this code. */
  readonly runningVersion: string;
  /**
   * The schema, both versions, and `action`: what was refused ("run against it", "migrate it").
   */
  constructor(schema: string, requiredVersion: string, runningVersion: string, action: string) {
    const needs = `@awa/awa ${requiredVersion} or later to ${action}`;
    super("RUNTIME_TOO_OLD", `schema "${schema}" needs ${needs}, but this is ${runningVersion}`);
    this.name = "RuntimeTooOldError";
    this.requiredVersion = requiredVersion;
    this.runningVersion = runningVersion;
  }
}

/**
 * An operation would end, or cannot run inside, a transaction it does not own — for example a
 * node-postgres client already inside the caller's `BEGIN` without `inTransaction: true`.
 */
export class TransactionStateError extends AwaError {
  /** `message` says which transaction and what to do instead. */
  constructor(message: string, options?: ErrorOptions) {
    super("TRANSACTION_STATE", message, options);
    this.name = "TransactionStateError";
  }
}

/**
 * A database error Awa did not expect as a contract outcome. `transient` is true for classes
 * that a retry can cure (connection loss, server starting or shutting down, serialization
 * failure, deadlock, statement or lock timeout); `sqlState` is the server's SQLSTATE, or the
 * driver's error code (`ECONNREFUSED`, `CONNECTION_CLOSED`, …) when no server answered.
 */
export class DatabaseError extends AwaError {
  /** The server's SQLSTATE, or the driver's error code; undefined when neither is known. */
  readonly sqlState: string | undefined;
  /** True when a retry can cure it. */
  readonly transient: boolean;
  /** `info` carries the SQLSTATE and whether a retry can cure the failure. */
  constructor(
    message: string,
    info: { sqlState?: string; transient: boolean },
    options?: ErrorOptions,
  ) {
    super("DATABASE", message, options);
    this.name = "DatabaseError";
    this.sqlState = info.sqlState;
    this.transient = info.transient;
  }
}

/** `ctx.signal.reason` when an operator (or `cancelByUniqueKey`) cancelled the running job. */
export class JobCancelledError extends AwaError {
  /** `message` defaults to a generic one. */
  constructor(message = "the job was cancelled while it ran") {
    super("JOB_CANCELLED", message);
    this.name = "JobCancelledError";
  }
}

/**
 * `ctx.signal.reason` when maintenance rescued the attempt (its heartbeat went stale, for
 * example after a long event-loop stall); another attempt may already be running.
 */
export class JobRescuedError extends AwaError {
  /** `message` defaults to a generic one. */
  constructor(message = "the attempt was rescued by maintenance; its outcome will be ignored") {
    super("JOB_RESCUED", message);
    this.name = "JobRescuedError";
  }
}

/** `ctx.signal.reason` when the job ran past its queue's `deadlineMs`. */
export class DeadlineExceededError extends AwaError {
  /** The queue's deadline that was passed, in ms. */
  readonly deadlineMs: number;
  /** `deadlineMs` is the deadline that was passed, in ms. */
  constructor(deadlineMs: number) {
    super("DEADLINE_EXCEEDED", `the job ran past its deadline of ${deadlineMs} ms`);
    this.name = "DeadlineExceededError";
    this.deadlineMs = deadlineMs;
  }
}

/**
 * `ctx.signal.reason` when `shutdown()` timed out while the handler still ran; the attempt is
 * released uncounted and another worker runs the job.
 */
export class ShutdownAbortError extends AwaError {
  /** No arguments: the message is fixed. */
  constructor() {
    super("SHUTDOWN", "the worker shut down before the handler finished; the job will run again");
    this.name = "ShutdownAbortError";
  }
}

/** Thrown from a handler to fail the job at once, without further retries. */
export class TerminalError extends AwaError {
  /** `message` is recorded as the job's error; `options.cause` keeps the underlying error. */
  constructor(message: string, options?: ErrorOptions) {
    super("TERMINAL", message, options);
    this.name = "TerminalError";
  }
}

/** An operation did not finish within its time limit. */
export class TimeoutError extends AwaError {
  /** `message` says what timed out and after how long. */
  constructor(message: string) {
    super("TIMEOUT", message);
    this.name = "TimeoutError";
  }
}

/** A method was called in a client state that does not allow it (e.g. `work` after `start`). */
export class ClientStateError extends AwaError {
  /** `message` says which call was refused and in which state. */
  constructor(message: string) {
    super("CLIENT_STATE", message);
    this.name = "ClientStateError";
  }
}

// --- testing kit (@awa/awa/testing) ---

/** `assertEnqueued` found no job of the kind (and args, queue, states) it was asked for. */
export class NotEnqueuedError extends AwaError {
  /** The kind that was looked for. */
  readonly kind: string;
  /** `message` says what was looked for and what was found instead. */
  constructor(kind: string, message: string) {
    super("NOT_ENQUEUED", message);
    this.name = "NotEnqueuedError";
    this.kind = kind;
  }
}

// --- pub/sub and cache (src/pubsub/, src/cache/) ---

/**
 * A pub/sub payload or a cache value is larger than its limit once serialised to JSON. Nothing
 * was sent or written: send a key and keep the data in a table (pub/sub), or cache less.
 */
export class PayloadTooLargeError extends AwaError {
  /** Size of the serialised payload or value, in UTF-8 bytes. */
  readonly bytes: number;
  /** The limit it exceeded, in UTF-8 bytes. */
  readonly limitBytes: number;
  /** `what` names the payload, `advice` says what to do instead. */
  constructor(what: string, bytes: number, limitBytes: number, advice: string) {
    super(
      "PAYLOAD_TOO_LARGE",
      `${what} is ${bytes} bytes as JSON, over the limit of ${limitBytes} bytes; ${advice}`,
    );
    this.name = "PayloadTooLargeError";
    this.bytes = bytes;
    this.limitBytes = limitBytes;
  }
}

// ---- admin layer: jobs and DLQ ------------------------------------------------------------

/** No job with this id exists in any plane (or its retention has passed). Nothing was written. */
export class JobNotFoundError extends AwaError {
  /** The id looked up. */
  readonly jobId: number;
  /** `what` names the thing looked for in the message ("job", "DLQ job"). */
  constructor(jobId: number, what = "job") {
    super("JOB_NOT_FOUND", `${what} ${jobId} not found (unknown id, or its retention has passed)`);
    this.name = "JobNotFoundError";
    this.jobId = jobId;
  }
}

/** The job exists but its state does not allow the operation. Nothing was written. */
export class JobStateError extends AwaError {
  /** The job's id. */
  readonly jobId: number;
  /** The state it is in. */
  readonly state: string;
  /** `message` says which states the operation needs. */
  constructor(jobId: number, state: string, message: string) {
    super("JOB_STATE", `job ${jobId} is ${state}: ${message}`);
    this.name = "JobStateError";
    this.jobId = jobId;
    this.state = state;
  }
}

// ---------------------------------------------------------------------------------------------
// Admin layer: queues, runtimes, storage status, roles (docs/operations.md)

/**
 * The database role lacks a privilege the operation needs (SQLSTATE 42501): an observer that
 * tried to pause a queue, say. Nothing was written. `operation` names the call.
 */
export class PermissionDeniedError extends AwaError {
  /** The Awa call that was refused, e.g. `"pause"`. */
  readonly operation: string;
  /** `detail`: the server's message, e.g. `permission denied for table queue_meta`. */
  constructor(operation: string, detail: string, options?: ErrorOptions) {
    super(
      "PERMISSION_DENIED",
      `${operation}: the database role may not do this (${detail}); grant it the access level ` +
        "the operation needs with grantAccess (docs/operations.md)",
      options,
    );
    this.name = "PermissionDeniedError";
    this.operation = operation;
  }
}

// --- cron (docs/cron.md) ---

/** An admin operation named a cron schedule that `awa.cron_jobs` does not hold. */
export class CronNotFoundError extends AwaError {
  /** The schedule name asked for. */
  readonly cronName: string;
  /** The error for schedule `name`, which does not exist. */
  constructor(name: string) {
    super(
      "CRON_NOT_FOUND",
      `no cron schedule named ${JSON.stringify(name)}; listCronJobs() shows the schedules`,
    );
    this.name = "CronNotFoundError";
    this.cronName = name;
  }
}

// --- callbacks (docs/callbacks.md) ---

/**
 * No open attempt has this callback: the id is unknown, already resolved, superseded by a newer
 * registration of its attempt, or its attempt ended (timed out, rescued, cancelled, retried).
 * Nothing was written.
 */
export class CallbackNotFoundError extends AwaError {
  /** The callback id looked up. */
  readonly callbackId: string;
  /** The error for callback `callbackId`. */
  constructor(callbackId: string) {
    super(
      "CALLBACK_NOT_FOUND",
      `callback ${callbackId} not found: unknown, already resolved, superseded by a newer ` +
        "registration, or its attempt has ended",
    );
    this.name = "CallbackNotFoundError";
    this.callbackId = callbackId;
  }
}

/**
 * The handler's attempt is no longer current: it was completed, failed or retried through its
 * callback, timed out, rescued or cancelled. Thrown by `ctx.registerCallback` and
 * `ctx.waitForCallback`; nothing was written, and the handler's outcome will be ignored.
 */
export class StaleAttemptError extends AwaError {
  /** The job whose attempt ended. */
  readonly jobId: number;
  /** The error for an attempt of job `jobId`. */
  constructor(jobId: number) {
    super(
      "STALE_ATTEMPT",
      `the attempt of job ${jobId} has ended (resolved through its callback, timed out, ` +
        "rescued or cancelled); stop working on it, its outcome will be ignored",
    );
    this.name = "StaleAttemptError";
    this.jobId = jobId;
  }
}

// --- HTTP worker (@awa/awa/http, docs/http.md) ---

/**
 * The HTTP worker's request did not succeed in a way a retry can cure: a transport error, a
 * timeout, or a 5xx answer. Thrown from the handler, so the job is retried with backoff; a
 * non-retryable answer (4xx, 3xx) is a `TerminalError` whose `cause` is one of these.
 */
export class HttpWorkerError extends AwaError {
  /** The HTTP status, or null when no answer arrived (transport error, timeout). */
  readonly status: number | null;
  /** The start of the answer's body (truncated), or "" when there was none. */
  readonly body: string;
  /** `message` says what was sent where and what came back. */
  constructor(
    message: string,
    info: { status: number | null; body?: string },
    options?: ErrorOptions,
  ) {
    super("HTTP_WORKER", message, options);
    this.name = "HttpWorkerError";
    this.status = info.status;
    this.body = info.body ?? "";
  }
}

// --- results: insertAndWait, waitForJob (docs/results.md) ---

/**
 * A handler returned a result larger than the cap (`MAX_RESULT_BYTES`, as UTF-8 JSON). It is
 * a {@link TerminalError}: the job fails at once, with this message as its error, and nothing
 * of the result is stored.
 */
export class ResultTooLargeError extends TerminalError {
  /** Size of the serialised result, in UTF-8 bytes. */
  readonly bytes: number;
  /** The cap it exceeded, in UTF-8 bytes. */
  readonly limitBytes: number;
  /** The error for a result of `bytes` bytes over the cap of `limitBytes`. */
  constructor(bytes: number, limitBytes: number) {
    super(
      `the handler's result is ${bytes} bytes as JSON, over the limit of ${limitBytes} bytes; ` +
        "store large results elsewhere (a table, object storage) and return a reference",
    );
    this.name = "ResultTooLargeError";
    this.bytes = bytes;
    this.limitBytes = limitBytes;
  }
}

/** One error a job recorded, as a waiter sees it. */
export interface JobFailureEntry {
  /** The error text (`Name: message` for thrown errors). */
  error: string;
  /** The attempt that recorded it. */
  attempt: number;
  /** When, as an ISO 8601 timestamp. */
  at: string;
}

/**
 * The job a caller waited for (`insertAndWait`, `waitForJob`) ended without a result. `code` is
 * `JOB_FAILED` when it failed for good (out of attempts, a terminal error, rescued at its last
 * attempt; `dlq` says whether it went to the DLQ) and `JOB_WAS_CANCELLED` when it was cancelled
 * (by its handler, an operator or a unique-key clash). `errors` are the job's recorded errors,
 * oldest first.
 */
export class JobFailedError extends AwaError {
  /** The job's id. */
  readonly jobId: number;
  /** Where the job ended. */
  readonly state: "failed" | "cancelled";
  /** The job's recorded errors, oldest first. */
  readonly errors: readonly JobFailureEntry[];
  /** For failed jobs: true when it is held in the DLQ (retry it from there). */
  readonly dlq: boolean;
  /** The error of job `jobId`, which ended in `state` with `errors`. */
  constructor(
    jobId: number,
    state: "failed" | "cancelled",
    errors: readonly JobFailureEntry[],
    dlq = false,
  ) {
    const last = errors.at(-1)?.error;
    super(
      state === "cancelled" ? "JOB_WAS_CANCELLED" : "JOB_FAILED",
      `job ${jobId} ${state === "cancelled" ? "was cancelled" : "failed"}` +
        (last === undefined ? "" : `: ${last}`),
    );
    this.name = "JobFailedError";
    this.jobId = jobId;
    this.state = state;
    this.errors = errors;
    this.dlq = dlq;
  }
}

/**
 * `insertAndWait` or `waitForJob` gave up waiting after `timeoutMs`. Only the wait ended: the
 * job keeps its state and still runs; wait again with `waitForJob(db, jobId)`.
 */
export class JobWaitTimeoutError extends AwaError {
  /** The job waited for. */
  readonly jobId: number;
  /** How long the call waited, in ms. */
  readonly timeoutMs: number;
  /** The job's state at the last look. */
  readonly lastState: string;
  /** The error for job `jobId`, still `lastState` after `timeoutMs`. */
  constructor(jobId: number, timeoutMs: number, lastState: string) {
    super(
      "JOB_WAIT_TIMEOUT",
      `job ${jobId} did not finish within ${timeoutMs} ms (it is ${lastState}, and keeps ` +
        "running); wait again with waitForJob, or raise timeoutMs",
    );
    this.name = "JobWaitTimeoutError";
    this.jobId = jobId;
    this.timeoutMs = timeoutMs;
    this.lastState = lastState;
  }
}

// --- follow-ups, flows and batches (docs/flows.md) ---

/** Why a flow graph was refused. */
export type FlowGraphProblem = "cycle" | "unknown_parent" | "duplicate_node" | "too_large";

/**
 * A flow or batch was refused before anything was written: a dependency cycle, a parent that is
 * not a node of the flow, two nodes with one id, or more nodes or parents than the limits allow.
 */
export class FlowGraphError extends AwaError {
  /** What is wrong with the graph. */
  readonly problem: FlowGraphProblem;
  /** The node ids concerned (the cycle, in order, for `cycle`). */
  readonly nodes: string[];
  /** `message` says what to change. */
  constructor(problem: FlowGraphProblem, nodes: string[], message: string) {
    super("FLOW_GRAPH", `invalid flow: ${message}`);
    this.name = "FlowGraphError";
    this.problem = problem;
    this.nodes = nodes;
  }
}

/** An admin operation named a flow id that does not exist (or was purged). */
export class FlowNotFoundError extends AwaError {
  /** The flow id asked for. */
  readonly flowId: number;
  /** The error for flow `flowId`. */
  constructor(flowId: number) {
    super("FLOW_NOT_FOUND", `flow ${flowId} not found; listFlows() shows the flows`);
    this.name = "FlowNotFoundError";
    this.flowId = flowId;
  }
}
