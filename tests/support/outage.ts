/**
 * Helpers of the outage tests (tests/outage_*_test.ts): bounded waits on promises that must
 * not hang, and a record of rejections nobody handled.
 */

/** How a promise ended within a time bound; `"pending"` when it was still unsettled. */
export type Settled<T> =
  | { status: "fulfilled"; value: T }
  | { status: "rejected"; reason: unknown }
  | { status: "pending" };

/** Wait at most `ms` for `p`; never rejects. */
export function settleWithin<T>(p: PromiseLike<T>, ms: number): Promise<Settled<T>> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const pending = new Promise<Settled<T>>((r) => {
    timer = setTimeout(() => r({ status: "pending" }), ms);
  });
  const settled = Promise.resolve(p).then(
    (value): Settled<T> => ({ status: "fulfilled", value }),
    (reason): Settled<T> => ({ status: "rejected", reason }),
  );
  return Promise.race([settled, pending]).finally(() => clearTimeout(timer));
}

/**
 * Collect every unhandled promise rejection of this process (and keep it from killing the
 * test run, so the test can report it): assert the returned array stays empty.
 */
export function trackUnhandledRejections(): unknown[] {
  const seen: unknown[] = [];
  globalThis.addEventListener("unhandledrejection", (e) => {
    seen.push(e.reason);
    e.preventDefault();
  });
  return seen;
}

/**
 * Collect uncaught exceptions of this process (keeping them from ending the test run):
 * assert the returned array stays empty.
 */
export function trackUncaughtErrors(): unknown[] {
  const seen: unknown[] = [];
  globalThis.addEventListener("error", (e) => {
    seen.push(e.error ?? e.message);
    e.preventDefault();
  });
  return seen;
}
