/**
 * Maintenance services and their runner. A service is one periodic task of the leader
 * (promote, rescue, rings, …): it owns its options (defaults, validation), its interval, its
 * counters and one tick. The runner starts every enabled service when this process becomes
 * leader, runs each tick fenced to that term, backs off failing ticks, and stops them all on
 * lost leadership and at shutdown.
 * @module
 */
import type { ResolvedHeartbeat } from "../runtime/options.ts";
import type { ClientEvents } from "../runtime/types.ts";
import type { Store } from "../storage/store.ts";
import { LeadershipLost } from "./fence.ts";
import { Leader, type LeaderDeps, type ResolvedLeaderOptions, worthReporting } from "./leader.ts";
import type { MaintenanceStats } from "./registry.ts";

/** Client-wide settings a service's options may build on. */
export interface ClientSettings {
  heartbeat: ResolvedHeartbeat;
  /** `ClientOptions.dlqEnabledByDefault`. */
  dlqDefault: boolean;
}

/** What a tick works with. */
export interface ServiceContext {
  /** Storage of this client's schema; every statement is fenced to the current term. */
  readonly store: Store;
  readonly schema: string;
  readonly instanceId: string;
  /** Emit a client event (after the transition it describes committed). */
  emit<E extends keyof ClientEvents>(event: E, payload: ClientEvents[E]): void;
}

/**
 * One maintenance task.
 * @typeParam N its name: the key of its options under `maintenance` and its error `where`
 * @typeParam O its public options
 * @typeParam R its options resolved (`intervalMs` is the time between ticks)
 * @typeParam S its counters, merged into `MaintenanceStats`
 */
export interface MaintenanceService<
  N extends string,
  O,
  R extends { intervalMs: number },
  S extends object,
> {
  readonly name: N;
  /**
   * Validate the options given under `maintenance.<name>` (`field`), undefined for none, and
   * apply defaults; throws a ValidationError naming the offending field.
   */
  resolve(options: O | undefined, field: string, client: ClientSettings): R;
  /** This service's counters, at zero. */
  newStats(): S;
  /** One run; throws to report a failure (the next run then waits longer). */
  tick(ctx: ServiceContext, options: R, stats: S): Promise<void>;
}

// deno-lint-ignore no-explicit-any
export type AnyService = MaintenanceService<string, any, any, any>;

/** A service with its resolved options, as the runner starts it. */
export interface EnabledService {
  service: AnyService;
  options: { intervalMs: number };
}

/** Longest wait after failures, unless the interval itself is longer (ms). */
const FAILURE_WAIT_MAX_MS = 2000;

/** Counters of leadership, beside those of the services. */
export interface LeaderStats {
  /** Whether this client leads now. */
  leader: boolean;
  /** Elections this client won. */
  elections: number;
}

/** Leader election and the service loops of one client. */
export class MaintenanceRunner {
  #leader: Leader;
  #services: EnabledService[];
  #ctx: ServiceContext;
  #emitError: (err: unknown, where: string) => void;
  #timers: ReturnType<typeof setTimeout>[] = [];
  /** Names of loops with a run in flight, across terms: a loop never overlaps itself. */
  #busy = new Set<string>();
  #stats: Record<string, unknown>;

  constructor(
    deps: Omit<LeaderDeps, "onLead" | "onLose"> & Pick<ServiceContext, "emit">,
    leaderOptions: ResolvedLeaderOptions,
    services: EnabledService[],
    stats: Record<string, unknown>,
  ) {
    this.#leader = new Leader(
      { ...deps, onLead: () => this.#startLoops(), onLose: () => this.#stopLoops() },
      leaderOptions,
    );
    this.#services = services;
    this.#emitError = deps.emitError;
    this.#ctx = {
      store: this.#leader.fencedStore,
      schema: deps.schema,
      instanceId: deps.instanceId,
      emit: deps.emit,
    };
    this.#stats = stats;
  }

  get isLeader(): boolean {
    return this.#leader.leading;
  }

  /** Leadership and service counters (a copy; tallies by outcome are the live objects). */
  stats(): MaintenanceStats {
    const leader = this.#leader;
    // The registry's type of the counters every enabled service started from.
    return {
      leader: leader.leading,
      elections: leader.elections,
      ...this.#stats,
    } as MaintenanceStats;
  }

  start(): void {
    this.#leader.start();
  }

  async stop(): Promise<void> {
    await this.#leader.stop();
  }

  /** A term began: the leadership check after one ping interval, every service at once. */
  #startLoops(): void {
    const leader = this.#leader;
    // The check confirms leadership itself, and only when it saw the lock: a check that timed
    // out or failed returns normally and must not count as proof.
    this.#loop("ping", leader.pingMs, leader.pingMs, () => leader.ping(), false);
    for (const { service, options } of this.#services) {
      this.#loop(
        service.name,
        options.intervalMs,
        0,
        () => service.tick(this.#ctx, options, this.#stats),
      );
    }
  }

  #stopLoops(): void {
    for (const t of this.#timers.splice(0)) clearTimeout(t);
  }

  /**
   * Run `fn` every `ms` while the current term lasts, the first time after `firstMs`. A run
   * that succeeds confirms leadership as of its start; one that finds leadership lost deposes
   * this process; other failures are reported sparsely, and the next run waits longer, up to
   * 2 s (or `ms` if longer), so an outage costs neither a busy loop nor a flood of error events.
   */
  #loop(
    name: string,
    ms: number,
    firstMs: number,
    fn: () => Promise<void>,
    confirms = true,
  ): void {
    const leader = this.#leader;
    const term = leader.term;
    let failures = 0;
    const tick = async () => {
      if (leader.term !== term) return;
      if (!this.#busy.has(name)) {
        this.#busy.add(name);
        const startedAt = Date.now();
        try {
          await fn();
          if (confirms && leader.term === term) leader.confirm(startedAt);
          failures = 0;
        } catch (err) {
          if (err instanceof LeadershipLost) {
            if (leader.term === term) await leader.deposed();
          } else if (leader.leading && worthReporting(++failures)) {
            this.#emitError(err, `maintenance ${name}`);
          }
        } finally {
          this.#busy.delete(name);
        }
      }
      if (leader.term === term) {
        const wait = failures === 0
          ? ms
          : Math.min(ms * 2 ** failures, Math.max(ms, FAILURE_WAIT_MAX_MS));
        this.#timers.push(setTimeout(tick, wait));
      }
    };
    this.#timers.push(setTimeout(tick, firstMs));
  }
}
