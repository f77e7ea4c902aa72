/**
 * In-process single-flight: concurrent callers asking for the same key share one promise, so
 * one load runs however many ask at once. The entry goes as soon as the load settles.
 * @module
 */

/** Loads in flight, by database handle (each transaction is its own) and then by key. */
const flights = new WeakMap<object, Map<string, Promise<unknown>>>();

/** The load in flight for `key` on `handle`, or a new one started with `start`. */
export function joinFlight<T>(handle: object, key: string, start: () => Promise<T>): Promise<T> {
  let byKey = flights.get(handle);
  if (byKey === undefined) flights.set(handle, byKey = new Map());
  const running = byKey.get(key);
  if (running !== undefined) return running as Promise<T>;
  const map = byKey;
  const p = start().finally(() => map.delete(key));
  map.set(key, p);
  return p;
}
