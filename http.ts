/**
 * The HTTP worker and the signed callback receiver (`@awa/awa/http`): hand jobs to a URL (a
 * serverless function, say), park them until the function calls back, and receive those calls
 * as a standard `(Request) => Promise<Response>` handler for `Deno.serve`, `Bun.serve` or Node's
 * `http` (through {@link toNodeListener}). See docs/http.md.
 *
 * ```ts
 * import { callbackReceiver, httpWorker } from "@awa/awa/http";
 *
 * const secret = process.env.AWA_CALLBACK_HMAC_SECRET!; // 64 hex characters
 * client.work(render, httpWorker({
 *   url: "https://functions.example.com/render",
 *   mode: "async",
 *   callbackBaseUrl: "https://jobs.example.com",
 *   hmacSecret: secret,
 * }));
 * Deno.serve({ port: 8080 }, callbackReceiver({ db: sql, secret }));
 * ```
 * @module
 */
export { AwaError, type AwaErrorCode, HttpWorkerError } from "./src/errors.ts";
// Types the entries below name, so that this entry documents itself.
export type {
  Db,
  PgCopyFrom,
  PgCopyStream,
  PgExecutor,
  PgNotification,
  PgPool,
  PgPoolClient,
  PgQueryable,
} from "./src/db/executor.ts";
export type { AdaptedDb } from "./src/db/adapted.ts";
export type { Handler, Job, JobContext, JobError, Progress } from "./src/runtime/types.ts";
export type { ContextOutcome, Outcome, OutcomeConstructors } from "./src/runtime/outcomes.ts";
export type {
  CallbackMethods,
  RegisterCallbackOptions,
  WaitForCallbackOptions,
} from "./src/runtime/callbacks.ts";
export type { CallbackExpressions } from "./src/callbacks/cel.ts";
export {
  type CallbackSecret,
  signCallbackId,
  verifyCallbackSignature,
} from "./src/http/signature.ts";
export {
  CALLBACK_ACTIONS,
  type CallbackAction,
  callbackUrl,
  DEFAULT_CALLBACK_PREFIX,
} from "./src/http/url.ts";
export { type HttpJobRequest, httpWorker } from "./src/http/worker.ts";
export { callbackReceiver, type CallbackReceiverOptions } from "./src/http/receiver.ts";
export type { HttpWorkerOptions } from "./src/http/worker_options.ts";
export {
  type NodeListener,
  type NodeListenerOptions,
  type NodeRequestLike,
  type NodeResponseLike,
  toNodeListener,
} from "./src/http/node.ts";
