/**
 * The consumer test: pack the npm package, install the tarball into a fresh project, and use it
 * as a user would. Checks, each counted:
 * - `tsc --noEmit` with `strict`, `noUncheckedIndexedAccess`, `exactOptionalPropertyTypes` and
 *   no `skipLibCheck`, over the README quickstart and an import of every entry point;
 * - the README quickstart (extracted from README.md) on Node 20 (compiled by tsc), twice in a
 *   row, Node 22 and 24 (type stripping), Bun, and Deno through `npm:` specifiers;
 * - the quickstart stopping cleanly (exit 0) on SIGINT and on SIGTERM.
 *
 *   deno task test:package [--tarball path/to/awa-awa-x.y.z.tgz]
 *
 * Database: DATABASE_URL, else 127.0.0.1:5432 when reachable, else an embedded PostgreSQL; the
 * checks run in a fresh database that is dropped at the end.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import process from "node:process";
import {
  capture,
  databaseServer,
  failure,
  freshDatabase,
  RUNTIMES,
  Tally,
  tarball,
  tempDir,
} from "./package_support.ts";

const ROOT = path.resolve(import.meta.dirname!, "..");
const MARKER = "<!-- quickstart: extracted and run by dev/consumer_test.ts -->";

/** The fenced TypeScript block that follows the quickstart marker in README.md. */
export function quickstartSource(readme: string): string {
  const at = readme.indexOf(MARKER);
  if (at < 0) throw new Error(`README.md has no ${MARKER}`);
  const block = /```ts\n([\s\S]*?)\n```/.exec(readme.slice(at + MARKER.length));
  if (!block) throw new Error("no ```ts block after the quickstart marker");
  return block[1]! + "\n";
}

const STRICT = {
  strict: true,
  noUncheckedIndexedAccess: true,
  exactOptionalPropertyTypes: true,
  module: "nodenext",
  moduleResolution: "nodenext",
  types: ["node"],
};

function writeJson(file: string, value: unknown): void {
  fs.writeFileSync(file, JSON.stringify(value, null, 2) + "\n");
}

/** Lay out the consumer project: manifest, quickstart, tsconfigs, deno.json. */
function layOut(
  app: string,
  tgz: string,
  peers: Record<string, string>,
  dev: Record<string, string>,
): void {
  fs.mkdirSync(app, { recursive: true });
  writeJson(path.join(app, "package.json"), {
    name: "awa-consumer",
    private: true,
    type: "module",
    // Every peer, optional ones too: the type check imports every entry point.
    dependencies: { ...peers, "@awa/awa": `file:${tgz}` },
    devDependencies: { typescript: dev.typescript, "@types/node": dev["@types/node"] },
  });
  fs.writeFileSync(
    path.join(app, "quickstart.ts"),
    quickstartSource(fs.readFileSync(path.join(ROOT, "README.md"), "utf8")),
  );
  writeJson(path.join(app, "tsconfig.json"), {
    compilerOptions: { ...STRICT, noEmit: true },
    files: ["quickstart.ts", "entries.ts"],
  });
  writeJson(path.join(app, "tsconfig.emit.json"), {
    compilerOptions: { ...STRICT, target: "es2022", outDir: "build" },
    files: ["quickstart.ts"],
  });
  // Deno resolves npm: specifiers from the node_modules npm installed, so it needs no registry.
  writeJson(path.join(app, "deno.json"), {
    nodeModulesDir: "manual",
    imports: { "@awa/awa": "npm:@awa/awa", postgres: "npm:postgres" },
  });
}

/** Write entries.ts importing every subpath of the installed package's `exports`. */
function writeEntries(app: string): string[] {
  const manifest = JSON.parse(
    fs.readFileSync(path.join(app, "node_modules/@awa/awa/package.json"), "utf8"),
  );
  const subpaths = Object.keys(manifest.exports).filter((s) => s !== "./package.json");
  const lines = subpaths.map((s, i) =>
    `import * as entry${i} from "${s === "." ? "@awa/awa" : "@awa/awa/" + s.slice(2)}";`
  );
  lines.push(`export const entries = [${subpaths.map((_, i) => `entry${i}`).join(", ")}];`);
  fs.writeFileSync(path.join(app, "entries.ts"), lines.join("\n") + "\n");
  return subpaths;
}

/** Run the quickstart and require exit 0 with its closing line. */
async function quickstart(cmd: string, args: string[], app: string, url: string) {
  const r = await capture(cmd, args, app, { DATABASE_URL: url }, 180_000);
  return r.code === 0 && /^done: \d+ jobs$/m.test(r.stdout) ? true : failure(r);
}

/**
 * Start the quickstart, send `signal` once it has worked a job, and require exit 0. Uses
 * Deno.Command: node:child_process under Deno reports the signal sent, not the exit code.
 */
async function stopsOn(
  signal: "SIGINT" | "SIGTERM",
  cmd: string,
  args: string[],
  app: string,
  url: string,
): Promise<boolean | string> {
  const child = new Deno.Command(cmd, {
    args,
    cwd: app,
    env: { DATABASE_URL: url },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
  let out = "";
  let sent = false;
  const decoder = new TextDecoder();
  const errors = new Response(child.stderr).text();
  for await (const chunk of child.stdout) {
    out += decoder.decode(chunk, { stream: true });
    if (!sent && out.includes("sent ")) {
      sent = true;
      child.kill(signal);
    }
  }
  const status = await child.status;
  clearTimeout(timer);
  out += await errors;
  if (!sent) return `never worked a job before exiting (exit ${status.code})\n${out}`;
  return status.code === 0 && status.signal === null
    ? true
    : `exit ${status.code} (signal ${status.signal}) after ${signal}\n${out}`;
}

async function main(): Promise<number> {
  const tally = new Tally("consumer");
  const work = tempDir("awa-consumer-");
  const server = await databaseServer();
  const db = await freshDatabase(server.url, "awa_consumer");
  try {
    const tgz = await tarball(process.argv.slice(2), work);
    if (tgz.files > 0) {
      console.log(
        `tarball ${path.basename(tgz.path)}: ${tgz.size} bytes packed, ` +
          `${tgz.unpackedSize} unpacked, ${tgz.files} files`,
      );
    }
    const dev = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8"))
      .devDependencies;
    const app = path.join(work, "app");
    const packed = await capture("tar", ["-xzOf", tgz.path, "package/package.json"], work);
    if (packed.code !== 0) throw new Error(`cannot read the tarball's manifest: ${packed.stderr}`);
    layOut(app, tgz.path, JSON.parse(packed.stdout).peerDependencies ?? {}, dev);
    const installed = await tally.check("npm install of the tarball", async () => {
      const r = await capture("npm", ["install", "--no-audit", "--no-fund"], app);
      return r.code === 0 ? true : failure(r);
    });
    if (!installed) return tally.finish();
    const subpaths = writeEntries(app);
    const tsc = path.join(app, "node_modules/.bin/tsc");

    await tally.check(
      `tsc --noEmit, strict flags, no skipLibCheck (${subpaths.join(" ")})`,
      async () => {
        const r = await capture(tsc, ["-p", "tsconfig.json"], app);
        return r.code === 0 && r.stdout.trim() === "" ? true : failure(r);
      },
    );
    const url = db.url;
    const compiled = await capture(tsc, ["-p", "tsconfig.emit.json"], app);
    const node20 = ["node", [path.join("build", "quickstart.js")]] as const;
    const nodeVersion = (await capture("node", ["--version"], app)).stdout.trim();
    for (const run of [1, 2]) {
      await tally.check(`quickstart on Node ${nodeVersion}, run ${run}`, async () => {
        if (compiled.code !== 0) return failure(compiled);
        return await quickstart(node20[0], [...node20[1]], app, url);
      });
    }
    const ts: [string, readonly string[]][] = [
      ["Node 22", RUNTIMES.node22],
      ["Node 24", RUNTIMES.node24],
      ["Bun 1.4.5", RUNTIMES.bun],
    ];
    for (const [name, [cmd, ...args]] of ts) {
      await tally.check(
        `quickstart on ${name}`,
        () => quickstart(cmd, [...args, "quickstart.ts"], app, url),
      );
    }
    const [deno, ...denoArgs] = RUNTIMES.deno;
    await tally.check(
      "quickstart on Deno 2.9.6 through npm:",
      () => quickstart(deno, [...denoArgs, "run", "-A", "quickstart.ts"], app, url),
    );
    await tally.check(
      `quickstart exits 0 on SIGINT (Node ${nodeVersion})`,
      () => stopsOn("SIGINT", node20[0], [...node20[1]], app, url),
    );
    await tally.check(
      `quickstart exits 0 on SIGTERM (Node ${nodeVersion})`,
      () => stopsOn("SIGTERM", node20[0], [...node20[1]], app, url),
    );
  } finally {
    await db.drop();
    await server.stop();
    fs.rmSync(work, { recursive: true, force: true });
  }
  return tally.finish();
}

if (import.meta.main) process.exit(await main());
