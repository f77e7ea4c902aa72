/**
 * `publish`: one typed message on a channel, through NOTIFY, inside the caller's transaction
 * when given one.
 * @module
 */
import { toDatabaseError } from "../db/classify.ts";
import { type Db, toExecutor } from "../db/executor.ts";
import { mapMissingSchema } from "../migrate.ts";
import { checkSchema } from "../schema.ts";
import { publishNotice } from "../storage/pubsub.ts";
import { storeOf } from "../storage/store.ts";
import { checkOptions } from "../validate.ts";
import { type ChannelDefinition, checkChannel, encodePayload, topicOf } from "./channel.ts";

/** Options of {@link publish}. */
export interface PublishOptions {
  /** The Awa schema whose subscribers hear the message. Default `"awa"`. */
  schema?: string;
}

const PUBLISH_KEYS: ReadonlySet<string> = new Set(["schema"]);

/**
 * Send `payload` to every subscriber of `channel` in the schema, in every process. On a
 * transaction (`sql.begin(tx => publish(tx, …))`) it is delivered when that transaction commits
 * and never if it rolls back; on a pool it is delivered at once. Each subscriber connected at
 * delivery gets it once; one that is disconnected then never does (no replay).
 *
 * Throws `ValidationError` (bad channel, non-JSON payload, the channel's validator refused
 * it) or `PayloadTooLargeError` (over {@link MAX_PUBLISH_BYTES} bytes of JSON), sending nothing.
 */
export async function publish<P>(
  db: Db,
  channel: ChannelDefinition<P>,
  payload: P,
  options?: PublishOptions,
): Promise<void> {
  const c = checkChannel<P>(channel);
  const o = checkOptions<PublishOptions>(options, "options", PUBLISH_KEYS);
  const schema = checkSchema(o.schema, "options.schema");
  const text = encodePayload(c, payload);
  const ex = toExecutor(db);
  try {
    await publishNotice(storeOf(ex, schema), topicOf(c), text);
  } catch (err) {
    throw toDatabaseError(mapMissingSchema(err, ex, schema), `publish on "${c.name}"`);
  }
}

/** Largest payload, re-exported beside {@link publish}. */
export { MAX_PUBLISH_BYTES } from "./channel.ts";
