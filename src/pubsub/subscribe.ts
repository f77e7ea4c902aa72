/**
 * `subscribe`: typed messages of one channel, on the process's shared LISTEN connection.
 * @module
 */
import type { Sql } from "postgres";
import { toDatabaseError } from "../db/classify.ts";
import { Notifier } from "../db/notifier.ts";
import { ValidationError } from "../errors.ts";
import { checkSchema } from "../schema.ts";
import { checkInteger, checkOptions, describe } from "../validate.ts";
import { type ChannelDefinition, checkChannel, runPayloadValidator, topicOf } from "./channel.ts";

/** Receives one message; a throw or a rejection goes to `onError`, the next message still comes. */
export type MessageHandler<P> = (payload: P) => void | Promise<void>;

/** Options of {@link subscribe}. */
export interface ChannelSubscribeOptions {
  /** The Awa schema to listen in. Default `"awa"`. */
  schema?: string;
  /** Aborting it ends the subscription (as `unsubscribe()` does). */
  signal?: AbortSignal;
  /**
   * Called when a handler throws, a message is not JSON or fails the channel's validator (it
   * is then dropped), or the shared connection fails in the background. Default: `console.error`.
   */
  onError?: (err: unknown) => void;
  /**
   * Called after the shared LISTEN connection was lost and is listening again: messages
   * published in between are gone, so re-read whatever state they announced.
   */
  onRelisten?: () => void;
  /**
   * How often the shared connection proves that notices still arrive, in ms (0 to 3 600 000,
   * 0 for never); the connection probes at the shortest interval any subscriber asks for.
   * Default 10 000.
   */
  checkIntervalMs?: number;
}

/** A live subscription; `await using` it to unsubscribe at the end of a scope. */
export interface ChannelSubscription extends AsyncDisposable {
  /** The channel's name. */
  readonly channel: string;
  /** Stop delivering messages; the last subscriber of a channel UNLISTENs it. Idempotent. */
  unsubscribe(): Promise<void>;
}

const SUBSCRIBE_KEYS: ReadonlySet<string> = new Set([
  "schema",
  "signal",
  "onError",
  "onRelisten",
  "checkIntervalMs",
]);

function checkListenDb(db: unknown): Sql | string {
  if (typeof db === "string" && db.length > 0) return db;
  const pool = db as Partial<Sql>;
  if (
    typeof db === "function" && typeof pool.listen === "function" &&
    typeof pool.options === "object"
  ) {
    return db as Sql;
  }
  throw new ValidationError(
    "db",
    "subscribe needs a postgres.js pool (postgres(url)) or a connection URL, not a " +
      `transaction or reserved connection; got ${describe(db)}`,
  );
}

function checkFunction(v: unknown, field: string): void {
  if (v !== undefined && typeof v !== "function") {
    throw new ValidationError(field, `must be a function, got ${describe(v)}`);
  }
}

function defaultOnError(channel: string): (err: unknown) => void {
  return (err) => console.error(`awa subscription to "${channel}":`, err);
}

/**
 * Deliver every message published on `channel` in the schema to `handler`, from every process,
 * until unsubscribed or `signal` aborts. All subscriptions of the process on one pool (or URL)
 * share one LISTEN connection, with Awa's own queue wakeups; it reconnects and LISTENs again by
 * itself after losing its connection, then calls `onRelisten`. Messages published while it was
 * disconnected are not replayed.
 *
 * Resolves once the channel is LISTENed, so every message committed after that is delivered.
 * Throws `ValidationError` for bad arguments, the signal's reason when it is already aborted, or
 * `DatabaseError` when the LISTEN fails (nothing is then subscribed).
 */
export async function subscribe<P>(
  db: Sql | string,
  channel: ChannelDefinition<P>,
  handler: MessageHandler<P>,
  options?: ChannelSubscribeOptions,
): Promise<ChannelSubscription> {
  const listenDb = checkListenDb(db);
  const c = checkChannel<P>(channel);
  if (typeof handler !== "function") throw new ValidationError("handler", "must be a function");
  const o = checkOptions<ChannelSubscribeOptions>(options, "options", SUBSCRIBE_KEYS);
  const schema = checkSchema(o.schema, "options.schema");
  checkFunction(o.onError, "options.onError");
  checkFunction(o.onRelisten, "options.onRelisten");
  if (o.signal !== undefined && !(o.signal instanceof AbortSignal)) {
    throw new ValidationError(
      "options.signal",
      `must be an AbortSignal, got ${describe(o.signal)}`,
    );
  }
  const checkIntervalMs = o.checkIntervalMs === undefined
    ? undefined
    : checkInteger(o.checkIntervalMs, "options.checkIntervalMs", 0, 3_600_000);
  o.signal?.throwIfAborted();
  const onError = o.onError ?? defaultOnError(c.name);
  const report = (err: unknown) => {
    try {
      onError(err);
    } catch {
      // An error callback that throws has nowhere left to report to.
    }
  };
  const deliver = (text: string) => {
    let payload: P;
    try {
      payload = JSON.parse(text) as P;
      runPayloadValidator(c, payload);
    } catch (err) {
      const e = err instanceof ValidationError ? err : new ValidationError(
        "payload",
        `a message on channel "${c.name}" is not JSON (sent by something other than publish?)`,
        { cause: err },
      );
      return report(e);
    }
    try {
      const out = handler(payload);
      if (typeof (out as PromiseLike<void>)?.then === "function") {
        Promise.resolve(out).catch(report);
      }
    } catch (err) {
      report(err);
    }
  };
  const notifier = new Notifier(listenDb, schema, {
    ...(checkIntervalMs === undefined ? {} : { checkIntervalMs }),
    onError: (err) => report(err),
  });
  const sub = await notifier.subscribe(topicOf(c), deliver, { onRelisten: o.onRelisten })
    .catch((err) => {
      throw toDatabaseError(err, `subscribe to "${c.name}"`);
    });
  const signal = o.signal;
  let done: Promise<void> | null = null;
  const onAbort = () => void unsubscribe();
  const unsubscribe = () => {
    signal?.removeEventListener("abort", onAbort);
    return done ??= sub.unsubscribe();
  };
  if (signal) {
    if (signal.aborted) {
      await unsubscribe();
      signal.throwIfAborted();
    }
    signal.addEventListener("abort", onAbort, { once: true });
  }
  return { channel: c.name, unsubscribe, [Symbol.asyncDispose]: unsubscribe };
}
