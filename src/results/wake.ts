/**
 * A one-slot wake-up: `wake()` ends the current `sleep`, or the next one at once when nobody
 * sleeps, so a wake between two sleeps is never lost.
 * @module
 */
export class Wake {
  #pending = false;
  #end: (() => void) | null = null;

  /** End the current sleep, or the next one. */
  wake(): void {
    if (this.#end) this.#end();
    else this.#pending = true;
  }

  /** Sleep up to `ms` ms; a wake or `signal` ends it early. Resolves either way. */
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (this.#pending || signal?.aborted) {
      this.#pending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const end = () => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", end);
        this.#end = null;
        resolve();
      };
      const timer = setTimeout(end, ms);
      signal?.addEventListener("abort", end, { once: true });
      this.#end = end;
    });
  }
}
