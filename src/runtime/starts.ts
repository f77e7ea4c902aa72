/**
 * Start records of held (prefetched) attempts. A held attempt's handler runs only after the
 * database knows it started: rescue hands never-started held attempts back uncounted, and a
 * started one must count even when its handler crashes the process. Starts that come in while
 * writes are in flight go out together in the next one, so a busy queue pays one round trip per
 * group of starts, not per job.
 * @module
 */
import { recordStarts, type SlotReceipt } from "../storage/claims.ts";
import type { Store } from "../storage/store.ts";

/**
 * Start writes in flight at once. Each worker waits one of them before each held job, so a
 * single lane made every group wait out the previous group's round trip as well as its own; a
 * few lanes keep that wait near one round trip under load. The bound keeps a burst of starts
 * from taking the whole connection pool.
 */
export const MAX_START_WRITES = 3;

interface PendingStart {
  receipt: SlotReceipt;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/** Batches start records of one runtime; `record` resolves once the start is committed. */
export class StartRecorder {
  #store: Store;
  #instanceId: string;
  #queue: PendingStart[] = [];
  #inFlight = 0;
  #pumpQueued = false;

  constructor(store: Store, instanceId: string) {
    this.#store = store;
    this.#instanceId = instanceId;
  }

  /** Queue one start for the next write. */
  record(claimSlot: number, receipt: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ receipt: { claim_slot: claimSlot, receipt }, resolve, reject });
      // After the current microtasks: the starts of one dispatch round share a write.
      if (!this.#pumpQueued) {
        this.#pumpQueued = true;
        queueMicrotask(() => {
          this.#pumpQueued = false;
          this.#pump();
        });
      }
    });
  }

  #pump(): void {
    while (this.#queue.length > 0 && this.#inFlight < MAX_START_WRITES) {
      const batch = this.#queue.splice(0);
      this.#inFlight++;
      recordStarts(this.#store, this.#instanceId, batch.map((p) => p.receipt)).then(
        () => {
          for (const p of batch) p.resolve();
        },
        (err) => {
          for (const p of batch) p.reject(err);
        },
      ).finally(() => {
        this.#inFlight--;
        this.#pump();
      });
    }
  }
}
