/**
 * The receiver's routing and request checks, independent of how a callback is resolved:
 * `POST {prefix}/{callback_id}/complete|fail|heartbeat`, signature first, then the body.
 * @module
 */
import { AwaError, ValidationError } from "../errors.ts";
import { readCapped, textOf } from "./body.ts";
import { verifyWithKey } from "./signature.ts";
import { CALLBACK_ACTIONS, type CallbackAction } from "./url.ts";

/** What a resolution reports: the job and the state it is in now. */
export interface Resolved {
  jobId: number;
  state: string;
}

/**
 * How the routes resolve a callback; each returns null when no live callback has this id
 * (unknown, already resolved, or superseded by a newer attempt).
 */
export interface CallbackActions {
  complete(id: string, payload: unknown): Promise<Resolved | null>;
  fail(id: string, error: string): Promise<Resolved | null>;
  heartbeat(id: string, timeoutMs: number): Promise<Resolved | null>;
}

/** The routes' settings, already checked. */
export interface RouteSettings {
  /** Normalised prefix ("" or "/…" without trailing slash). */
  prefix: string;
  /** The secret key, or null when verification is off. */
  key: Uint8Array | null;
  readOnly: boolean;
  onError?: (error: unknown, request: Request) => void;
}

/** Largest request body the routes read, in bytes. */
export const MAX_BODY_BYTES = 1 << 20;
/** Default extension of a heartbeat, in seconds. */
export const DEFAULT_HEARTBEAT_SECONDS = 3600;

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}

const problem = (status: number, error: string, headers?: Record<string, string>) =>
  json(status, { error }, headers);

/** The callback id and action of a path under `prefix`, or null when it is no callback route. */
function route(pathname: string, prefix: string): { id: string; action: CallbackAction } | null {
  if (!pathname.startsWith(`${prefix}/`)) return null;
  const parts = pathname.slice(prefix.length + 1).split("/");
  if (parts.length !== 2 || parts[0] === "") return null;
  const action = parts[1] as CallbackAction;
  return CALLBACK_ACTIONS.includes(action) ? { id: parts[0]!, action } : null;
}

class BadBody extends Error {
  constructor(message: string, readonly status = 400) {
    super(message);
  }
}

function onlyKeys(body: Record<string, unknown>, allowed: string[]): void {
  for (const key of Object.keys(body)) {
    if (!allowed.includes(key)) {
      throw new BadBody(`unknown field "${key}"; the body may hold ${allowed.join(", ")}`);
    }
  }
}

async function readBody(request: Request): Promise<Record<string, unknown>> {
  const { bytes, over } = await readCapped(request.body, MAX_BODY_BYTES);
  if (over) throw new BadBody(`the body is over ${MAX_BODY_BYTES} bytes`, 413);
  const text = textOf(bytes);
  if (text.trim() === "") return {};
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new BadBody("the body is not valid JSON");
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new BadBody("the body must be a JSON object");
  }
  return body as Record<string, unknown>;
}

/** What the body asks for, checked: a call on the actions, made only for a well-formed id. */
type Intent = (actions: CallbackActions, id: string) => Promise<Resolved | null>;

function intentOf(action: CallbackAction, body: Record<string, unknown>): Intent {
  switch (action) {
    case "complete":
      onlyKeys(body, ["payload"]);
      return (actions, id) => actions.complete(id, body.payload);
    case "fail": {
      onlyKeys(body, ["error"]);
      const error = body.error;
      if (typeof error !== "string" || error === "") {
        throw new BadBody('"error" must be a non-empty string');
      }
      return (actions, id) => actions.fail(id, error);
    }
    case "heartbeat": {
      onlyKeys(body, ["timeout_seconds"]);
      const seconds = body.timeout_seconds ?? DEFAULT_HEARTBEAT_SECONDS;
      if (typeof seconds !== "number" || !Number.isFinite(seconds) || seconds < 0) {
        throw new BadBody('"timeout_seconds" must be a finite number ≥ 0');
      }
      return (actions, id) => actions.heartbeat(id, Math.round(seconds * 1000));
    }
  }
}

/** The `(Request) => Promise<Response>` handler of the callback routes. */
export function callbackRoutes(
  actions: CallbackActions,
  settings: RouteSettings,
): (request: Request) => Promise<Response> {
  return async (request) => {
    let path: string;
    try {
      path = new URL(request.url).pathname;
    } catch {
      return problem(400, "the request URL is not valid");
    }
    const target = route(path, settings.prefix);
    if (target === null) return problem(404, "no such route");
    if (request.method !== "POST") {
      return problem(405, "callback routes accept POST only", { allow: "POST" });
    }
    if (settings.readOnly) return problem(503, "the callback receiver is read-only");
    if (
      settings.key !== null &&
      !verifyWithKey(settings.key, target.id, request.headers.get("x-awa-signature"))
    ) {
      return problem(401, "missing, malformed or wrong X-Awa-Signature");
    }
    try {
      const intent = intentOf(target.action, await readBody(request));
      // Callback ids are UUIDs: anything else names no callback, so it is not looked up.
      const resolved = UUID_RE.test(target.id)
        ? await intent(actions, target.id.toLowerCase())
        : null;
      if (resolved === null) {
        return problem(404, "no live callback with this id (unknown, resolved or superseded)");
      }
      return json(200, { id: resolved.jobId, state: resolved.state });
    } catch (err) {
      if (err instanceof BadBody) return problem(err.status, err.message);
      if (err instanceof ValidationError) return problem(400, err.message);
      settings.onError?.(err, request);
      const code = err instanceof AwaError ? ` (${err.code})` : "";
      return problem(500, `the callback could not be resolved${code}`);
    }
  };
}
