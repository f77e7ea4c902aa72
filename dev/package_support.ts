/**
 * Shared by the package checks (dev/consumer_test.ts, dev/run_examples.ts): the database they
 * run against, the packed tarball, the runtimes, and a tally that prints `N passed, N failed`.
 */
import { spawn } from "node:child_process";
import { connect } from "node:net";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import process from "node:process";
import postgres from "postgres";
import { buildNpm } from "./build_npm.ts";
import { startEmbeddedPostgres } from "./embedded_postgres.ts";

/** Pinned runtimes the checks use besides the machine's Node (`node`). */
export const RUNTIMES = {
  node22: ["npx", "-y", "node@22"],
  node24: ["npx", "-y", "node@24"],
  bun: ["npx", "-y", "bun@1.4.5"],
  deno: ["npx", "-y", "deno@2.9.6"],
} as const;

function reachable(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: 1000 });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
    socket.once("timeout", () => done(false));
  });
}

/** A server: DATABASE_URL, else the PostgreSQL at 127.0.0.1:5432, else an embedded one. */
export async function databaseServer(): Promise<{ url: string; stop: () => Promise<void> }> {
  const given = process.env.DATABASE_URL;
  if (given) return { url: given, stop: async () => {} };
  if (await reachable("127.0.0.1", 5432)) {
    return { url: "postgres://postgres@127.0.0.1:5432/postgres", stop: async () => {} };
  }
  const server = await startEmbeddedPostgres();
  return { url: server.url, stop: server.stop };
}

/** A fresh database named `name` on `serverUrl`; `drop` removes it. */
export async function freshDatabase(
  serverUrl: string,
  name: string,
): Promise<{ url: string; drop: () => Promise<void> }> {
  const db = `${name}_${process.pid}`.replace(/[^a-z0-9_]/gi, "_").toLowerCase();
  const admin = postgres(serverUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
  await admin.unsafe(`CREATE DATABASE ${db}`);
  await admin.end();
  const u = new URL(serverUrl);
  u.pathname = "/" + db;
  return {
    url: u.toString(),
    async drop() {
      const a = postgres(serverUrl, { max: 1, onnotice: () => {} });
      await a.unsafe(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
      await a.end();
    },
  };
}

/** What `npm pack` reported. */
export interface Tarball {
  path: string;
  size: number;
  unpackedSize: number;
  files: number;
}

/** The tarball named by `--tarball PATH`, or one built and packed now into `dir`. */
export async function tarball(args: string[], dir: string): Promise<Tarball> {
  const i = args.indexOf("--tarball");
  if (i >= 0 && args[i + 1]) {
    const p = path.resolve(args[i + 1]!);
    return { path: p, size: fs.statSync(p).size, unpackedSize: 0, files: 0 };
  }
  const npmDir = await buildNpm();
  const out = await capture("npm", ["pack", "--json", "--pack-destination", dir], npmDir);
  if (out.code !== 0) throw new Error(`npm pack failed:\n${out.stderr}`);
  const [info] = JSON.parse(out.stdout) as {
    filename: string;
    size: number;
    unpackedSize: number;
    entryCount: number;
  }[];
  return {
    path: path.join(dir, info!.filename),
    size: info!.size,
    unpackedSize: info!.unpackedSize,
    files: info!.entryCount,
  };
}

/** Run a command to its end, capturing its output. */
export function capture(
  cmd: string,
  args: readonly string[],
  cwd: string,
  env: Record<string, string> = {},
  timeoutMs = 300_000,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd, env: { ...process.env, ...env } });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => stdout += d);
    child.stderr.on("data", (d) => stderr += d);
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
    child.on("error", (err) => {
      clearTimeout(timer);
      resolve({ code: 127, stdout, stderr: String(err) });
    });
  });
}

/** A temporary directory, removed by {@link Tally.finish}'s caller through `cleanup`. */
export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** Counts checks and prints each result, then the `N passed, N failed` line. */
export class Tally {
  passed = 0;
  failed = 0;
  #label: string;

  constructor(label: string) {
    this.#label = label;
  }

  /** Run one counted check; a thrown error or a false result fails it. */
  async check(name: string, fn: () => Promise<boolean | string>): Promise<boolean> {
    const started = Date.now();
    let ok = false;
    let detail = "";
    try {
      const r = await fn();
      ok = r === true;
      if (typeof r === "string") detail = r;
    } catch (err) {
      detail = err instanceof Error ? err.stack ?? err.message : String(err);
    }
    const secs = ((Date.now() - started) / 1000).toFixed(1);
    if (ok) this.passed++;
    else this.failed++;
    console.log(`${ok ? "ok  " : "FAIL"} ${name} (${secs} s)`);
    if (!ok && detail) console.log(detail.trimEnd().replace(/^/gm, "     "));
    return ok;
  }

  /** Print the closing line and return the exit code. */
  finish(): number {
    console.log(`${this.#label}: ${this.passed} passed, ${this.failed} failed`);
    return this.failed === 0 && this.passed > 0 ? 0 : 1;
  }
}

/** Explain a failed command's result, for a check's detail. */
export function failure(r: { code: number; stdout: string; stderr: string }): string {
  const tail = (s: string) => s.trimEnd().split("\n").slice(-25).join("\n");
  return `exit ${r.code}\n--- stdout\n${tail(r.stdout)}\n--- stderr\n${tail(r.stderr)}`;
}
