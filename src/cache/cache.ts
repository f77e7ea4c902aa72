/**
 * The TTL cache: typed JSON values in an UNLOGGED table, with `getOrSet` loading each missed
 * key once per process (single-flight) and once across processes (a load lease per key: see
 * `takeCacheLease` in src/storage/cache.ts).
 * @module
 */
import { toDatabaseError } from "../db/classify.ts";
import { type Db, type Executor, toExecutor } from "../db/executor.ts";
import { ValidationError } from "../errors.ts";
import { mapMissingSchema, requireSchema } from "../migrate.ts";
import { checkSchema } from "../schema.ts";
import {
  deleteCacheEntry,
  dropCacheLease,
  readCacheEntry,
  takeCacheLease,
  writeCacheEntry,
} from "../storage/cache.ts";
import { type Store, storeOf } from "../storage/store.ts";
import { checkInteger, checkOptions, describe } from "../validate.ts";
import { checkKey, checkNamespace, checkTtl, encodeValue } from "./limits.ts";
import { joinFlight } from "./single_flight.ts";

/** Options of a {@link Cache}. */
export interface CacheOptions {
  /** Keys of different namespaces never meet: 1-200 characters of letters, digits, `_ . : -`. */
  namespace: string;
  /** TTL of writes that give none, in ms (1 to 365 days). Without it every write must give one. */
  ttlMs?: number;
  /** The Awa schema holding the cache table. Default `"awa"`. */
  schema?: string;
  /**
   * How long a `getOrSet` load holds its key, in ms (1 to 3 600 000): the other processes that
   * miss the key meanwhile wait for its value. A loader that runs longer (or a process that
   * died while loading) lets the next one load the key too. Default 30 000.
   */
  leaseMs?: number;
}

/** Options of {@link Cache.set}. */
export interface CacheSetOptions {
  /** Time to live, in ms (1 to 365 days). Default: the cache's `ttlMs`. */
  ttlMs?: number;
}

/** Options of {@link Cache.getOrSet}. */
export interface GetOrSetOptions extends CacheSetOptions {
  /** Stop waiting (rejecting with its reason); a load already running still finishes. */
  signal?: AbortSignal;
}

/** Produces the value of a missed key; a rejection fails every caller waiting for that load. */
export type CacheLoader<V> = () => V | Promise<V>;

const CACHE_KEYS: ReadonlySet<string> = new Set(["namespace", "ttlMs", "schema", "leaseMs"]);
const SET_KEYS: ReadonlySet<string> = new Set(["ttlMs"]);
const GET_OR_SET_KEYS: ReadonlySet<string> = new Set(["ttlMs", "signal"]);
const DEFAULT_LEASE_MS = 30_000;
/** Polls for a key another process is loading: 5 ms, doubling up to 100 ms. */
const pollDelayMs = (n: number) => Math.min(5 * 2 ** n, 100);

/** Carries a loader's own failure through the database-error mapping unchanged. */
class LoaderFailure {
  constructor(readonly cause: unknown) {}
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function abortable<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return p;
  signal.throwIfAborted();
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

/**
 * A namespace of the cache table, bound to one database handle. Values are JSON (at most
 * 1 MiB); an entry is gone once its TTL has passed, whether or not maintenance has removed its
 * row yet. The table is UNLOGGED: it is emptied after a server crash and not replicated.
 *
 * ```ts
 * const users = new Cache<User>(sql, { namespace: "users", ttlMs: 60_000 });
 * const u = await users.getOrSet(`user:${id}`, {}, () => loadUser(id));
 * ```
 */
export class Cache<V> {
  /** The namespace. */
  readonly namespace: string;
  /** The Awa schema. */
  readonly schema: string;
  /** Default TTL in ms, or undefined when every write gives its own. */
  readonly ttlMs: number | undefined;
  /** How long a `getOrSet` load holds its key, in ms. */
  readonly leaseMs: number;
  readonly #ex: Executor;

  /**
   * Bind a namespace of the cache table to `db`; nothing is read or written yet.
   * @param db a postgres.js pool or transaction, or a node-postgres handle from `fromPg`. On a
   *   transaction every operation runs in it (its writes are seen by others at commit).
   * Throws `ValidationError` for bad options.
   */
  constructor(db: Db, options: CacheOptions) {
    this.#ex = toExecutor(db);
    if (options === undefined) {
      throw new ValidationError("options", "must be an object with at least a namespace");
    }
    const o = checkOptions<CacheOptions>(options, "options", CACHE_KEYS);
    this.namespace = checkNamespace(o.namespace, "options.namespace");
    this.schema = checkSchema(o.schema, "options.schema");
    this.ttlMs = o.ttlMs === undefined ? undefined : checkTtl(o.ttlMs, "options.ttlMs");
    this.leaseMs = o.leaseMs === undefined
      ? DEFAULT_LEASE_MS
      : checkInteger(o.leaseMs, "options.leaseMs", 1, 3_600_000);
  }

  /** The value of `key`, or undefined when it is absent or expired. */
  async get(key: string): Promise<V | undefined> {
    checkKey(key);
    const text = await this.#run("get", (s) => readCacheEntry(s, this.namespace, key));
    return text === null ? undefined : JSON.parse(text) as V;
  }

  /**
   * Store `value` (JSON, at most 1 MiB) under `key` for `ttlMs`, replacing what was there.
   * Throws `ValidationError` (bad key, TTL or value) or `PayloadTooLargeError`, writing nothing.
   */
  async set(key: string, value: V, options?: CacheSetOptions): Promise<void> {
    checkKey(key);
    const ttlMs = this.#ttl(checkOptions<CacheSetOptions>(options, "options", SET_KEYS));
    const text = encodeValue(value, "value");
    await this.#run("set", (s) => writeCacheEntry(s, this.namespace, key, text, ttlMs));
  }

  /** Remove `key`; true when a live entry was removed. */
  async delete(key: string): Promise<boolean> {
    checkKey(key);
    return await this.#run("delete", (s) => deleteCacheEntry(s, this.namespace, key));
  }

  /**
   * The value of `key`; on a miss, `loader`'s value, stored for `ttlMs`. Concurrent misses of
   * one key in this process share one `loader` call. Across processes, the first to miss takes
   * the key's load lease (a row, so no connection is held while the loader runs) and loads;
   * the others wait for its value, re-reading every 5 to 100 ms. So a missed key is loaded
   * once, unless a load outlives `leaseMs`: then one more process may load it per `leaseMs`.
   *
   * Resolves to the value as stored (its JSON round trip). Throws what `loader` throws, or
   * `ValidationError` / `PayloadTooLargeError` for bad arguments or a value `loader` returned
   * that cannot be cached.
   */
  async getOrSet(key: string, options: GetOrSetOptions, loader: CacheLoader<V>): Promise<V> {
    checkKey(key);
    const o = checkOptions<GetOrSetOptions>(options ?? {}, "options", GET_OR_SET_KEYS);
    const ttlMs = this.#ttl(o);
    if (typeof loader !== "function") {
      throw new ValidationError("loader", `must be a function, got ${describe(loader)}`);
    }
    if (o.signal !== undefined && !(o.signal instanceof AbortSignal)) {
      throw new ValidationError(
        "options.signal",
        `must be an AbortSignal, got ${describe(o.signal)}`,
      );
    }
    o.signal?.throwIfAborted();
    const hit = await this.get(key);
    if (hit !== undefined) return hit;
    const flightKey = `${this.schema}\u0000${this.namespace}\u0000${key}`;
    const flight = joinFlight(this.#ex.identity, flightKey, () => this.#load(key, ttlMs, loader));
    return await abortable(flight as Promise<V>, o.signal);
  }

  /** Load a missed key: under its lease, or by waiting for the process holding it. */
  async #load(key: string, ttlMs: number, loader: CacheLoader<V>): Promise<V> {
    const ns = this.namespace;
    const fill = async (store: Store): Promise<V> => {
      let value: V;
      try {
        value = await loader();
      } catch (err) {
        throw new LoaderFailure(err);
      }
      const text = encodeValue(value, "loader()");
      await writeCacheEntry(store, ns, key, text, ttlMs);
      return JSON.parse(text) as V;
    };
    const lease = crypto.randomUUID();
    for (let polls = 0;; polls++) {
      // Taking the lease re-checks the key: a value stored since our miss means no load.
      if (await this.#run("getOrSet", (s) => takeCacheLease(s, ns, key, lease, this.leaseMs))) {
        try {
          return await this.#run("getOrSet", fill);
        } catch (err) {
          await this.#run("getOrSet", (s) => dropCacheLease(s, ns, key, lease)).catch(() => {});
          throw err;
        }
      }
      const hit = await this.get(key);
      if (hit !== undefined) return hit;
      await sleep(pollDelayMs(polls));
    }
  }

  #ttl(o: CacheSetOptions): number {
    if (o.ttlMs !== undefined) return checkTtl(o.ttlMs, "options.ttlMs");
    if (this.ttlMs === undefined) {
      throw new ValidationError(
        "options.ttlMs",
        "is required: this cache has no default ttlMs (set one in new Cache(db, { ttlMs }))",
      );
    }
    return this.ttlMs;
  }

  async #run<T>(what: string, fn: (store: Store) => Promise<T>): Promise<T> {
    const ex = this.#ex;
    try {
      await requireSchema(ex, this.schema);
      return await fn(storeOf(ex, this.schema));
    } catch (err) {
      if (err instanceof LoaderFailure) throw err.cause;
      throw toDatabaseError(mapMissingSchema(err, ex, this.schema), `cache ${what}`);
    }
  }
}
