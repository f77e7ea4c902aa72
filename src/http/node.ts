/**
 * Mount a `(Request) => Promise<Response>` handler in Node's `http` server: the adapter turns
 * an `IncomingMessage` into a `Request` and writes the `Response` back. The types below are the
 * parts of `IncomingMessage` and `ServerResponse` it uses, so this module needs no Node types.
 * @module
 */
import { ValidationError } from "../errors.ts";
import { checkInteger, checkOptions } from "../validate.ts";

/** The part of Node's `IncomingMessage` the adapter reads. */
export interface NodeRequestLike extends AsyncIterable<Uint8Array | string> {
  /** The request method, e.g. `"POST"`. */
  method?: string | undefined;
  /** The request target: path and query. */
  url?: string | undefined;
  /** Request headers, names in lower case. */
  headers: Record<string, string | string[] | undefined>;
}

/** The part of Node's `ServerResponse` the adapter writes. */
export interface NodeResponseLike {
  /** Send the status line and headers. */
  writeHead(status: number, headers: Record<string, string | string[]>): unknown;
  /** Send the body and finish the response. */
  end(chunk?: Uint8Array): unknown;
}

/** Options of {@link toNodeListener}. Unknown keys are rejected. */
export interface NodeListenerOptions {
  /** Largest request body passed on, in bytes, 0 to 1 GiB; a longer one gets 413. Default 1 MiB. */
  maxBodyBytes?: number;
  /** Called when the handler throws (the client then gets a 500). */
  onError?: (error: unknown) => void;
}

/** A Node `http` request listener, as `http.createServer(listener)` takes it. */
export type NodeListener = (req: NodeRequestLike, res: NodeResponseLike) => Promise<void>;

const KNOWN = new Set(["maxBodyBytes", "onError"]);
const encoder = new TextEncoder();

async function collect(
  req: NodeRequestLike,
  max: number,
): Promise<Uint8Array<ArrayBuffer> | null> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of req) {
    const bytes = typeof chunk === "string" ? encoder.encode(chunk) : chunk;
    size += bytes.length;
    if (size > max) return null;
    chunks.push(bytes);
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

function headersOf(req: NodeRequestLike): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) headers.append(name, v);
  }
  return headers;
}

async function send(res: NodeResponseLike, response: Response): Promise<void> {
  const headers: Record<string, string | string[]> = {};
  response.headers.forEach((value, name) => {
    headers[name] = value;
  });
  const cookies = response.headers.getSetCookie?.() ?? [];
  if (cookies.length > 0) headers["set-cookie"] = cookies;
  const body = new Uint8Array(await response.arrayBuffer());
  res.writeHead(response.status, headers);
  res.end(body);
}

/** The absolute URL of a request target; a Host header that is no host falls back to localhost. */
function urlOf(target: string, host: string | null): URL {
  try {
    return new URL(target, `http://${host ?? "localhost"}`);
  } catch {
    return new URL(target.startsWith("/") ? target : "/", "http://localhost");
  }
}

function plain(status: number, error: string): Response {
  return new Response(JSON.stringify({ error }), {
    status,
    headers: { "content-type": "application/json" },
  });
}

/**
 * A Node `http` request listener that runs `handler`, e.g.
 * `http.createServer(toNodeListener(callbackReceiver({ db: sql, secret })))`. The body is read
 * up to `maxBodyBytes` (longer: 413 without calling the handler); a throwing handler gives 500.
 */
export function toNodeListener(
  handler: (request: Request) => Response | Promise<Response>,
  options?: NodeListenerOptions,
): NodeListener {
  if (typeof handler !== "function") {
    throw new ValidationError("handler", "must be a function (request: Request) => Response");
  }
  const o = checkOptions<NodeListenerOptions>(options, "options", KNOWN);
  const max = o.maxBodyBytes === undefined
    ? 1 << 20
    : checkInteger(o.maxBodyBytes, "options.maxBodyBytes", 0, 1 << 30);
  if (o.onError !== undefined && typeof o.onError !== "function") {
    throw new ValidationError("options.onError", "must be a function or omitted");
  }
  return async (req, res) => {
    let response: Response;
    try {
      const method = (req.method ?? "GET").toUpperCase();
      const headers = headersOf(req);
      const url = urlOf(req.url ?? "/", headers.get("host"));
      const hasBody = method !== "GET" && method !== "HEAD";
      const body = hasBody ? await collect(req, max) : null;
      if (hasBody && body === null) {
        // The rest of the body is never read, so the connection cannot serve another request.
        response = plain(413, `the body is over ${max} bytes`);
        response.headers.set("connection", "close");
      } else {
        response = await handler(
          new Request(url, { method, headers, ...(body !== null ? { body } : {}) }),
        );
      }
    } catch (err) {
      o.onError?.(err);
      response = plain(500, "internal error");
    }
    try {
      await send(res, response);
    } catch (err) {
      o.onError?.(err);
      res.writeHead(500, { "content-type": "application/json" });
      res.end(encoder.encode(JSON.stringify({ error: "internal error" })));
    }
  };
}
