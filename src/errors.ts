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
  | "CLIENT_STATE"
  | "TIMEOUT"
  | "TERMINAL";

/** Base class of every error Awa throws on purpose. */
export class AwaError extends Error {
  /** Stable machine-readable code. */
  readonly code: AwaErrorCode;
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
  constructor(uniqueKey: string | undefined, options?: ErrorOptions) {
    super(
      "UNIQUE_CONFLICT",
      `a job with unique key ${uniqueKey ?? "(unknown)"} already exists; ` +
        `pass onConflict: "skip" to ignore duplicates, or narrow unique.states`,
      options,
    );
    this.name = "UniqueConflictError";
    this.constraint = "idx_awa_jobs_unique";
    this.uniqueKey = uniqueKey;
  }
}

/** The database schema is newer than this version of the code understands. */
export class SchemaTooNewError extends AwaError {
  readonly databaseVersion: number;
  readonly codeVersion: number;
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

/** Thrown from a handler to fail the job at once, without further retries. */
export class TerminalError extends AwaError {
  constructor(message: string, options?: ErrorOptions) {
    super("TERMINAL", message, options);
    this.name = "TerminalError";
  }
}

/** An operation did not finish within its time limit. */
export class TimeoutError extends AwaError {
  constructor(message: string) {
    super("TIMEOUT", message);
    this.name = "TimeoutError";
  }
}

/** A method was called in a client state that does not allow it (e.g. `work` after `start`). */
export class ClientStateError extends AwaError {
  constructor(message: string) {
    super("CLIENT_STATE", message);
    this.name = "ClientStateError";
  }
}
