/**
 * Classification of driver errors at the storage boundary: one place decides which database
 * failures a retry can cure, and turns anything unexpected into a {@link DatabaseError}.
 * @module
 */
import { AwaError, DatabaseError, PermissionDeniedError } from "../errors.ts";
import { describe } from "../validate.ts";

/** SQLSTATE classes and codes that a later attempt of the same statement can succeed on. */
const TRANSIENT_SQLSTATES = new Set([
  "40001", // serialization_failure
  "40P01", // deadlock_detected
  "55P03", // lock_not_available (lock_timeout)
  "57014", // query_canceled (statement_timeout)
  "57P01", // admin_shutdown
  "57P02", // crash_shutdown
  "57P03", // cannot_connect_now (starting up / shutting down)
  "53300", // too_many_connections
  "53400", // configuration_limit_exceeded
]);

/**
 * Driver-level codes (postgres.js, node-postgres, Node sockets) for a connection that failed.
 * The first group means an established session is gone; the rest, that none could be opened.
 */
const LOST_SESSION_CODES = new Set([
  "ECONNRESET",
  "EPIPE",
  "CONNECTION_CLOSED",
  "CONNECTION_ENDED",
  "CONNECTION_DESTROYED",
]);
const TRANSIENT_DRIVER_CODES = new Set([
  ...LOST_SESSION_CODES,
  "ECONNREFUSED",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EAI_AGAIN",
  "CONNECT_TIMEOUT",
]);

/** True when retrying the failed operation later can succeed (connection, timeout, conflict). */
export function isTransientDbError(err: unknown): boolean {
  if (err instanceof DatabaseError) return err.transient;
  const { code } = pgErrorInfo(err);
  if (code === undefined) {
    const msg = String((err as { message?: unknown })?.message ?? "");
    // node-postgres reports a dropped connection without a code.
    return /Connection terminated|connection terminated|Client has encountered a connection error/
      .test(msg);
  }
  return TRANSIENT_SQLSTATES.has(code) || code.startsWith("08") ||
    TRANSIENT_DRIVER_CODES.has(code);
}

/**
 * Wrap an unexpected driver error as a {@link DatabaseError} (AwaErrors pass through; a missing
 * privilege, SQLSTATE 42501, becomes {@link PermissionDeniedError}), keeping
 * the original as `cause`. `what` names the operation, for the message.
 */
export function toDatabaseError(err: unknown, what: string): AwaError {
  if (err instanceof AwaError) return err;
  const { code, message } = pgErrorInfo(err);
  // A role without the privilege (docs/operations.md, access levels): its own typed error.
  if (code === "42501") return new PermissionDeniedError(what, message, { cause: err });
  const transient = isTransientDbError(err);
  return new DatabaseError(
    `${what} failed${transient ? " (transient; safe to retry)" : ""}: ${message}` +
      (code ? ` [${code}]` : ""),
    { sqlState: code, transient },
    { cause: err },
  );
}

/**
 * True when `err` means the session itself is gone (terminated backend, server shutting down,
 * dropped socket), not just one statement: the connection must not be handed out again.
 */
export function isConnectionLoss(err: unknown): boolean {
  const { code } = pgErrorInfo(err);
  if (code === undefined) return false;
  return code.startsWith("08") || code === "57P01" || code === "57P02" || code === "57P03" ||
    LOST_SESSION_CODES.has(code);
}

/** Postgres error fields Awa maps to typed errors (postgres.js and pg name them differently). */
export function pgErrorInfo(
  err: unknown,
): { code?: string; constraint?: string; detail?: string; message: string } {
  const e = err as {
    code?: unknown;
    constraint_name?: string;
    constraint?: string;
    detail?: unknown;
    message?: unknown;
  };
  let message: string;
  try {
    message = String(e?.message ?? err);
  } catch {
    message = describe(err);
  }
  return {
    code: typeof e?.code === "string" ? e.code : undefined,
    constraint: e?.constraint_name ?? e?.constraint,
    detail: typeof e?.detail === "string" ? e.detail : undefined,
    message,
  };
}
