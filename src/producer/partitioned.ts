/**
 * Partitioned queues: one logical queue spread over several physical ones, so that jobs with
 * one ordering key stay on one partition (and in insert order) while partitions are worked in
 * parallel. Routing uses Algorithm P ({@link partitionForOrderingKey}), domain-separated from
 * the enqueue-shard hash.
 * @module
 */
import { ValidationError } from "../errors.ts";
import { checkQueue } from "../job.ts";
import { partitionForOrderingKey } from "../hash.ts";
import { describe } from "../validate.ts";

/** Most partitions one logical queue may have. */
export const MAX_PARTITIONS = 32767;

/** Where a keyed job goes: spread it into `insert` or `insertMany` options. */
export interface PartitionRoute {
  /** The physical queue of the key's partition. */
  queue: string;
  /** The key itself, so jobs of one key also keep their order within the partition. */
  orderingKey: string | Uint8Array;
}

/**
 * A logical queue over `n` physical partitions: partition 0 is the logical name itself, then
 * `name__p1` … `name__p{n−1}`; or an explicit ordered list of physical names. `n = 1` is a plain
 * queue. Producers route with {@link queueForKey} / {@link route}; a `Client` serves every
 * partition with `queues: { ...pq.queues({ maxWorkers: 5 }) }` (the config applies to each
 * partition, so capacity and rate multiply by `n`).
 *
 * ```ts
 * const updates = new PartitionedQueue("customer-updates", 4);
 * await insertMany(sql, job, rows.map((r) => ({ args: r, ...updates.route(r.customerId) })));
 * ```
 */
export class PartitionedQueue {
  /** The logical name (partition 0's queue when built from a count). */
  readonly name: string;
  /** Physical queue names, partition 0 first. */
  readonly names: readonly string[];

  /**
   * A logical queue over `partitions`; throws `ValidationError` for a bad name or count.
   * @param name the logical queue name (a valid queue name).
   * @param partitions how many partitions (1–32 767), or the physical names in partition order
   *   (non-empty, distinct, valid queue names).
   */
  constructor(name: string, partitions: number | readonly string[]) {
    this.name = checkQueue(name, "name");
    if (Array.isArray(partitions)) {
      if (partitions.length < 1 || partitions.length > MAX_PARTITIONS) {
        throw new ValidationError(
          "partitions",
          `must list 1 to ${MAX_PARTITIONS} queue names, got ${partitions.length}`,
        );
      }
      const seen = new Set<string>();
      this.names = partitions.map((q, i) => {
        const queue = checkQueue(i in partitions ? q : undefined, `partitions[${i}]`);
        if (seen.has(queue)) {
          throw new ValidationError(`partitions[${i}]`, `${describe(queue)} is listed twice`);
        }
        seen.add(queue);
        return queue;
      });
    } else {
      if (
        typeof partitions !== "number" || !Number.isInteger(partitions) || partitions < 1 ||
        partitions > MAX_PARTITIONS
      ) {
        throw new ValidationError(
          "partitions",
          `must be an integer from 1 to ${MAX_PARTITIONS} or a list of queue names, got ${
            describe(partitions)
          }`,
        );
      }
      this.names = Array.from(
        { length: partitions },
        (_, i) => checkQueue(i === 0 ? name : `${name}__p${i}`, `partitions[${i}]`),
      );
    }
    Object.freeze(this.names);
  }

  /** How many partitions. */
  get count(): number {
    return this.names.length;
  }

  /** The physical queue of partition `index mod count` (`index` a non-negative integer). */
  queueForIndex(index: number): string {
    if (!Number.isSafeInteger(index) || index < 0) {
      throw new ValidationError("index", `must be a non-negative integer, got ${describe(index)}`);
    }
    return this.names[index % this.names.length];
  }

  /** The partition index of an ordering key (Algorithm P). */
  partitionForKey(key: string | Uint8Array): number {
    return partitionForOrderingKey(key, this.names.length);
  }

  /** The physical queue of an ordering key's partition. */
  queueForKey(key: string | Uint8Array): string {
    return this.names[this.partitionForKey(key)];
  }

  /** The key's physical queue and the key as `orderingKey`, for insert options. */
  route(key: string | Uint8Array): PartitionRoute {
    return { queue: this.queueForKey(key), orderingKey: key };
  }

  /**
   * Client queue configs of every partition, each a copy of `config` (default `{}`): spread
   * into `ClientOptions.queues`.
   */
  queues<C extends object>(config?: C): Record<string, C> {
    const base = config === undefined ? ({} as C) : config;
    if (typeof base !== "object" || base === null || Array.isArray(base)) {
      throw new ValidationError("config", `must be a queue config object, got ${describe(base)}`);
    }
    return Object.fromEntries(this.names.map((q) => [q, { ...base }]));
  }
}
