/**
 * The signed callback receiver: the callback routes (routes.ts) resolving callbacks in the
 * database through the callback core's `completeExternal`, `failExternal` and
 * `heartbeatCallback`.
 * @module
 */
import {
  type CallbackResolution,
  completeExternal,
  failExternal,
  heartbeatCallback,
} from "../callbacks/external.ts";
import type { Db } from "../db/executor.ts";
import { CallbackNotFoundError, ValidationError } from "../errors.ts";
import { checkSchema } from "../schema.ts";
import { checkOptions, describe } from "../validate.ts";
import { type CallbackActions, callbackRoutes, type Resolved } from "./routes.ts";
import { type CallbackSecret, secretKey } from "./signature.ts";
import { DEFAULT_CALLBACK_PREFIX, normalizePrefix } from "./url.ts";

/** Options of {@link callbackReceiver}. Unknown keys are rejected. */
export interface CallbackReceiverOptions {
  /** The database: a postgres.js pool, `fromPg(...)`, or any `Db`. */
  db: Db;
  /**
   * The callback secret (the HTTP worker's `hmacSecret`): 32 raw bytes or 64 hex characters.
   * Required unless `allowUnsigned` is true.
   */
  secret?: CallbackSecret;
  /** Accept callbacks without `X-Awa-Signature` (no `secret` then). Default false. */
  allowUnsigned?: boolean;
  /** Path prefix of the routes; `""` puts them at the root. Default `"/api/callbacks"`. */
  prefix?: string;
  /** Answer every callback route with 503 and write nothing. Default false. */
  readOnly?: boolean;
  /** Schema Awa is installed in. Default `"awa"`. */
  schema?: string;
  /** Called with an unexpected error (the caller got a 500); not called for 4xx answers. */
  onError?: (error: unknown, request: Request) => void;
}

const KNOWN = new Set([
  "db",
  "secret",
  "allowUnsigned",
  "prefix",
  "readOnly",
  "schema",
  "onError",
]);

const resolved = (r: CallbackResolution): Resolved => ({ jobId: r.jobId, state: r.state });

/** A resolution, with "no live callback" as null instead of an error. */
async function orNull(run: () => Promise<CallbackResolution>): Promise<Resolved | null> {
  try {
    return resolved(await run());
  } catch (err) {
    if (err instanceof CallbackNotFoundError) return null;
    throw err;
  }
}

function checkFlag(v: unknown, field: string): boolean {
  if (v === undefined) return false;
  if (typeof v !== "boolean") {
    throw new ValidationError(field, `must be a boolean or omitted, got ${describe(v)}`);
  }
  return v;
}

/**
 * A `(Request) => Promise<Response>` handler for `POST {prefix}/{callback_id}/complete`,
 * `/fail` and `/heartbeat`, with bodies `{"payload": any}`, `{"error": string}` and
 * `{"timeout_seconds": number}` (default 3600), answering `{"id": <job id>, "state": …}`.
 * `X-Awa-Signature` is verified (Algorithm S, constant time) before anything else: a missing,
 * malformed or wrong one is 401 and changes nothing. An unknown, resolved or superseded
 * callback is 404, a bad body 400, any other path 404, another method 405. A callback that
 * arrives before the job is parked (the function answered late) resolves it all the same. Mount it in `Deno.serve`, `Bun.serve`, or Node's `http`
 * through `toNodeListener`. Options are checked here (`ValidationError`). See docs/http.md.
 */
export function callbackReceiver(
  options: CallbackReceiverOptions,
): (request: Request) => Promise<Response> {
  if (options === undefined) {
    throw new ValidationError("options", "are required: at least { db, secret }");
  }
  const o = checkOptions<CallbackReceiverOptions>(options, "options", KNOWN);
  const db = o.db;
  if (db === undefined || db === null || (typeof db !== "object" && typeof db !== "function")) {
    throw new ValidationError("db", `must be a database handle (a Db), got ${describe(db)}`);
  }
  const allowUnsigned = checkFlag(o.allowUnsigned, "allowUnsigned");
  if (o.secret === undefined && !allowUnsigned) {
    throw new ValidationError(
      "secret",
      "is required: pass the HTTP worker's hmacSecret, or allowUnsigned: true to accept " +
        "unsigned callbacks (trusted networks only)",
    );
  }
  if (o.secret !== undefined && allowUnsigned) {
    throw new ValidationError("allowUnsigned", "cannot be true when a secret is given");
  }
  const key = o.secret === undefined ? null : secretKey(o.secret, "secret");
  if (o.onError !== undefined && typeof o.onError !== "function") {
    throw new ValidationError(
      "onError",
      `must be a function or omitted, got ${describe(o.onError)}`,
    );
  }
  const opts = { schema: checkSchema(o.schema, "schema") };
  const actions: CallbackActions = {
    complete: (id, payload) => orNull(() => completeExternal(db, id, payload, opts)),
    fail: (id, error) => orNull(() => failExternal(db, id, error, opts)),
    // timeout_seconds 0 means "time out now": the shortest timeout the core takes, 1 ms.
    heartbeat: (id, ms) => orNull(() => heartbeatCallback(db, id, Math.max(1, ms), opts)),
  };
  return callbackRoutes(actions, {
    prefix: normalizePrefix(o.prefix ?? DEFAULT_CALLBACK_PREFIX, "prefix"),
    key,
    readOnly: checkFlag(o.readOnly, "readOnly"),
    ...(o.onError ? { onError: o.onError } : {}),
  });
}
