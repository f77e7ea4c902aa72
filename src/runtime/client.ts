/**
 * `Client`: serves queues with typed workers — dispatch, heartbeat, cancellation, maintenance
 * leadership and graceful shutdown.
 * @module
 */
import postgres, { type Sql } from "postgres";
import { hostname } from "node:os";
import process from "node:process";
import { ClientStateError, ValidationError } from "../errors.ts";
import { checkQueue, type JobDefinition } from "../job.ts";
import { checkSchema, q } from "../schema.ts";
import { VERSION } from "../version.ts";
import { CANCEL_TOPIC, notifyChannel } from "./channels.ts";
import { Completer } from "./completer.ts";
import { RuntimeCore } from "./core.ts";
import {
  type Attempt,
  QueueDispatcher,
  receiptOf,
  releaseItemOf,
  type ResolvedQueueConfig,
} from "./dispatcher.ts";
import { Maintenance, type MaintenanceStats } from "./maintenance.ts";
import { runtimePoolOptions } from "./pool.ts";
import { finalizeAttempts, recordHeartbeat } from "./queries.ts";
import type { ClientEvents, Handler, QueueConfig, RuntimeTimings, WorkerEntry } from "./types.ts";

/** Options of a {@link Client}. */
export interface ClientOptions {
  /** Queues this client serves, by name. */
  queues: Record<string, QueueConfig>;
  /** Awa schema. Default `"awa"`. */
  schema?: string;
  /** Send terminal failures of queues without an explicit policy to the DLQ. Default false. */
  dlqEnabledByDefault?: boolean;
  /** Take part in maintenance leader election. Default true. */
  maintenance?: boolean;
  /** Liveness and maintenance timings. */
  timings?: RuntimeTimings;
  /** Pool size when the client opens its own connection from a URL. Default 10. */
  poolSize?: number;
}

/** Options of {@link Client.shutdown}. */
export interface ShutdownOptions {
  /** How long in-flight handlers may keep running, in ms. Default 30 000. */
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
  claims: number;
  claimed: number;
  /** Milliseconds spent waiting on claim round trips, summed over queues. */
  claimMs: number;
  /** Slowest single claim round trip, in ms. */
  claimMsMax: number;
  flushes: number;
  staleCompletions: number;
  maintenance: MaintenanceStats | null;
}

const DEFAULT_TIMINGS: Required<RuntimeTimings> = {
  heartbeatIntervalMs: 30_000,
  heartbeatStalenessMs: 90_000,
  promoteIntervalMs: 250,
  rescueIntervalMs: 30_000,
  rotateIntervalMs: 1000,
  electionRetryMs: 10_000,
  leaderPingMs: 5000,
  foldIntervalMs: 30_000,
};

function positiveInt(v: unknown, field: string, min = 1): number {
  if (!Number.isInteger(v) || (v as number) < min) {
    throw new ValidationError(field, `must be an integer ≥ ${min}, got ${v}`);
  }
  return v as number;
}

function atMost(v: number, max: number, field: string): number {
  if (v > max) throw new ValidationError(field, `must be at most ${max}, got ${v}`);
  return v;
}

function resolveQueue(name: string, c: QueueConfig): ResolvedQueueConfig {
  if (typeof c !== "object" || c === null) {
    throw new ValidationError(`queues.${name}`, "must be an object");
  }
  const f = (k: string) => `queues.${name}.${k}`;
  const rl = c.rateLimit;
  if (rl !== undefined) {
    if (typeof rl.perSecond !== "number" || !(rl.perSecond > 0) || !Number.isFinite(rl.perSecond)) {
      throw new ValidationError(f("rateLimit.perSecond"), "must be a number > 0");
    }
    if (rl.burst !== undefined) positiveInt(rl.burst, f("rateLimit.burst"));
  }
  return {
    maxWorkers: positiveInt(c.maxWorkers ?? 50, f("maxWorkers")),
    pollIntervalMs: positiveInt(c.pollIntervalMs ?? 200, f("pollIntervalMs"), 10),
    deadlineMs: positiveInt(c.deadlineMs ?? 300_000, f("deadlineMs"), 0),
    claimBatchSize: Math.min(positiveInt(c.claimBatchSize ?? 512, f("claimBatchSize")), 4096),
    prefetch: atMost(positiveInt(c.prefetch ?? 0, f("prefetch"), 0), 10_000, f("prefetch")),
    priorityAgingMs: positiveInt(c.priorityAgingMs ?? 60_000, f("priorityAgingMs"), 0),
    rateLimit: rl
      ? { perSecond: rl.perSecond, burst: rl.burst ?? Math.max(1, Math.ceil(rl.perSecond)) }
      : null,
  };
}

function resolveTimings(t: RuntimeTimings = {}): Required<RuntimeTimings> {
  const out = { ...DEFAULT_TIMINGS };
  for (const [k, v] of Object.entries(t)) {
    if (!(k in DEFAULT_TIMINGS)) throw new ValidationError(`timings.${k}`, "unknown timing");
    out[k as keyof RuntimeTimings] = positiveInt(v, `timings.${k}`, 1);
  }
  if (out.heartbeatStalenessMs < 3 * out.heartbeatIntervalMs) {
    throw new ValidationError(
      "timings.heartbeatStalenessMs",
      "must be at least 3 × heartbeatIntervalMs, or live attempts would be rescued",
    );
  }
  return out;
}

type State = "new" | "running" | "stopping" | "stopped";

/**
 * A worker client: serves the configured queues with the handlers registered by {@link work}.
 * One client can serve many queues, and many clients (processes) can serve one queue.
 */
export class Client {
  #core: RuntimeCore;
  #ownsSql: boolean;
  #options: ClientOptions;
  #timings: Required<RuntimeTimings>;
  #queues: Map<string, ResolvedQueueConfig>;
  #dispatchers: QueueDispatcher[] = [];
  #maintenance: Maintenance | null = null;
  #state: State = "new";
  #unlisten: (() => Promise<void>)[] = [];
  #heartbeatTimer: ReturnType<typeof setInterval> | null = null;
  #stopPromise: Promise<void> | null = null;

  /**
   * @param db a postgres.js `Sql` (the client uses it as its pool) or a connection URL.
   * @param options queues, schema and timings.
   */
  constructor(db: Sql | string, options: ClientOptions) {
    if (typeof options !== "object" || options === null) {
      throw new ValidationError("options", "must be an object with queues");
    }
    const schema = checkSchema(options.schema, "options.schema");
    if (typeof options.queues !== "object" || options.queues === null) {
      throw new ValidationError("options.queues", "must map queue names to their config");
    }
    this.#queues = new Map();
    for (const [name, cfg] of Object.entries(options.queues)) {
      checkQueue(name, `options.queues["${name}"]`);
      this.#queues.set(name, resolveQueue(name, cfg));
    }
    if (this.#queues.size === 0) {
      throw new ValidationError("options.queues", "configure at least one queue");
    }
    this.#timings = resolveTimings(options.timings);
    let sql: Sql;
    if (typeof db === "string") {
      sql = postgres(db, runtimePoolOptions(options.poolSize ?? 10));
      this.#ownsSql = true;
    } else if (typeof db === "function" && typeof (db as Sql).reserve === "function") {
      sql = db;
      this.#ownsSql = false;
    } else {
      throw new ValidationError("db", "must be a postgres.js Sql (not a transaction) or a URL");
    }
    this.#options = options;
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
  work<A>(job: JobDefinition<A>, handler: Handler<A>): this {
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

  /** Listen to a lifecycle event; returns a function that removes the listener. */
  on<E extends keyof ClientEvents>(
    event: E,
    listener: (event: ClientEvents[E]) => unknown,
  ): () => void {
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
      maintenance: this.#maintenance ? { ...this.#maintenance.stats } : null,
    };
  }

  /** Start serving: register the runtime, listen for wakeups, start dispatch and maintenance. */
  async start(): Promise<void> {
    if (this.#state !== "new") throw new ClientStateError("start() may be called once");
    this.#state = "running";
    const core = this.#core;
    const [{ v }] = await core.sql.unsafe(
      "SELECT to_regclass($1) IS NOT NULL AS v",
      [`${core.schema}.schema_version`],
    );
    if (!v) {
      this.#state = "stopped";
      throw new ClientStateError(`schema "${core.schema}" is not installed; run migrate() first`);
    }
    core.completer = new Completer(core.sql, core.schema, {
      dlqDefault: this.#options.dlqEnabledByDefault ?? false,
      // Attempts with an outcome pending stay tracked and heartbeated: retrying the outcome for
      // one staleness period keeps the job from being rescued and run again after an outage.
      horizonMs: this.#timings.heartbeatStalenessMs,
    });
    await core.sql.unsafe(
      q(
        core.schema,
        `INSERT INTO awa.runtime_instances (instance_id, hostname, pid, version,
          snapshot_interval_ms, queues)
        VALUES ($1, $2, $3, $4, $5, $6::text::jsonb)`,
      ),
      [
        core.instanceId,
        hostname(),
        process.pid,
        VERSION,
        this.#timings.heartbeatIntervalMs,
        JSON.stringify(Object.fromEntries(this.#queues)),
      ],
    );

    for (const [name, cfg] of this.#queues) {
      const d = new QueueDispatcher(core, name, cfg);
      this.#dispatchers.push(d);
    }
    await this.#listen();
    for (const d of this.#dispatchers) d.start();
    this.#heartbeatTimer = setInterval(
      () => void this.#heartbeat(),
      this.#timings.heartbeatIntervalMs,
    );
    if (this.#options.maintenance !== false) {
      this.#maintenance = new Maintenance(
        core,
        this.#timings,
        this.#options.dlqEnabledByDefault ?? false,
        (r, reason) => {
          core.emit("rescued", { ...r, reason });
        },
      );
      this.#maintenance.start();
    }
  }

  async #listen(): Promise<void> {
    const core = this.#core;
    for (const d of this.#dispatchers) {
      const sub = await core.sql.listen(
        notifyChannel(core.schema, d.queue),
        () => d.wake(),
        () => d.wake(),
      );
      this.#unlisten.push(() => sub.unlisten());
    }
    const cancel = await core.sql.listen(notifyChannel(core.schema, CANCEL_TOPIC), (payload) => {
      try {
        const { job_id, run_lease } = JSON.parse(payload);
        const a = core.attempts.get(`${job_id}:${run_lease}`);
        a?.controller.abort(new Error("job cancelled or rescued"));
      } catch (err) {
        core.emitError(err, "cancel notification");
      }
    });
    this.#unlisten.push(() => cancel.unlisten());
  }

  /** Heartbeat: list attempts running longer than one interval, grouped by claim slot. */
  async #heartbeat(): Promise<void> {
    const cutoff = Date.now() - this.#timings.heartbeatIntervalMs;
    const receipts = [...this.#core.attempts.values()]
      .filter((a) => a.claimedAtMs <= cutoff && !a.released)
      .map((a) => ({ claim_slot: a.claimSlot, receipt: receiptOf(a) }));
    try {
      await recordHeartbeat(this.#core.sql, this.#core.schema, this.#core.instanceId, receipts);
    } catch (err) {
      this.#core.emitError(err, "heartbeat");
    }
  }

  /**
   * Stop claiming, let in-flight handlers finish for up to `timeoutMs`, then abort the rest and
   * release their attempts (not counted as attempts) so another worker runs them. Safe to call
   * more than once.
   */
  shutdown(options: ShutdownOptions = {}): Promise<void> {
    const timeoutMs = options.timeoutMs ?? 30_000;
    if (!Number.isFinite(timeoutMs) || timeoutMs < 0) {
      throw new ValidationError("timeoutMs", "must be a finite number ≥ 0");
    }
    if (this.#stopPromise) return this.#stopPromise;
    if (this.#state === "new") {
      this.#state = "stopped";
      this.#stopPromise = this.#ownsSql ? this.#core.sql.end() : Promise.resolve();
      return this.#stopPromise;
    }
    this.#state = "stopping";
    this.#stopPromise = this.#stop(timeoutMs);
    return this.#stopPromise;
  }

  async #stop(timeoutMs: number): Promise<void> {
    const core = this.#core;
    await Promise.all(this.#dispatchers.map((d) => d.stop()));
    const deadline = Date.now() + timeoutMs;
    while (core.attempts.size > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, Math.min(20, Math.max(1, deadline - Date.now()))));
    }
    // Attempts whose handler already returned only wait for the completer: their outcome
    // stands. Only handlers still running are aborted and released.
    const leftovers: Attempt[] = [...core.attempts.values()].filter((a) => !a.settled);
    if (leftovers.length > 0) {
      for (const a of leftovers) {
        a.released = true;
        a.controller.abort(new Error("worker shutting down"));
      }
      try {
        await finalizeAttempts(core.sql, core.schema, leftovers.map(releaseItemOf));
      } catch (err) {
        core.emitError(err, "release attempts at shutdown");
      }
      for (const a of leftovers) core.untrack(a);
    }
    await core.completer.drained();
    for (const d of this.#dispatchers) d.close();
    if (this.#heartbeatTimer) clearInterval(this.#heartbeatTimer);
    await this.#maintenance?.stop();
    for (const u of this.#unlisten.splice(0)) {
      try {
        await u();
      } catch {
        // The listen connection may already be gone.
      }
    }
    try {
      await core.sql.unsafe(
        q(core.schema, "DELETE FROM awa.runtime_instances WHERE instance_id = $1"),
        [core.instanceId],
      );
    } catch (err) {
      core.emitError(err, "deregister runtime");
    }
    this.#state = "stopped";
    if (this.#ownsSql) await core.sql.end({ timeout: 5 });
  }

  /** `await using client = new Client(...)` shuts down with the default timeout. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.shutdown();
  }
}
