/**
 * The one place Awa LISTENs and the one place TypeScript sends NOTIFY.
 *
 * A process keeps one LISTEN connection per database (per postgres.js pool, or per connection
 * URL), shared by every {@link Notifier} on it: queue wakeups and cancel notices of every
 * `Client`, and later any other topic. A channel is LISTENed when its first subscriber arrives
 * and UNLISTENed when its last one leaves; the connection opens with the first subscription and
 * closes with the last. Topics are names inside one Awa schema ({@link notifyChannel}), so two
 * schemas in one database never hear each other.
 *
 * Notices sent while the connection is down are lost for good, so after every re-listen each
 * subscription's `onRelisten` runs (the dispatcher claims at once; its poll covers the rest).
 * The connection is re-established when it closes, and a periodic self-addressed probe catches
 * the cases no close event reports: a LISTEN lost while the connection stayed up, or a socket
 * that stopped answering.
 *
 * The connection is a one-connection postgres.js instance built from the pool's options (as
 * postgres.js builds its own `listen` connection); `openListenSession` is the only code that
 * knows that, and is where the executor's `listen()` takes over.
 * @module
 */
import postgres, { type Sql } from "postgres";
import { ValidationError } from "../errors.ts";
import { checkSchema, DEFAULT_SCHEMA } from "../schema.ts";
import { checkInteger, checkOptions, describe } from "../validate.ts";
import { notifyChannel } from "./channels.ts";

/** Largest NOTIFY payload Postgres accepts, in UTF-8 bytes (it refuses 8000 and more). */
export const MAX_PAYLOAD_BYTES = 7999;

/** Longest channel name Postgres accepts, in bytes. */
const MAX_CHANNEL_BYTES = 63;

/** `application_name` of the LISTEN connection, so operators can tell it apart. */
export const LISTEN_APPLICATION_NAME = "awa notifier";

/** Where a notifier listens: a postgres.js pool, or a connection URL. */
export type NotifierDb = Sql | string;

/** Receives the payload of one notice. */
export type NoticeHandler = (payload: string) => void;

/** Options of a {@link Notifier}. */
export interface NotifierOptions {
  /**
   * How often the shared connection proves, with a notice to itself, that notices still
   * arrive, in ms (0 to 3 600 000); 0 asks for no probe. The connection probes at the
   * shortest interval any current subscriber asked for. Default 10 000.
   */
  checkIntervalMs?: number;
  /** Called when a handler throws or a background step (probe, re-listen) fails. */
  onError?: (err: unknown, where: string) => void;
}

/** Options of {@link Notifier.subscribe}. */
export interface SubscribeOptions {
  /**
   * Called after the connection was lost and LISTENs again: notices sent in between are gone,
   * so look for missed work now.
   */
  onRelisten?: () => void;
}

/** A live subscription; `await using` it to unsubscribe at the end of a scope. */
export interface Subscription extends AsyncDisposable {
  /** The topic subscribed to. */
  readonly topic: string;
  /** The Postgres channel the topic maps to in the notifier's schema. */
  readonly channel: string;
  /** Stop delivering notices; the last subscriber of a channel UNLISTENs it. Idempotent. */
  unsubscribe(): Promise<void>;
}

/** Counters of the notifier connections of this process. */
export interface NotifierStats {
  /** LISTEN connections open in this process, over all databases. */
  connections: number;
  /** Channels LISTENed on this notifier's database (the probe's not counted). */
  channels: number;
  /** Subscriptions on this notifier's database, over all schemas. */
  subscriptions: number;
  /** Re-listens of this database's connection since it opened. */
  relistens: number;
  /** Backend pid of this database's LISTEN connection, once connected; null when closed. */
  backendPid: number | null;
}

const NOTIFIER_OPTION_KEYS: ReadonlySet<string> = new Set(["checkIntervalMs", "onError"]);
const SUBSCRIBE_OPTION_KEYS: ReadonlySet<string> = new Set(["onRelisten"]);
const DEFAULT_CHECK_INTERVAL_MS = 10_000;
const MAX_CHECK_INTERVAL_MS = 3_600_000;
/** Topic of the probe notices; `@` keeps it apart from queue names. */
const PROBE_TOPIC_PREFIX = "@probe:";
/** Delay before the n-th retry of a failed re-listen, in ms: 100 ms doubling up to 2 s. */
const relistenRetryMs = (n: number) => Math.min(100 * 2 ** (n - 1), 2000);

const encoder = new TextEncoder();

/** A postgres.js instance of one connection that delivers notices and close events. */
interface ListenSession {
  sql: Sql;
}

/**
 * Open the LISTEN connection: the pool's settings (or the URL's), one connection without idle
 * or lifetime limit, its own reconnect counter.
 */
function openListenSession(
  db: NotifierDb,
  onNotify: (channel: string, payload: string) => void,
  onClose: () => void,
): ListenSession {
  const own = {
    max: 1,
    // 0: no idle or lifetime limit (closing the connection would lose notices).
    idle_timeout: 0,
    max_lifetime: 0,
    fetch_types: false,
    onnotice() {},
    onnotify: onNotify,
    onclose: onClose,
  };
  if (typeof db === "string") {
    return {
      sql: postgres(db, { ...own, connection: { application_name: LISTEN_APPLICATION_NAME } }),
    };
  }
  return {
    sql: postgres({
      ...db.options,
      ...own,
      connection: { ...db.options.connection, application_name: LISTEN_APPLICATION_NAME },
      shared: { retries: 0, typeArrayMap: {} },
    } as unknown as postgres.Options<Record<string, postgres.PostgresType>>),
  };
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

interface Sub {
  readonly channel: string;
  readonly handler: NoticeHandler;
  readonly onRelisten: (() => void) | undefined;
  /** The subscribing notifier's error callback and probe interval. */
  readonly onError: (err: unknown, where: string) => void;
  readonly checkIntervalMs: number;
}

/** Call an error callback; one that throws has nowhere left to report to. */
function report(onError: Sub["onError"], err: unknown, where: string): void {
  try {
    onError(err, where);
  } catch {
    // Dropped on purpose: see above.
  }
}

interface Channel {
  readonly subs: Set<Sub>;
  /** The LISTEN that made this channel live; later subscribers wait for it too. */
  readonly listening: Promise<unknown>;
}

/** Shared connections by database; a hub leaves the map when it closes. */
const hubs = new Map<NotifierDb, ListenHub>();

/** One database's LISTEN connection, its channels and subscriptions, probe and re-listen. */
class ListenHub {
  readonly #db: NotifierDb;
  readonly #channels = new Map<string, Channel>();
  readonly #probeChannel = notifyChannel(DEFAULT_SCHEMA, PROBE_TOPIC_PREFIX + crypto.randomUUID());
  #session: ListenSession;
  #backendPid: number | null = null;
  /** Subscriptions plus sends in flight: the hub closes when this drops to zero. */
  #users = 0;
  #closed = false;
  #closing: Promise<void> | null = null;
  relistens = 0;
  #relistenRun: Promise<void> | null = null;
  #relistenFailures = 0;
  #retryTimer: ReturnType<typeof setTimeout> | null = null;
  #probeTimer: ReturnType<typeof setTimeout> | null = null;
  #probeDelayMs = 0;
  #probing: Promise<void> | null = null;
  #probeNonce = 0;
  /** The probe waiting for its notice: resolved true when it arrives, false on close. */
  #probeWait: { nonce: string; resolve: (heard: boolean) => void } | null = null;

  constructor(db: NotifierDb) {
    this.#db = db;
    this.#session = this.#open();
  }

  get channels(): number {
    return this.#channels.size;
  }

  get subscriptions(): number {
    let n = 0;
    for (const c of this.#channels.values()) n += c.subs.size;
    return n;
  }

  get backendPid(): number | null {
    return this.#backendPid;
  }

  /** The postgres.js instance of the LISTEN connection, for tests that break it on purpose. */
  get session(): Sql {
    return this.#session.sql;
  }

  /** A fresh session: learn its backend pid and LISTEN to the probe channel first. */
  #open(): ListenSession {
    const session: ListenSession = openListenSession(
      this.#db,
      (channel, payload) => {
        if (session === this.#session) this.#deliver(channel, payload);
      },
      () => {
        // Only a connection that was up is re-established here; a failed connect fails the
        // LISTEN that opened it, and that caller (subscribe or a re-listen) handles it.
        if (session === this.#session && this.#backendPid !== null && !this.#closed) {
          void this.#relisten();
        }
      },
    );
    this.#backendPid = null;
    session.sql.unsafe("SELECT pg_backend_pid() AS pid").then(
      (rows) => {
        if (session === this.#session) this.#backendPid = Number(rows[0].pid);
      },
      // Connecting failed: the LISTEN sent right after fails the same way and is reported.
      () => {},
    );
    session.sql.unsafe(`LISTEN ${quoteIdent(this.#probeChannel)}`).catch(() => {});
    return session;
  }

  async add(sub: Sub): Promise<void> {
    this.#users++;
    let ch = this.#channels.get(sub.channel);
    if (!ch) {
      ch = {
        subs: new Set(),
        listening: this.#session.sql.unsafe(`LISTEN ${quoteIdent(sub.channel)}`),
      };
      this.#channels.set(sub.channel, ch);
    }
    ch.subs.add(sub);
    this.#scheduleProbe();
    try {
      await ch.listening;
    } catch (err) {
      await this.remove(sub);
      throw err;
    }
  }

  async remove(sub: Sub): Promise<void> {
    const ch = this.#channels.get(sub.channel);
    if (!ch?.subs.delete(sub)) return;
    if (ch.subs.size === 0) this.#channels.delete(sub.channel);
    if (--this.#users === 0) return this.#close();
    this.#scheduleProbe();
    if (ch.subs.size > 0) return;
    try {
      await this.#session.sql.unsafe(`UNLISTEN ${quoteIdent(sub.channel)}`);
    } catch {
      // The connection is gone: its replacement LISTENs only to channels still subscribed.
    }
  }

  /** Send a notice on the LISTEN connection (opened for the call if nothing listens). */
  async send(channel: string, payload: string): Promise<void> {
    this.#users++;
    try {
      await this.#session.sql.unsafe("SELECT pg_notify($1, $2)", [channel, payload]);
    } finally {
      if (--this.#users === 0) await this.#close();
    }
  }

  #deliver(channel: string, payload: string): void {
    if (channel === this.#probeChannel) {
      if (payload === this.#probeWait?.nonce) this.#probeWait.resolve(true);
      return;
    }
    const ch = this.#channels.get(channel);
    if (!ch) return;
    for (const sub of [...ch.subs]) {
      try {
        sub.handler(payload);
      } catch (err) {
        report(sub.onError, err, `notice on ${channel}`);
      }
    }
  }

  /** Report a background failure once to every notifier with a live subscription. */
  #reportError(err: unknown, where: string): void {
    const callbacks = new Set<Sub["onError"]>();
    for (const ch of this.#channels.values()) for (const s of ch.subs) callbacks.add(s.onError);
    for (const onError of callbacks) report(onError, err, where);
  }

  /**
   * Replace the connection and LISTEN to every channel again, then tell the subscribers.
   * One re-listen at a time; a failed one is retried with backoff until it works.
   */
  #relisten(): Promise<void> {
    if (this.#relistenRun || this.#closed) return this.#relistenRun ?? Promise.resolve();
    if (this.#retryTimer !== null) clearTimeout(this.#retryTimer);
    this.#retryTimer = null;
    const run = async () => {
      const old = this.#session;
      this.#session = this.#open();
      old.sql.end({ timeout: 0 }).catch(() => {});
      const names = [...this.#channels.keys()];
      try {
        // Sent in one go: an UNLISTEN issued meanwhile queues behind them on the connection.
        await Promise.all(names.map((n) => this.#session.sql.unsafe(`LISTEN ${quoteIdent(n)}`)));
      } catch (err) {
        if (this.#closed) return;
        this.#reportError(err, "re-listen after losing the LISTEN connection");
        this.#retryTimer = setTimeout(() => {
          this.#retryTimer = null;
          void this.#relisten();
        }, relistenRetryMs(++this.#relistenFailures));
        return;
      }
      if (this.#closed) return;
      this.#relistenFailures = 0;
      this.relistens++;
      for (const ch of [...this.#channels.values()]) {
        for (const s of [...ch.subs]) {
          try {
            s.onRelisten?.();
          } catch (err) {
            report(s.onError, err, "re-listen hook");
          }
        }
      }
    };
    this.#relistenRun = run().finally(() => this.#relistenRun = null);
    return this.#relistenRun;
  }

  /** (Re)arm the probe at the shortest interval the subscribers ask for. */
  #scheduleProbe(): void {
    let delay = 0;
    for (const ch of this.#channels.values()) {
      for (const s of ch.subs) {
        const ms = s.checkIntervalMs;
        if (ms > 0 && (delay === 0 || ms < delay)) delay = ms;
      }
    }
    if (this.#probing || (this.#probeTimer !== null && delay === this.#probeDelayMs)) return;
    if (this.#probeTimer !== null) clearTimeout(this.#probeTimer);
    this.#probeTimer = null;
    this.#probeDelayMs = delay;
    if (delay === 0 || this.#closed) return;
    this.#probeTimer = setTimeout(() => {
      this.#probeTimer = null;
      this.#probing = this.#probe().finally(() => {
        this.#probing = null;
        this.#scheduleProbe();
      });
    }, delay);
  }

  /**
   * Send a notice to ourselves on the LISTEN connection and wait for it. When it does not come
   * back in time (LISTEN lost, or the connection stopped answering), replace the connection.
   */
  async #probe(): Promise<void> {
    // A re-listen under way or waiting to retry already replaces the connection.
    if (this.#relistenRun || this.#retryTimer !== null) return;
    const nonce = String(++this.#probeNonce);
    const windowMs = Math.min(5000, Math.max(100, this.#probeDelayMs));
    let timer: ReturnType<typeof setTimeout> | undefined;
    const heard = await new Promise<boolean>((resolve) => {
      this.#probeWait = { nonce, resolve };
      timer = setTimeout(() => resolve(false), windowMs);
      this.#session.sql.unsafe("SELECT pg_notify($1, $2)", [this.#probeChannel, nonce]).catch(
        (err) => {
          // A closed connection re-listens by itself; this says why the notice will not come.
          if (!this.#closed) this.#reportError(err, "listen probe");
        },
      );
    });
    clearTimeout(timer);
    this.#probeWait = null;
    if (!heard && !this.#closed) await this.#relisten();
  }

  #close(): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#closed = true;
    if (hubs.get(this.#db) === this) hubs.delete(this.#db);
    for (const t of [this.#probeTimer, this.#retryTimer]) if (t !== null) clearTimeout(t);
    this.#probeTimer = this.#retryTimer = null;
    this.#probeWait?.resolve(false);
    this.#backendPid = null;
    // Ended first: a re-listen stuck connecting to a server that is down fails at once.
    const ending = this.#session.sql.end({ timeout: 1 });
    this.#closing = (async () => {
      await this.#probing;
      await this.#relistenRun;
      await ending;
    })();
    return this.#closing;
  }
}

function hubFor(db: NotifierDb): ListenHub {
  let hub = hubs.get(db);
  if (!hub) hubs.set(db, hub = new ListenHub(db));
  return hub;
}

/**
 * The postgres.js instance of the LISTEN connection `db` currently shares, or null when none
 * is open. For tests that break the connection on purpose.
 */
export function listenSessionOf(db: NotifierDb): Sql | null {
  return hubs.get(db)?.session ?? null;
}

/**
 * Schema-scoped access to the process's shared LISTEN connection of one database. Holds
 * nothing by itself: the connection lives while any subscription (of any notifier) does.
 */
export class Notifier {
  /** The Awa schema whose topics this notifier addresses. */
  readonly schema: string;
  /** Requested probe interval in ms; 0 for none. */
  readonly checkIntervalMs: number;
  readonly #db: NotifierDb;
  readonly #onError: (err: unknown, where: string) => void;

  /**
   * @param db the postgres.js pool or connection URL to listen on; notifiers with the same
   *   pool (or the same URL) share one connection.
   * @param schema the Awa schema of the topics.
   */
  constructor(db: NotifierDb, schema: string, options?: NotifierOptions) {
    const isPool = typeof db === "function" && typeof (db as Sql).options === "object";
    if (!isPool && (typeof db !== "string" || db.length === 0)) {
      throw new ValidationError("db", `must be a postgres.js Sql or a URL, got ${describe(db)}`);
    }
    const o = checkOptions<NotifierOptions>(options, "options", NOTIFIER_OPTION_KEYS);
    if (o.onError !== undefined && typeof o.onError !== "function") {
      throw new ValidationError("options.onError", "must be a function");
    }
    this.#db = db;
    this.schema = checkSchema(schema);
    this.checkIntervalMs = o.checkIntervalMs === undefined
      ? DEFAULT_CHECK_INTERVAL_MS
      : checkInteger(o.checkIntervalMs, "options.checkIntervalMs", 0, MAX_CHECK_INTERVAL_MS);
    this.#onError = o.onError ?? (() => {});
  }

  /**
   * Deliver the payload of every notice on `topic` in this schema to `handler`. Resolves once
   * the channel is LISTENed; rejects (subscribing nothing) when the LISTEN fails.
   */
  async subscribe(
    topic: string,
    handler: NoticeHandler,
    options?: SubscribeOptions,
  ): Promise<Subscription> {
    const channel = this.#channel(topic);
    if (typeof handler !== "function") throw new ValidationError("handler", "must be a function");
    const o = checkOptions<SubscribeOptions>(options, "options", SUBSCRIBE_OPTION_KEYS);
    if (o.onRelisten !== undefined && typeof o.onRelisten !== "function") {
      throw new ValidationError("options.onRelisten", "must be a function");
    }
    const sub: Sub = {
      channel,
      handler,
      onRelisten: o.onRelisten,
      onError: this.#onError,
      checkIntervalMs: this.checkIntervalMs,
    };
    const hub = hubFor(this.#db);
    await hub.add(sub);
    let done: Promise<void> | null = null;
    const unsubscribe = () => done ??= hub.remove(sub);
    return { topic, channel, unsubscribe, [Symbol.asyncDispose]: unsubscribe };
  }

  /**
   * Send `payload` to the subscribers of `topic` in this schema, on every process. Sent at
   * once, outside any transaction of yours (use `pg_notify` in SQL to send at commit). Throws
   * a `ValidationError`, sending nothing, for a payload over {@link MAX_PAYLOAD_BYTES} bytes.
   */
  async notify(topic: string, payload: string): Promise<void> {
    const channel = this.#channel(topic);
    if (typeof payload !== "string") {
      throw new ValidationError("payload", `must be a string, got ${describe(payload)}`);
    }
    if (payload.includes("\u0000")) {
      throw new ValidationError("payload", "must not contain NUL characters (\\u0000)");
    }
    const bytes = encoder.encode(payload).length;
    if (bytes > MAX_PAYLOAD_BYTES) {
      throw new ValidationError(
        "payload",
        `is ${bytes} bytes; Postgres NOTIFY payloads are at most ${MAX_PAYLOAD_BYTES} bytes, ` +
          "so send a key and keep the data in a table",
      );
    }
    await hubFor(this.#db).send(channel, payload);
  }

  /** Counters of this database's shared connection and of the process. */
  stats(): NotifierStats {
    const hub = hubs.get(this.#db);
    return {
      connections: hubs.size,
      channels: hub?.channels ?? 0,
      subscriptions: hub?.subscriptions ?? 0,
      relistens: hub?.relistens ?? 0,
      backendPid: hub?.backendPid ?? null,
    };
  }

  #channel(topic: string): string {
    if (typeof topic !== "string" || topic.length === 0) {
      throw new ValidationError("topic", `must be a non-empty string, got ${describe(topic)}`);
    }
    const channel = notifyChannel(this.schema, topic);
    if (encoder.encode(channel).length > MAX_CHANNEL_BYTES) {
      throw new ValidationError(
        "topic",
        `${describe(topic)} makes the channel "${channel}" longer than ${MAX_CHANNEL_BYTES} ` +
          "bytes; use a shorter topic",
      );
    }
    return channel;
  }
}
