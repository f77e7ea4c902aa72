/**
 * The handler context: cancellation signal, explicit outcomes and progress.
 * @module
 */
import { ValidationError } from "../errors.ts";
import type { JobContext, Outcome, Progress } from "./types.ts";

const MAX_PROGRESS_BYTES = 64 * 1024;

const outcomes = new WeakSet<object>();

/** True when a handler's return value is an outcome built by the context. */
export function isOutcome(value: unknown): value is Outcome {
  return typeof value === "object" && value !== null && outcomes.has(value);
}

function checkDelay(ms: unknown, field: string): number {
  if (typeof ms !== "number" || !Number.isFinite(ms) || ms < 0) {
    throw new ValidationError(field, "must be a finite number of milliseconds ≥ 0");
  }
  return ms;
}

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
): JobContext {
  const make = (type: Outcome["type"], extra: { delayMs?: number; reason?: string }) => {
    const o = Object.freeze({ type, ...extra }) as unknown as Outcome;
    outcomes.add(o);
    return o;
  };
  return {
    signal,
    retryAfter: (ms) => make("retry", { delayMs: checkDelay(ms, "retryAfter(ms)") }),
    snooze: (ms) => make("snooze", { delayMs: checkDelay(ms, "snooze(ms)") }),
    cancel: (reason) => make("cancel", { reason: String(reason ?? "") }),
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
