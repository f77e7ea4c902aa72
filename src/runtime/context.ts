/**
 * The handler context: cancellation signal, the outcome constructors of the outcome table
 * (outcomes.ts), progress and the attempt's callback methods (callbacks.ts).
 * @module
 */
import { ValidationError } from "../errors.ts";
import { outcomeConstructors } from "./outcomes.ts";
import type { CallbackMethods } from "./callbacks.ts";
import type { JobContext, Progress } from "./types.ts";

const MAX_PROGRESS_BYTES = 64 * 1024;

/** Mutable progress of one attempt plus its flush bookkeeping. */
export class ProgressState {
  value: Progress | null;
  dirty = false;
  constructor(initial: Progress | null) {
    this.value = initial;
  }
}

/** Build the context handed to one handler invocation. */
export function createContext(
  signal: AbortSignal,
  progress: ProgressState,
  flush: () => Promise<boolean>,
  callbacks: CallbackMethods,
): JobContext {
  return {
    signal,
    ...outcomeConstructors,
    ...callbacks,
    setProgress(percent, message) {
      if (typeof percent !== "number" || Number.isNaN(percent)) {
        throw new ValidationError("setProgress(percent)", "must be a number");
      }
      const next: Progress = {
        percent: Math.min(100, Math.max(0, percent)),
        message: message ?? null,
        metadata: progress.value?.metadata ?? {},
      };
      if (JSON.stringify(next).length > MAX_PROGRESS_BYTES) {
        throw new ValidationError("setProgress", "progress must serialize to at most 64 KiB");
      }
      progress.value = next;
      progress.dirty = true;
    },
    updateMetadata(patch) {
      if (typeof patch !== "object" || patch === null || Array.isArray(patch)) {
        throw new ValidationError("updateMetadata(patch)", "must be a plain object");
      }
      const next: Progress = {
        percent: progress.value?.percent ?? 0,
        message: progress.value?.message ?? null,
        metadata: { ...(progress.value?.metadata ?? {}), ...patch },
      };
      if (JSON.stringify(next).length > MAX_PROGRESS_BYTES) {
        throw new ValidationError("updateMetadata", "progress must serialize to at most 64 KiB");
      }
      progress.value = next;
      progress.dirty = true;
    },
    flushProgress: flush,
  };
}
