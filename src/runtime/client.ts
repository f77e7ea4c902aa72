/**
 * `Client`: serves queues with typed workers — dispatch, heartbeat, cancellation, maintenance
 * leadership and graceful shutdown.
 * @module
 */
import postgres, { type Sql } from "postgres";
import { hostname } from "node:os";
import process from "node:process";
import {
  ClientStateError,
  DeadlineExceededError,
  JobCancelledError,
  JobRescuedError,
  ShutdownAbortError,
  TimeoutError,
  ValidationError,
} from "../errors.ts";
import { checkQueue, type JobDefinition } from "../job.ts";
import { checkSchema } from "../schema.ts";
import { requireSchema } from "../migrate.ts";
import { finalizeAttempts, recordHeartbeat } from "../storage/attempts.ts";
import { deregisterRuntime, registerRuntime } from "../storage/runtimes.ts";
import { VERSION } from "../version.ts";
import { CALLBACK_TOPIC, CANCEL_TOPIC } from "../db/channels.ts";
import { onCallbackNotice } from "./callbacks.ts";
import { Completer } from "./completer.ts";
import { RuntimeCore } from "./core.ts";
import {
  type Attempt,
  CANCELLED_WHILE_RUNNING,
  QueueDispatcher,
  receiptOf,
  releaseItemOf,
} from "./dispatcher.ts";
import { openLockSession } from "../maintenance/leader.ts";
import { type Store, storeOf } from "../storage/store.ts";
import { toExecutor } from "../db/executor.ts";
import {
  type MaintenanceOptions,
  type MaintenanceStats,
  type ResolvedMaintenance,
  resolveMaintenance,
} from "../maintenance/registry.ts";
import { MaintenanceRunner } from "../maintenance/service.ts";
import { type CronOptions, defineCronSchedule } from "../cron/definition.ts";
import { CronSync } from "../cron/sync.ts";
import { endCronWaits } from "../maintenance/cron.ts";
import { Notifier, type Subscription } from "../db/notifier.ts";
import {
  boolOr,
  checkEventName,
  checkObject,
  describeValue,
  intIn,
  type ResolvedHeartbeat,
  type ResolvedNotifier,
  type ResolvedQueueConfig,
  resolveHeartbeat,
  resolveNotifier,
  resolveQueue,
  resolveShutdown,
} from "./options.ts";
import { openSession, runtimePoolOptions } from "./pool.ts";
import { settleWithin } from "./settle_within.ts";
import { buildWeightedPool, type WeightedPool } from "./weighted_pool.ts";
import { isOverridesNotice, OverrideRefresher, overrideRefreshMs } from "./overrides.ts";
import type {
  ClientEvents,
  Handler,
  HeartbeatOptions,
  NotifierOptions,
  QueueConfig,
  WorkerEntry,
} from "./types.ts";

/** Options of a {@link Client}. */
export interface ClientOptions {
  /** Queues this client serves, by name. */
  queues: Record<string, QueueConfig>;
  /** Awa schema. Default `"awa"`. */
  schema?: string;
  /** Send terminal failures of queues without an explicit policy to the DLQ. Default false. */
  dlqEnabledByDefault?: boolean;
  /**
   * Take part in maintenance leader election and configure its services (see
   * {@link MaintenanceOptions}, e.g. `{ promote: { intervalMs: 100 } }`). `false` keeps this
   * client out of elections. Default true: every service with its defaults.
   */
  maintenance?: boolean | MaintenanceOptions;
  /** Heartbeat of running attempts and when rescue takes them for stale. */
  heartbeat?: HeartbeatOptions;
  /** Self-check of the notification connection. */
  notifier?: NotifierOptions;
  /**
   * Pool size when the client opens its own pool from a URL. Default 10; 1 works. Work
   * (claims, heartbeats, outcomes, maintenance statements) shares the pool; beside it the
   * process keeps one LISTEN connection per URL, shared by every client on that URL, and
   * with maintenance on each client opens one that holds the leader lock, and with
   * `claimConnections` one per queue for its claims. A client thus uses at most
   * `poolSize + 2 + queues` connections (`poolSize + 2` without claim connections).
   */
  poolSize?: number;
  /**
   * Claim each queue's jobs on a connection of its own, beside the pool. Default true. A claim
   * plans over every ring partition, and a ring prune (every few seconds under load)
   * invalidates that plan: on a connection of its own it is planned again once per prune, where
   * on the pool each pooled connection plans it again, and those replans land in pickup
   * latency. Turn it off to keep the client within `poolSize + 2` connections (many queues, a
   * tight `max_connections`).
   */
  claimConnections?: boolean;
  /**
   * Turns on the weighted worker pool: at most this many handlers run at once in this process
   * over all its queues, 1–100 000. Each queue keeps its `minWorkers` permits and shares the
   * rest by `weight`; a queue without `maxWorkers` may grow to this limit. Without it (the
   * default) every queue has its own `maxWorkers` limit. See docs/flow-control.md.
   */
  globalMaxWorkers?: number;
}

/** Options of {@link Client.shutdown}. */
export interface ShutdownOptions {
  /** How long in-flight handlers may keep running, in ms (0 to 1 day). Default 30 000. */
  timeoutMs?: number;
}

/** Counters of a running client. */
export interface ClientStats {
  /** Handlers running now. */
  running: number;
  /** Claimed jobs held for a free worker (see `QueueConfig.prefetch`). */
  held: number;
  /** Held jobs handed back unstarted because they waited past half their deadline. */
  returned: number;
  /** Claim round trips made, over all queues. */
  claims: number;
  /** Jobs claimed, over all queues. */
  claimed: number;
  /** Milliseconds spent waiting on claim round trips, summed over queues. */
  claimMs: number;
  /** Slowest single claim round trip, in ms. */
  claimMsMax: number;
  /** Outcome flushes committed (each one statement for up to 512 outcomes). */
  flushes: number;
  /** Outcomes of attempts that were no longer current; nothing was written for them. */
  staleCompletions: number;
  /** Maintenance counters, or null when maintenance is off on this client. */
  maintenance: MaintenanceStats | null;
}

const CLIENT_OPTION_KEYS = [
  "queues",
  "schema",
  "dlqEnabledByDefault",
  "maintenance",
  "heartbeat",
  "notifier",
  "poolSize",
  "claimConnections",
  "globalMaxWorkers",
] as const satisfies readonly (keyof ClientOptions)[];

/** Least time pending outcomes get at shutdown, in ms, when the handler deadline has passed. */
const SHUTDOWN_OUTCOME_GRACE_MS = 5000;
/** Time the steps after the handlers and outcomes (stopping services, closing sessions) get, in ms. */
const SHUTDOWN_CLEANUP_MS = 5000;
/** Least wait for a shutdown step, in ms, once the cleanup budget is spent. */
const SHUTDOWN_STEP_MIN_MS = 250;

/** postgres.js `end()` options that close connections by `by` (ms since the epoch). */
function endIn(by: number): { timeout: number } {
  return { timeout: Math.max(0.25, (by - Date.now()) / 1000) };
}

/** `failed`: `start()` was refused (schema check); nothing runs, `shutdown()` closes pools. */
type State = "new" | "failed" | "running" | "stopping" | "stopped";

/**
 * A worker client: serves the configured queues with the handlers registered by {@link work}.
 * One client can serve many queues, and many clients (processes) can serve one queue.
 */
export class Client {
  #core: RuntimeCore;
  #ownsSql: boolean;
  #options: ClientOptions;
  #heartbeatOptions: ResolvedHeartbeat;
  #notifierOptions: ResolvedNotifier;
  /** Null with maintenance off. */
  #maintenanceOptions: ResolvedMaintenance | null;
  #queues: Map<string, ResolvedQueueConfig>;
  #dispatchers: QueueDispatcher[] = [];
  #maintenance: MaintenanceRunner | null = null;
  /** One-connection pool that holds the leader lock (with maintenance on). */
  #lockSql: Sql | null = null;
  /** Whether each queue claims on a session of its own (`claimConnections`). */
  #claimConnections: boolean;
  /** The claim sessions opened at start, one per queue; closed once claiming stopped. */
  #claimSessions: Sql[] = [];
  #state: State = "new";
  /** What the notifier listens on: clients on the same pool or URL share its connection. */
  #listenDb: Sql | string;
  #subscriptions: Subscription[] = [];
  #heartbeatTimer: ReturnType<typeof setInterval> | null = null;
  #stopPromise: Promise<void> | null = null;
  #cron = new CronSync();
  /** The weighted pool, or null when each queue keeps its own limit. */
  #pool: WeightedPool | null;
  #overrideRefreshMs: number;
  #overrides: OverrideRefresher | null = null;

  /**
   * A client for the given queues; it works nothing until {@link Client.start}.
   * @param db a connection URL (the client opens its pool, see `ClientOptions.poolSize`) or a
   *   postgres.js `Sql`, used as the pool; any size works, one connection included. Beside
   *   the pool the process keeps one LISTEN connection per pool (shared by every client on
   *   it), and with maintenance on the client opens one that holds the leader lock, both with
   *   the pool's settings.
   * @param options queues, schema, heartbeat and maintenance settings.
   */
  constructor(db: Sql | string, options: ClientOptions) {
    if (options !== null && typeof options === "object" && Object.hasOwn(options, "timings")) {
      throw new ValidationError(
        "options.timings",
        "was split up: use heartbeat: { intervalMs, stalenessMs }, notifier: { checkIntervalMs } " +
          "and maintenance: { leader, promote, rescue, rings, fold, runtimes } (docs/maintenance.md)",
      );
    }
    const opts = checkObject(options, "options", CLIENT_OPTION_KEYS) as Partial<ClientOptions>;
    if (opts.schema !== undefined && typeof opts.schema !== "string") {
      throw new ValidationError(
        "options.schema",
        `must be a string, got ${describeValue(opts.schema)}`,
      );
    }
    const schema = checkSchema(opts.schema, "options.schema");
    const queues: unknown = opts.queues;
    if (typeof queues !== "object" || queues === null || Array.isArray(queues)) {
      throw new ValidationError("options.queues", "must map queue names to their config");
    }
    this.#queues = new Map();
    for (const name of Reflect.ownKeys(queues)) {
      if (typeof name !== "string") {
        throw new ValidationError("options.queues", "queue names must be strings");
      }
      checkQueue(name, `options.queues["${name}"]`);
      this.#queues.set(name, resolveQueue(name, (queues as Record<string, unknown>)[name]));
    }
    if (this.#queues.size === 0) {
      throw new ValidationError("options.queues", "configure at least one queue");
    }
    this.#pool = buildWeightedPool(
      opts.globalMaxWorkers,
      queues as Record<string, unknown>,
      this.#queues,
    );
    this.#overrideRefreshMs = overrideRefreshMs();
    this.#heartbeatOptions = resolveHeartbeat(opts.heartbeat);
    this.#notifierOptions = resolveNotifier(opts.notifier);
    const dlqDefault = boolOr(opts.dlqEnabledByDefault, "options.dlqEnabledByDefault", false);
    this.#claimConnections = boolOr(opts.claimConnections, "options.claimConnections", true);
    this.#maintenanceOptions = resolveMaintenance(opts.maintenance, {
      heartbeat: this.#heartbeatOptions,
      dlqDefault,
    });
    const maintenance = this.#maintenanceOptions !== null;
    let sql: Sql;
    if (typeof db === "string") {
      const poolSize = intIn(opts.poolSize, "options.poolSize", 1, 10_000, 10);
      sql = postgres(db, runtimePoolOptions(poolSize));
      if (maintenance) this.#lockSql = openLockSession(db);
      this.#ownsSql = true;
    } else if (
      typeof db === "function" && typeof (db as Sql).reserve === "function" &&
      typeof (db as Sql).typed === "function"
    ) {
      sql = db;
      if (maintenance) this.#lockSql = openLockSession(sql);
      this.#ownsSql = false;
    } else {
      throw new ValidationError(
        "db",
        "must be a postgres.js Sql (not a transaction) or a URL; other drivers (Bun's SQL, " +
          "node-postgres, ORMs) serve producers through @awa/awa/adapters, and a Client takes the URL",
      );
    }
    this.#options = options;
    this.#listenDb = typeof db === "string" ? db : sql;
    this.#core = new RuntimeCore(sql, schema, crypto.randomUUID());
  }

  /** This process's runtime id (a new one per client). */
  get instanceId(): string {
    return this.#core.instanceId;
  }

  /** Whether this client currently holds maintenance leadership. */
  get isLeader(): boolean {
    return this.#maintenance?.isLeader ?? false;
  }

  /** Register the handler of a job kind. Call before {@link start}. */
  work<A, R>(job: JobDefinition<A, R>, handler: Handler<A, R>): this {
    if (this.#state !== "new") throw new ClientStateError("work() must be called before start()");
    if (!job || typeof job.kind !== "string") {
      throw new ValidationError("job", "expected a job definition from defineJob()");
    }
    if (typeof handler !== "function") throw new ValidationError("handler", "must be a function");
    if (this.#core.workers.has(job.kind)) {
      throw new ValidationError("job", `a handler for ${job.kind} is already registered`);
    }
    const queue = job.defaults.queue ?? "default";
    if (!this.#queues.has(queue)) {
      throw new ValidationError(
        "job",
        `${job.kind} goes to queue "${queue}", which this client does not serve; add it to queues`,
      );
    }
    this.#core.workers.set(
      job.kind,
      {
        def: job as JobDefinition<unknown>,
        handler: handler as Handler<unknown>,
      } satisfies WorkerEntry,
    );
    return this;
  }

  /**
   * Declare a cron schedule: `expression` (5 fields, or 6 with leading seconds; read in
   * `options.timezone`, default UTC) enqueues `job` with `args` at every fire, queue, priority,
   * attempts and tags from `options` or the job's defaults. Synced to the database at `start()`
   * and every 60 s (never deleted by sync); fired by the maintenance leader, whichever client
   * that is. Call before {@link start}; a bad expression, time zone or option throws a
   * `ValidationError` here. See docs/cron.md.
   */
  cron<A>(
    name: string,
    expression: string,
    job: JobDefinition<A>,
    args: A,
    options?: CronOptions,
  ): this {
    if (this.#state !== "new") throw new ClientStateError("cron() must be called before start()");
    const field = `cron[${JSON.stringify(String(name))}]`;
    this.#cron.add(defineCronSchedule(name, expression, job, args, options, field), field);
    return this;
  }

  /**
   * Listen to a lifecycle event (see {@link ClientEvents}); returns a function that removes
   * the listener. An unknown event name throws a `ValidationError` listing the valid ones.
   */
  on<E extends keyof ClientEvents>(
    event: E,
    listener: (event: ClientEvents[E]) => unknown,
  ): () => void {
    checkEventName(event);
    if (typeof listener !== "function") throw new ValidationError("listener", "must be a function");
    return this.#core.on(event, listener);
  }

  /** Counters for monitoring and tests. */
  stats(): ClientStats {
    return {
      running: this.#dispatchers.reduce((n, d) => n + d.running, 0),
      held: this.#dispatchers.reduce((n, d) => n + d.held, 0),
      returned: this.#dispatchers.reduce((n, d) => n + d.returned, 0),
      claims: this.#dispatchers.reduce((n, d) => n + d.claims, 0),
      claimed: this.#dispatchers.reduce((n, d) => n + d.claimed, 0),
      claimMs: this.#dispatchers.reduce((n, d) => n + d.claimMsTotal, 0),
      claimMsMax: this.#dispatchers.reduce((n, d) => Math.max(n, d.claimMsMax), 0),
      flushes: this.#core.completer?.flushCount ?? 0,
      staleCompletions: this.#core.completer?.staleCount ?? 0,
      maintenance: this.#maintenance?.stats() ?? null,
    };
  }

  /** Start serving: register the runtime, listen for wakeups, start dispatch and maintenance. */
  async start(): Promise<void> {
    if (this.#state !== "new") throw new ClientStateError("start() may be called once");
    this.#state = "running";
    const core = this.#core;
    try {
      await requireSchema(core.store.ex, core.schema, { cached: false });
      await this.#cron.start(core.store, (err) => core.emitError(err, "cron sync"));
    } catch (err) {
      this.#state = "failed";
      throw err;
    }
    core.completer = new Completer(core.store, {
      dlqDefault: this.#options.dlqEnabledByDefault ?? false,
      // Attempts with an outcome pending stay tracked and heartbeated: retrying the outcome for
      // one staleness period keeps the job from being rescued and run again after an outage.
      horizonMs: this.#heartbeatOptions.stalenessMs,
    });
    await this.#register();

    for (const [name, cfg] of this.#queues) {
      const d = new QueueDispatcher(core, name, cfg, this.#pool?.permits(name), this.#claimStore());
      this.#dispatchers.push(d);
    }
    this.#overrides = new OverrideRefresher(
      core.store,
      this.#dispatchers,
      this.#queues,
      (err) => core.emitError(err, "read queue overrides"),
    );
    await this.#overrides.refresh();
    this.#overrides.start(this.#overrideRefreshMs);
    await this.#listen();
    for (const d of this.#dispatchers) d.start();
    this.#heartbeatTimer = setInterval(
      () => void this.#heartbeat(),
      this.#heartbeatOptions.intervalMs,
    );
    if (this.#lockSql && this.#maintenanceOptions) {
      const { leader, services, stats } = this.#maintenanceOptions;
      this.#maintenance = new MaintenanceRunner(
        {
          sql: core.sql,
          lockSql: this.#lockSql,
          schema: core.schema,
          instanceId: core.instanceId,
          emitError: (err, where) => core.emitError(err, where),
          emit: (event, payload) => core.emit(event, payload),
        },
        leader,
        services,
        stats,
      );
      this.#maintenance.start();
    }
  }

  /** List this runtime in `awa.runtime_instances` (again, if the leader took it for dead). */
  async #register(): Promise<void> {
    await registerRuntime(this.#core.store, {
      instanceId: this.#core.instanceId,
      hostname: hostname(),
      pid: process.pid,
      version: VERSION,
      snapshotIntervalMs: this.#heartbeatOptions.intervalMs,
      queues: Object.fromEntries(this.#queues),
    });
  }

  /** Subscribe every dispatcher to its queue's wakeups and the client to cancel notices. */
  async #listen(): Promise<void> {
    const core = this.#core;
    const notifier = new Notifier(this.#listenDb, core.schema, {
      checkIntervalMs: this.#notifierOptions.checkIntervalMs,
      onError: (err, where) => core.emitError(err, where),
    });
    for (const d of this.#dispatchers) {
      // After a re-listen wakeups may have been lost: claim now instead of at the next poll.
      const wake = () => d.wake();
      this.#subscriptions.push(await notifier.subscribe(d.queue, wake, { onRelisten: wake }));
    }
    this.#subscriptions.push(
      await notifier.subscribe(CANCEL_TOPIC, (payload) => this.#onEndNotice(payload)),
      await notifier.subscribe(CALLBACK_TOPIC, (payload) => {
        try {
          onCallbackNotice(payload, core.instanceId, (e) => core.emit("callbackResolved", e));
        } catch (err) {
          core.emitError(err, "callback notification");
        }
      }),
    );
  }

  /**
   * A cancel or rescue closed one of our attempts: abort its handler with the typed reason.
   * An operator cancel also emits `cancelled` here, once; the handler's late outcome is then
   * dropped without a `stale` event.
   */
  #onEndNotice(payload: string): void {
    const core = this.#core;
    let notice: { job_id: number; run_lease: number; outcome?: string };
    try {
      notice = JSON.parse(payload);
    } catch (err) {
      core.emitError(err, "cancel notification");
      return;
    }
    if (isOverridesNotice(notice)) {
      void this.#overrides?.refresh();
      return;
    }
    const a = core.attempts.get(`${notice.job_id}:${notice.run_lease}`);
    if (!a || a.released || a.endedBy !== null) return;
    if (notice.outcome === "cancel") {
      a.endedBy = "cancel";
      // A handler that already returned waits for its own outcome: that is either this very
      // cancel (its event comes from the completer) or a completion made stale by an operator
      // cancel (the dispatcher reports `cancelled` then).
      if (a.settled) return;
      a.cancelReported = true;
      a.controller.abort(new JobCancelledError());
      core.emit("cancelled", { job: a.job, reason: CANCELLED_WHILE_RUNNING });
    } else {
      a.endedBy = "rescue";
      const deadlineMs = this.#dispatchers.find((d) =>
        d.queue === a.job.queue
      )?.config.deadlineMs ?? 0;
      a.controller.abort(
        notice.outcome === "rescue_deadline"
          ? new DeadlineExceededError(deadlineMs)
          : new JobRescuedError(),
      );
    }
  }

  /** Heartbeat: list attempts running longer than one interval, grouped by claim slot. */
  async #heartbeat(): Promise<void> {
    const cutoff = Date.now() - this.#heartbeatOptions.intervalMs;
    const receipts = [...this.#core.attempts.values()]
      .filter((a) => a.claimedAtMs <= cutoff && !a.released)
      .map((a) => ({ claim_slot: a.claimSlot, receipt: receiptOf(a) }));
    try {
      const core = this.#core;
      if (!(await recordHeartbeat(core.store, core.instanceId, receipts))) {
        if (this.#state === "running") await this.#register();
      }
    } catch (err) {
      this.#core.emitError(err, "heartbeat");
    }
  }

  /**
   * Stop claiming, let in-flight handlers finish for up to `timeoutMs`, then abort the rest and
   * release their attempts (not counted as attempts) so another worker runs them; their
   * handlers see `ctx.signal.reason` as a `ShutdownAbortError`. Outcomes still being committed
   * get at least 5 s more. Every step that waits on the database is bounded (5 s each, one
   * shared 5 s for closing services and sessions), so a database that stops answering cannot
   * hold shutdown past about `timeoutMs` + 25 s; a step cut short is reported as a
   * `TimeoutError` `error` event. Safe to call more than once.
   * Omit `options` for the defaults; `null`, unknown keys and a `timeoutMs` outside
   * 0–86 400 000 throw a `ValidationError`.
   */
  shutdown(options?: ShutdownOptions): Promise<void> {
    const { timeoutMs } = resolveShutdown(options);
    if (this.#stopPromise) return this.#stopPromise;
    if (this.#state === "new" || this.#state === "failed") {
      this.#state = "stopped";
      this.#stopPromise = Promise.all([
        this.#ownsSql ? this.#core.sql.end() : undefined,
        this.#lockSql?.end(),
        ...this.#claimSessions.splice(0).map((s) => s.end()),
      ]).then(() => {});
      return this.#stopPromise;
    }
    this.#state = "stopping";
    this.#stopPromise = this.#stop(timeoutMs);
    return this.#stopPromise;
  }

  /** The store a new dispatcher claims through: a session of its own, or the pool. */
  #claimStore(): Store {
    if (!this.#claimConnections) return this.#core.store;
    const session = openSession(this.#listenDb);
    this.#claimSessions.push(session);
    return storeOf(toExecutor(session), this.#core.schema);
  }

  async #stop(timeoutMs: number): Promise<void> {
    const core = this.#core;
    const deadline = Date.now() + timeoutMs;
    await this.#shutdownStep(
      "stop claiming",
      Promise.all(this.#dispatchers.map((d) => d.stop())),
      Math.max(deadline, Date.now() + SHUTDOWN_CLEANUP_MS),
    );
    await this.#shutdownStep(
      "close claim sessions",
      Promise.all(this.#claimSessions.splice(0).map((s) => s.end(endIn(Date.now() + 1000)))),
      Date.now() + SHUTDOWN_CLEANUP_MS,
    );
    while (core.attempts.size > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, Math.min(20, Math.max(1, deadline - Date.now()))));
    }
    // Attempts whose handler already returned only wait for the completer: their outcome
    // stands. Only handlers still running are aborted and released.
    const leftovers: Attempt[] = [...core.attempts.values()].filter((a) => !a.settled);
    if (leftovers.length > 0) {
      for (const a of leftovers) {
        a.released = true;
        a.controller.abort(new ShutdownAbortError());
      }
      await this.#shutdownStep(
        "release attempts at shutdown",
        finalizeAttempts(core.store, leftovers.map(releaseItemOf)),
        Date.now() + SHUTDOWN_CLEANUP_MS,
      );
      for (const a of leftovers) core.untrack(a);
    }
    // Outcomes still retrying (the database is unreachable) get until the shutdown deadline,
    // and at least a few seconds; one that gives up leaves its job to rescue, which runs it
    // again (the documented window between a handler's return and its outcome's commit).
    const giveUpAt = Math.max(deadline, Date.now() + SHUTDOWN_OUTCOME_GRACE_MS);
    await this.#shutdownStep(
      "commit outcomes at shutdown",
      core.completer.drained(giveUpAt),
      giveUpAt + SHUTDOWN_CLEANUP_MS,
    );
    for (const d of this.#dispatchers) d.close();
    if (this.#heartbeatTimer) clearInterval(this.#heartbeatTimer);
    this.#cron.stop();
    // The rest shares one budget: a database that stops answering now cannot hold shutdown.
    const cleanupBy = Date.now() + SHUTDOWN_CLEANUP_MS;
    await this.#shutdownStep("stop override refresh", this.#overrides?.stop(), cleanupBy);
    await this.#shutdownStep("stop maintenance", this.#maintenance?.stop(), cleanupBy);
    endCronWaits(core.instanceId);
    await this.#shutdownStep(
      "close leader lock session",
      this.#lockSql?.end(endIn(cleanupBy)),
      cleanupBy,
    );
    await this.#shutdownStep(
      "unsubscribe",
      Promise.all(this.#subscriptions.splice(0).map((s) => s.unsubscribe())),
      cleanupBy,
    );
    await this.#shutdownStep(
      "deregister runtime",
      deregisterRuntime(core.store, core.instanceId),
      cleanupBy,
    );
    this.#state = "stopped";
    if (this.#ownsSql) await core.sql.end(endIn(cleanupBy));
  }

  /**
   * Wait for one step of shutdown until `by` (ms since the epoch), and at least
   * {@link SHUTDOWN_STEP_MIN_MS}. A step that fails is reported as an `error` event at `where`;
   * one still running then is reported as a `TimeoutError` at `shutdown: where` and left
   * behind (its later failure is not reported), so shutdown never hangs on the database.
   */
  async #shutdownStep(where: string, step: Promise<unknown> | undefined, by: number) {
    if (!step) return;
    let late = false;
    const waitMs = Math.max(SHUTDOWN_STEP_MIN_MS, by - Date.now());
    const finished = step.then(() => undefined, (err) => {
      if (!late) this.#core.emitError(err, where);
    });
    if ((await settleWithin(finished, waitMs)).done) return;
    late = true;
    this.#core.emitError(
      new TimeoutError(
        `shutdown step "${where}" was still waiting on the database after ${
          Math.round(waitMs)
        } ms; shutdown went on without it`,
      ),
      `shutdown: ${where}`,
    );
  }

  /** `await using client = new Client(...)` shuts down with the default timeout. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.shutdown();
  }
}
