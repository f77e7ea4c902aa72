/**
 * How a waiter hears that jobs ended: the `@result` topic of the schema-scoped notifier, on a
 * postgres.js pool (the process's shared LISTEN connection), or the node-postgres pool's own
 * LISTEN client. Other handles (adapters, one node-postgres client, a reserved connection)
 * cannot LISTEN: their waiters poll.
 * @module
 */
import type { Sql } from "postgres";
import { notifyChannel, RESULT_TOPIC } from "../db/channels.ts";
import type { Db, Executor } from "../db/executor.ts";
import { Notifier } from "../db/notifier.ts";

/** A live LISTEN of the `@result` topic. */
export interface ResultListen {
  /** Stop listening. Idempotent. */
  close(): Promise<void>;
}

function isPostgresJsPool(db: Db): db is Sql {
  return typeof db === "function" && typeof (db as Sql).listen === "function" &&
    typeof (db as Sql).options === "object";
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
  if (isPostgresJsPool(db)) {
    // Background failures of the shared connection need no report here: the poll covers them.
    const notifier = new Notifier(db, schema, { onError: () => {} });
    const sub = await notifier.subscribe(RESULT_TOPIC, onEnded, { onRelisten });
    return { close: () => sub.unsubscribe() };
  }
  if (ex.listen) {
    const l = await ex.listen(notifyChannel(schema, RESULT_TOPIC), onEnded, onRelisten);
    let closed: Promise<void> | null = null;
    return { close: () => closed ??= l.unlisten() };
  }
  return null;
}
