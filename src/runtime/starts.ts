/**
 * Start records of held (prefetched) attempts. A held attempt's handler runs only after the
 * database knows it started: rescue hands never-started held attempts back uncounted, and a
 * started one must count even when its handler crashes the process. Starts that come in while
 * a write is in flight go out together in the next one, so a busy queue pays one round trip per
 * group of starts, not per job.
 * @module
 */
import { recordStarts, type SlotReceipt } from "../storage/claims.ts";
import type { Store } from "../storage/store.ts";

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
  #flushing = false;
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
          void this.#pump();
        });
      }
    });
  }

  async #pump(): Promise<void> {
    if (this.#flushing) return;
    this.#flushing = true;
    try {
      while (this.#queue.length > 0) {
        const batch = this.#queue.splice(0);
        try {
          await recordStarts(this.#store, this.#instanceId, batch.map((p) => p.receipt));
          for (const p of batch) p.resolve();
        } catch (err) {
          for (const p of batch) p.reject(err);
        }
      }
    } finally {
      this.#flushing = false;
    }
  }
}
