/**
 * A real local HTTP server for the HTTP worker tests: `Deno.serve` on an ephemeral port of
 * 127.0.0.1, recording every request it answers.
 */

/** One request the server received, body parsed as JSON when it is JSON. */
export interface Seen {
  path: string;
  headers: Headers;
  body: unknown;
}

/** A running server: its base URL, what it saw, and how to stop it. */
export interface FunctionServer {
  url: string;
  seen: Seen[];
  close(): Promise<void>;
}

/** Serve `answer` (given the path and parsed body) on 127.0.0.1, port chosen by the system. */
export function serveFunction(
  answer: (path: string, body: unknown, request: Request) => Response | Promise<Response>,
): FunctionServer {
  const seen: Seen[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const path = new URL(req.url).pathname;
    const text = await req.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // not JSON: kept as text
    }
    seen.push({ path, headers: req.headers, body });
    return await answer(path, body, req);
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    seen,
    close: () => server.shutdown(),
  };
}

/** Resolve after `ms`, or at once when `signal` aborts (the client went away). */
export function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    }, { once: true });
  });
}
