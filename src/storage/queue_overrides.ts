/**
 * Live queue overrides (`queue_overrides`, migration 017): written by the admin layer, read by
 * every running Client.
 * @module
 */
import type { Store } from "./store.ts";

/** One row of `queue_overrides`; null fields leave the code config in force. */
export interface QueueOverridesRow {
  queue: string;
  poll_interval_ms: number | null;
  claim_batch_size: number | null;
  rate_per_second: number | null;
  rate_burst: number | null;
  deadline_ms: number | null;
}

/** The columns a patch may set; a column absent from the patch keeps its value. */
export type QueueOverridesPatch = Partial<Omit<QueueOverridesRow, "queue">>;

const COLUMNS = "queue, poll_interval_ms, claim_batch_size, rate_per_second::float8 AS " +
  "rate_per_second, rate_burst, deadline_ms";

const FIELDS = [
  ["poll_interval_ms", "int"],
  ["claim_batch_size", "int"],
  ["rate_per_second", "float8"],
  ["rate_burst", "int"],
  ["deadline_ms", "int"],
] as const;

// Each column takes the patch's value when the patch names it (null clears it), else keeps
// its own. The NOTIFY (delivered at commit) tells running clients to re-read at once instead
// of at their next refresh; it rides the control topic every Client listens on (`@cancel`).
const SET_SQL = `INSERT INTO {{schema}}.queue_overrides AS o
  (queue, ${FIELDS.map(([c]) => c).join(", ")})
VALUES ($1, ${FIELDS.map(([c, t]) => `($2::text::jsonb->>'${c}')::${t}`).join(", ")})
ON CONFLICT (queue) DO UPDATE SET ${
  FIELDS.map(([c, t]) =>
    `${c} = CASE WHEN $2::text::jsonb ? '${c}' THEN ($2::text::jsonb->>'${c}')::${t} ELSE o.${c} END`
  ).join(", ")
}, updated_at = now()
RETURNING ${COLUMNS}, pg_notify({{schema}}.notify_channel('@cancel'),
  json_build_object('overrides', $1)::text) AS notified`;

// A row without any override left means "code config": it goes, so listings stay short.
const DROP_EMPTY_SQL = `DELETE FROM {{schema}}.queue_overrides WHERE queue = $1 AND ${
  FIELDS.map(([c]) => `${c} IS NULL`).join(" AND ")
}`;

/** Apply `patch` to the overrides of `queue`; returns the row as it now stands. */
export async function setQueueOverrides(
  store: Store,
  queue: string,
  patch: QueueOverridesPatch,
): Promise<QueueOverridesRow> {
  const [row] = await store.run<QueueOverridesRow & { notified: unknown }>(
    "setQueueOverrides",
    SET_SQL,
    [queue, JSON.stringify(patch)],
  );
  await store.run("setQueueOverrides", DROP_EMPTY_SQL, [queue]);
  const { notified: _n, ...rest } = row;
  return rest;
}

/** The override rows of `queues` (every queue when null). */
export async function readQueueOverrides(
  store: Store,
  queues: readonly string[] | null,
): Promise<QueueOverridesRow[]> {
  return queues === null
    ? await store.run<QueueOverridesRow>(
      "readQueueOverrides",
      `SELECT ${COLUMNS} FROM {{schema}}.queue_overrides ORDER BY queue`,
      [],
    )
    : await store.run<QueueOverridesRow>(
      "readQueueOverrides",
      `SELECT ${COLUMNS} FROM {{schema}}.queue_overrides
      WHERE queue IN (SELECT jsonb_array_elements_text($1::text::jsonb)) ORDER BY queue`,
      [JSON.stringify(queues)],
    );
}
