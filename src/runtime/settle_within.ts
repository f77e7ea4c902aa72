/**
 * Waiting on a promise for at most a given time, for steps that must not hang on a database
 * that stopped answering (shutdown steps, the leader's lock check).
 * @module
 */

/** The outcome of {@link settleWithin}: the promise's value, or that time ran out first. */
export type Settled<T> = { done: true; value: T } | { done: false };

/**
 * Wait for `promise` for at most `ms` milliseconds. Resolves `{ done: true, value }` when it
 * fulfils in time and `{ done: false }` when time runs out; rejects when it rejects in time. The
 * timer is cleared either way, so a pending step keeps no process alive.
 */
export async function settleWithin<T>(promise: Promise<T>, ms: number): Promise<Settled<T>> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<Settled<T>>((r) => timer = setTimeout(() => r({ done: false }), ms));
  try {
    return await Promise.race([
      promise.then((value) => ({ done: true as const, value })),
      timedOut,
    ]);
  } finally {
    clearTimeout(timer);
  }
}
