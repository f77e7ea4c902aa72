/**
 * NOTIFY channel names, scoped to the schema. `awa.notify_channel` (migration 006) computes the
 * same names in SQL; `tests/db/channels_test.ts` checks that the two agree.
 * @module
 */
import { createHash } from "node:crypto";
import { DEFAULT_SCHEMA } from "../schema.ts";

/** Topic of cancel and rescue notices; `@` is outside the queue-name alphabet. */
export const CANCEL_TOPIC = "@cancel";
/** Topic of callback resolutions (`awa.notify_callback`). */
export const CALLBACK_TOPIC = "@callback";

/** Topic of terminal-transition notices of waited-for jobs (`awa.notify_waiters`). */
export const RESULT_TOPIC = "@result";

const encoder = new TextEncoder();

/**
 * The channel of a topic (a queue name for wakeups, or {@link CANCEL_TOPIC}) in a schema:
 * `awa:<topic>` for the default schema, `<schema>:<topic>` for others, or
 * `awa~<md5>` when that would exceed Postgres' 63-byte channel limit.
 */
export function notifyChannel(schema: string, topic: string): string {
  if (schema === DEFAULT_SCHEMA) return `awa:${topic}`;
  const scoped = `${schema}:${topic}`;
  if (encoder.encode(scoped).length <= 63) return scoped;
  return `awa~${createHash("md5").update(scoped).digest("hex")}`;
}
