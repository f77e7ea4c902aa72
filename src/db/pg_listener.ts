/**
 * LISTEN for node-postgres pools. node-postgres has no listen of its own: notices arrive on the
 * client that ran LISTEN, so each pool gets one client checked out for all its channels (as
 * postgres.js keeps one listen connection per pool). When that connection is lost the listener
 * checks out a new one, LISTENs every channel again and tells each subscriber, since notices
 * sent in between are gone; reconnects back off from 50 ms to 2 s.
 * @module
 */
import type { Listening, PgNotification, PgPool, PgPoolClient } from "./executor.ts";

interface Subscriber {
  onMessage: (payload: string) => void;
  onRelisten?: () => void;
}

interface Channel {
  subscribers: Set<Subscriber>;
  /** Settles when the channel's first LISTEN went through (or failed). */
  ready: Promise<void>;
}

const RECONNECT_BASE_MS = 50;
const RECONNECT_MAX_MS = 2000;

function listenSql(verb: "LISTEN" | "UNLISTEN", channel: string): string {
  return `${verb} "${channel.replace(/"/g, '""')}"`;
}

/**
 * Run a subscriber's callback: one that throws must neither skip the others nor break the
 * connection's event handling, and is not swallowed either (it surfaces as an uncaught error).
 */
function isolated(fn: () => void): void {
  try {
    fn();
  } catch (err) {
    queueMicrotask(() => {
      throw err;
    });
  }
}

/** The one listen connection of a node-postgres pool and the channels on it. */
class PgListener {
  readonly #pool: PgPool;
  readonly #channels = new Map<string, Channel>();
  /** The connected listen client; null while connecting, after a loss, or with no channels. */
  #client: PgPoolClient | null = null;
  #connecting: Promise<PgPoolClient> | null = null;
  #failures = 0;
  #retryTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(pool: PgPool) {
    this.#pool = pool;
  }

  async listen(
    channel: string,
    onMessage: (payload: string) => void,
    onRelisten?: () => void,
  ): Promise<Listening> {
    const subscriber: Subscriber = { onMessage, onRelisten };
    let ch = this.#channels.get(channel);
    if (ch === undefined) {
      // Registered before the first await, so a concurrent unlisten never closes the
      // connection under this LISTEN.
      ch = {
        subscribers: new Set(),
        ready: this.#connection().then(async (c) => {
          await c.query(listenSql("LISTEN", channel));
        }),
      };
      this.#channels.set(channel, ch);
    }
    ch.subscribers.add(subscriber);
    try {
      await ch.ready;
    } catch (err) {
      this.#drop(channel, subscriber);
      if (this.#channels.get(channel) === ch) this.#channels.delete(channel);
      this.#closeIfUnused();
      throw err;
    }
    let active = true;
    return {
      unlisten: async () => {
        if (!active) return;
        active = false;
        await this.#unlisten(channel, subscriber);
      },
    };
  }

  /** Remove `subscriber`; true when its channel has no subscriber left. */
  #drop(channel: string, subscriber: Subscriber): boolean {
    const ch = this.#channels.get(channel);
    if (ch === undefined) return false;
    ch.subscribers.delete(subscriber);
    if (ch.subscribers.size > 0) return false;
    this.#channels.delete(channel);
    return true;
  }

  async #unlisten(channel: string, subscriber: Subscriber): Promise<void> {
    if (!this.#drop(channel, subscriber)) return;
    const client = this.#client;
    if (this.#channels.size === 0) {
      // Closing the connection ends every LISTEN on it.
      this.#closeIfUnused();
      return;
    }
    await client?.query(listenSql("UNLISTEN", channel));
  }

  #closeIfUnused(): void {
    if (this.#channels.size > 0) return;
    if (this.#retryTimer !== null) clearTimeout(this.#retryTimer);
    this.#retryTimer = null;
    const client = this.#client;
    this.#client = null;
    // Never back into the pool: it would keep LISTENing for whoever checks it out next.
    if (client) this.#detach(client, true);
  }

  #connection(): Promise<PgPoolClient> {
    if (this.#client) return Promise.resolve(this.#client);
    return this.#connecting ??= this.#open().finally(() => this.#connecting = null);
  }

  async #open(): Promise<PgPoolClient> {
    const client = await this.#pool.connect();
    const lost = (err?: Error) => this.#lost(client, err);
    client.on?.("notification", (msg: PgNotification) => this.#deliver(msg));
    client.on?.("error", lost);
    client.on?.("end", () => lost());
    this.#client = client;
    return client;
  }

  #detach(client: PgPoolClient, err: Error | true): void {
    client.removeAllListeners?.("notification");
    client.removeAllListeners?.("end");
    // The "error" listener stays: a late error of a discarded client must not go unobserved.
    client.release(err);
  }

  #deliver(msg: PgNotification): void {
    const ch = this.#channels.get(msg.channel);
    if (ch === undefined) return;
    const payload = msg.payload ?? "";
    for (const s of ch.subscribers) isolated(() => s.onMessage(payload));
  }

  #lost(client: PgPoolClient, err?: Error): void {
    if (this.#client !== client) return;
    this.#client = null;
    this.#detach(client, err ?? true);
    if (this.#channels.size > 0) this.#scheduleRelisten();
  }

  #scheduleRelisten(): void {
    if (this.#retryTimer !== null) return;
    const delay = Math.min(RECONNECT_MAX_MS, RECONNECT_BASE_MS * 2 ** Math.min(this.#failures, 10));
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = null;
      void this.#relisten();
    }, delay);
  }

  async #relisten(): Promise<void> {
    if (this.#channels.size === 0 || (this.#pool as { ending?: boolean }).ending) return;
    let client: PgPoolClient | null = null;
    try {
      client = await this.#connection();
      const names = [...this.#channels.keys()];
      for (const name of names) await client.query(listenSql("LISTEN", name));
      this.#failures = 0;
      // Everyone unlistened while this reconnect was under way: give the new client up.
      this.#closeIfUnused();
      for (const name of names) {
        for (const s of this.#channels.get(name)?.subscribers ?? []) {
          if (s.onRelisten) isolated(s.onRelisten);
        }
      }
    } catch (err) {
      this.#failures++;
      if (client !== null && this.#client === client) {
        this.#lost(client, err instanceof Error ? err : new Error(String(err)));
      } else if (this.#channels.size > 0) {
        this.#scheduleRelisten();
      }
    }
  }
}

const listeners = new WeakMap<PgPool, PgListener>();

/** The listener of `pool`, created on first use. */
export function pgListenerOf(pool: PgPool): PgListener {
  let l = listeners.get(pool);
  if (l === undefined) listeners.set(pool, l = new PgListener(pool));
  return l;
}
