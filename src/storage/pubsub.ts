/**
 * Statements of pub/sub (src/pubsub/): one NOTIFY on a channel of the schema.
 * @module
 */
import type { Store } from "./store.ts";

/**
 * NOTIFY `payload` on the channel of `topic` in the store's schema (`notify_channel`). On a
 * transaction the notice is queued and delivered when it commits; a rollback drops it.
 */
export async function publishNotice(store: Store, topic: string, payload: string): Promise<void> {
  await store.run(
    "publishNotice",
    "SELECT pg_notify({{schema}}.notify_channel($1::text), $2::text)",
    [topic, payload],
  );
}
