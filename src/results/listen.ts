/**
 * How a waiter hears that jobs ended: the `@result` topic of the schema-scoped notifier, on a
 * postgres.js pool (the process's shared LISTEN connection), or the node-postgres pool's own
 * LISTEN client. Other handles (adapters, one node-postgres client, a reserved connection)
 * cannot LISTEN: their waiters poll.
 *
 * On a postgres.js pool every waiter of one schema shares one `@result` subscription, kept for
 * {@link RESULT_LINGER_MS} after its last waiter leaves: a LISTEN and UNLISTEN per wait would
 * sit on the caller's path, and a process with nothing else listening would open and close the
 * LISTEN connection for every request.
 * @module
 */
import type { Sql } from "postgres";
import { notifyChannel, RESULT_TOPIC } from "../db/channels.ts";
import type { Db, Executor } from "../db/executor.ts";
import { Notifier, type Subscription } from "../db/notifier.ts";

/** A live LISTEN of the `@result` topic. */
export interface ResultListen {
  /** Stop listening. Idempotent. */
  close(): Promise<void>;
}

/**
 * How long the shared `@result` subscription of a pool and schema outlives its last waiter, in
 * ms. Back-to-back requests reuse the open LISTEN; a process that waited and has nothing else
 * to do exits at most this much later.
 */
export const RESULT_LINGER_MS = 5_000;

interface ResultWaiter {
  onEnded(jobId: string): void;
  onRelisten(): void;
}

/** The shared subscription of one pool and schema. */
interface SharedListen {
  readonly waiters: Set<ResultWaiter>;
  /** Resolves once the LISTEN is in effect; rejects (and the entry goes) when it fails. */
  readonly ready: Promise<Subscription>;
  linger: ReturnType<typeof setTimeout> | null;
}

const shared = new Map<Sql, Map<string, SharedListen>>();

function isPostgresJsPool(db: Db): db is Sql {
  return typeof db === "function" && typeof (db as Sql).listen === "function" &&
    typeof (db as Sql).options === "object";
}

function sharedListen(db: Sql, schema: string): SharedListen {
  let bySchema = shared.get(db);
  if (!bySchema) shared.set(db, bySchema = new Map());
  const entry = bySchema.get(schema);
  if (entry) return entry;
  const waiters = new Set<ResultWaiter>();
  // Background failures of the shared connection need no report here: the poll covers them.
  const notifier = new Notifier(db, schema, { onError: () => {} });
  const ready = notifier.subscribe(RESULT_TOPIC, (jobId) => {
    for (const w of [...waiters]) w.onEnded(jobId);
  }, {
    onRelisten: () => {
      for (const w of [...waiters]) w.onRelisten();
    },
  });
  const created: SharedListen = { waiters, ready, linger: null };
  ready.catch(() => forget(db, schema, created));
  bySchema.set(schema, created);
  return created;
}

function forget(db: Sql, schema: string, entry: SharedListen): void {
  const bySchema = shared.get(db);
  if (bySchema?.get(schema) !== entry) return;
  bySchema.delete(schema);
  if (bySchema.size === 0) shared.delete(db);
}

async function joinShared(db: Sql, schema: string, waiter: ResultWaiter): Promise<ResultListen> {
  const entry = sharedListen(db, schema);
  if (entry.linger !== null) clearTimeout(entry.linger);
  entry.linger = null;
  // Joined before the LISTEN is awaited: a notice can only come after the job is inserted.
  entry.waiters.add(waiter);
  try {
    await entry.ready;
  } catch (err) {
    entry.waiters.delete(waiter);
    throw err;
  }
  let closed = false;
  return {
    close() {
      if (closed) return Promise.resolve();
      closed = true;
      entry.waiters.delete(waiter);
      if (entry.waiters.size === 0 && entry.linger === null) {
        entry.linger = setTimeout(() => {
          forget(db, schema, entry);
          entry.ready.then((sub) => sub.unsubscribe()).catch(() => {});
        }, RESULT_LINGER_MS);
      }
      return Promise.resolve();
    },
  };
}

/**
 * LISTEN to the ends of waited-for jobs in `schema`: `onEnded` gets each ended job's id, and
 * `onRelisten` runs when the connection was replaced (notices may have been missed). Resolves
 * once the LISTEN is in effect, or to null when `db` cannot LISTEN.
 */
export async function listenForEnds(
  db: Db,
  ex: Executor,
  schema: string,
  onEnded: (jobId: string) => void,
  onRelisten: () => void,
): Promise<ResultListen | null> {
  if (isPostgresJsPool(db)) return await joinShared(db, schema, { onEnded, onRelisten });
  if (ex.listen) {
    const l = await ex.listen(notifyChannel(schema, RESULT_TOPIC), onEnded, onRelisten);
    let closed: Promise<void> | null = null;
    return { close: () => closed ??= l.unlisten() };
  }
  return null;
}
