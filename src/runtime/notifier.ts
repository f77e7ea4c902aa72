/**
 * The one place a client LISTENs. All topics (queue wakeups, cancel notices) share the pool's
 * single listen connection, channel names are scoped to the schema (see `channels.ts`), and a
 * periodic self-addressed probe proves that notices still arrive: postgres.js re-listens by
 * itself after a dropped connection, but gives the channel up silently when that reconnect
 * fails (server down, login refused), so the probe re-listens whenever its notice is missing.
 * After every re-listen the `onRelisten` hooks run, because notices sent while the connection
 * was gone are lost for good.
 * @module
 */
import type { Sql } from "postgres";
import { ClientStateError } from "../errors.ts";
import { notifyChannel } from "./channels.ts";

/** Options of a {@link Notifier}. */
export interface NotifierOptions {
  /** How often to prove that notices arrive, in ms; 0 disables the probe. Default 10 000. */
  checkIntervalMs?: number;
  /** Called when a background step (probe, re-listen) fails; the notifier keeps going. */
  onError?: (err: unknown, where: string) => void;
}

type Handler = (payload: string) => void;

interface Subscription {
  channel: string;
  handlers: Set<Handler>;
  /** Set once the first LISTEN went through; later `onlisten` calls are re-listens. */
  listened: boolean;
  /**
   * Bumped by every LISTEN we issue. postgres.js re-listens with the same callback, so a
   * listener it keeps from before is told apart by its generation and stays silent.
   */
  generation: number;
  unlisten: (() => Promise<void>) | null;
}

/** Topic of the probe notices; `@` keeps it apart from queue names. */
const PROBE_TOPIC_PREFIX = "@probe:";

/** Schema-scoped LISTEN on one connection, with liveness probing and re-listen. */
export class Notifier {
  readonly #sql: Sql;
  readonly #schema: string;
  readonly #onError: (err: unknown, where: string) => void;
  readonly #checkIntervalMs: number;
  readonly #subs = new Map<string, Subscription>();
  readonly #relistenHooks = new Set<() => void>();
  readonly #probeTopic = PROBE_TOPIC_PREFIX + crypto.randomUUID();
  #probeTimer: ReturnType<typeof setTimeout> | null = null;
  /** The probe in progress, awaited by close() so no query runs after it. */
  #probing: Promise<void> | null = null;
  #probeNonce = 0;
  #probeSeen = 0;
  #closed = false;
  /** Re-listens done (automatic reconnects and probe-driven ones), for tests and stats. */
  relistens = 0;

  constructor(sql: Sql, schema: string, options: NotifierOptions = {}) {
    this.#sql = sql;
    this.#schema = schema;
    this.#checkIntervalMs = options.checkIntervalMs ?? 10_000;
    this.#onError = options.onError ?? (() => {});
  }

  /**
   * Deliver the payload of every notice on `topic` (a queue name, or `CANCEL_TOPIC`) in this
   * notifier's schema to `handler`. Resolves once the LISTEN is in place; returns a function
   * that removes the handler.
   */
  async subscribe(topic: string, handler: Handler): Promise<() => void> {
    if (this.#closed) throw new ClientStateError("the notifier is closed");
    let sub = this.#subs.get(topic);
    if (sub) {
      sub.handlers.add(handler);
    } else {
      sub = {
        channel: notifyChannel(this.#schema, topic),
        handlers: new Set([handler]),
        listened: false,
        generation: 0,
        unlisten: null,
      };
      this.#subs.set(topic, sub);
      await this.#listen(sub);
      this.#startProbe();
    }
    const s = sub;
    return () => void s.handlers.delete(handler);
  }

  /** Run `hook` after every re-listen: notices may have been missed while it was down. */
  onRelisten(hook: () => void): () => void {
    this.#relistenHooks.add(hook);
    return () => void this.#relistenHooks.delete(hook);
  }

  /** Stop probing and UNLISTEN every channel. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#probeTimer !== null) clearTimeout(this.#probeTimer);
    this.#probeTimer = null;
    await this.#probing;
    const subs = [...this.#subs.values()];
    this.#subs.clear();
    // After an automatic re-listen postgres.js holds a listener the old unlisten function no
    // longer reaches; a new generation makes any such leftover a no-op.
    for (const s of subs) s.generation++;
    await Promise.all(subs.map(async (s) => {
      try {
        await s.unlisten?.();
      } catch {
        // The listen connection may already be gone; nothing is left to undo then.
      }
    }));
  }

  async #listen(sub: Subscription): Promise<void> {
    sub.listened = false;
    const generation = ++sub.generation;
    const result = await this.#sql.listen(
      sub.channel,
      (payload) => {
        if (generation !== sub.generation) return;
        for (const h of sub.handlers) {
          try {
            h(payload);
          } catch (err) {
            this.#onError(err, `notice on ${sub.channel}`);
          }
        }
      },
      () => {
        if (generation !== sub.generation) return;
        if (sub.listened) this.#relistened();
        sub.listened = true;
      },
    );
    sub.unlisten = result.unlisten;
  }

  /** Hooks run once per burst: one reconnect re-listens every channel at once. */
  #relistenQueued = false;
  #relistened(): void {
    this.relistens++;
    if (this.#relistenQueued || this.#closed) return;
    this.#relistenQueued = true;
    queueMicrotask(() => {
      this.#relistenQueued = false;
      for (const hook of this.#relistenHooks) {
        try {
          hook();
        } catch (err) {
          this.#onError(err, "re-listen hook");
        }
      }
    });
  }

  #startProbe(): void {
    if (this.#subs.has(this.#probeTopic) || this.#checkIntervalMs <= 0 || this.#closed) return;
    const probe = this.#probeSubscription();
    this.#subs.set(this.#probeTopic, probe);
    this.#listen(probe)
      .catch((err) => this.#onError(err, "listen for probe"))
      .finally(() => this.#scheduleProbe());
  }

  #probeSubscription(): Subscription {
    return {
      channel: notifyChannel(this.#schema, this.#probeTopic),
      handlers: new Set([(payload) => {
        const n = Number(payload);
        if (n > this.#probeSeen) this.#probeSeen = n;
      }]),
      listened: false,
      generation: 0,
      unlisten: null,
    };
  }

  #scheduleProbe(): void {
    if (this.#closed) return;
    this.#probeTimer = setTimeout(() => {
      this.#probeTimer = null;
      this.#probing = this.#probe().finally(() => {
        this.#probing = null;
        this.#scheduleProbe();
      });
    }, this.#checkIntervalMs);
  }

  /**
   * Send a notice to ourselves and wait for it. When the send works but the notice does not
   * come back, the listen connection lost its channels: LISTEN on all of them again.
   */
  async #probe(): Promise<void> {
    const nonce = ++this.#probeNonce;
    const channel = notifyChannel(this.#schema, this.#probeTopic);
    try {
      await this.#sql`SELECT pg_notify(${channel}, ${String(nonce)})`;
    } catch (err) {
      // The database is unreachable: nothing to conclude about the listen connection yet.
      if (!this.#closed) this.#onError(err, "notifier probe");
      return;
    }
    const until = Date.now() + Math.min(5000, Math.max(100, this.#checkIntervalMs));
    while (this.#probeSeen < nonce && Date.now() < until && !this.#closed) {
      await new Promise((r) => setTimeout(r, 10));
    }
    if (this.#probeSeen < nonce && !this.#closed) await this.#relistenAll();
  }

  async #relistenAll(): Promise<void> {
    for (const sub of this.#subs.values()) {
      if (this.#closed) return;
      try {
        await sub.unlisten?.();
      } catch {
        // Already gone with the old connection.
      }
      try {
        await this.#listen(sub);
      } catch (err) {
        this.#onError(err, `re-listen ${sub.channel}`);
        return;
      }
    }
    this.#relistened();
  }
}
