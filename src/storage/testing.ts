/**
 * Reads for the testing kit (`@awa/awa/testing`): jobs of a kind as the `jobs` view shows them,
 * and how many jobs of a queue could still run now. Not a hot path: the view joins the rings.
 * @module
 */
import type { Store } from "./store.ts";

/** A job row as the testing kit reports it. */
export interface JobRow {
  id: string;
  kind: string;
  queue: string;
  args: unknown;
  state: string;
  priority: number;
  run_at: Date;
}

const FIND_JOBS_SQL = `SELECT id::text AS id, kind, queue, args, state::text AS state, priority,
  run_at FROM {{schema}}.jobs
WHERE kind = $1 AND ($2::text IS NULL OR queue = $2)
  AND ($3::text IS NULL OR args @> $3::text::jsonb)
  AND ($4::text[] IS NULL OR state::text = ANY($4::text[]))
ORDER BY id`;

/**
 * Jobs of `kind`, optionally only those of `queue`, whose args contain `argsJson` (jsonb
 * containment) and whose state is one of `states`; ordered by id.
 */
export function findJobs(
  store: Store,
  kind: string,
  queue: string | null,
  argsJson: string | null,
  states: readonly string[] | null,
): Promise<JobRow[]> {
  return store.run<JobRow>("findJobs", FIND_JOBS_SQL, [kind, queue, argsJson, states]);
}

const COUNT_RUNNABLE_SQL = `SELECT count(*)::int AS n FROM {{schema}}.jobs
WHERE queue = $1 AND (state IN ('available', 'running')
  OR (state IN ('scheduled', 'retryable') AND run_at <= now()))`;

/** Jobs of `queue` that are running, or could be claimed now (due ones included). */
export async function countRunnable(store: Store, queue: string): Promise<number> {
  const rows = await store.run<{ n: number }>("countRunnable", COUNT_RUNNABLE_SQL, [queue]);
  return rows[0]?.n ?? 0;
}
