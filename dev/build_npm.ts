/**
 * Builds the npm package into `npm/`: ESM JavaScript and `.d.ts` compiled from the same
 * TypeScript source that JSR publishes, a generated package.json, and the docs users need.
 *
 *   deno task build:npm           # then: cd npm && npm pack
 *
 * The compiler is TypeScript's own `tsc` (version from package.json `devDependencies`): the
 * source imports with `.ts` extensions, and `rewriteRelativeImportExtensions` turns those into
 * `.js` in the output, so the source stays as Deno and JSR want it. tsc runs in a staging
 * directory with its own `npm install` of the package's dependencies and `@types/node`, because
 * the repository's node_modules is Deno's.
 * @module
 */
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";

type PathLike = URL | string;
const pathOf = (p: PathLike): string => typeof p === "string" ? p : fileURLToPath(p);

async function exists(p: PathLike): Promise<boolean> {
  try {
    await Deno.stat(p);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

async function ensureDir(p: PathLike): Promise<void> {
  await Deno.mkdir(p, { recursive: true });
}

/** Copy a file or a directory tree; `keep` filters the files of a tree by name. */
async function copy(from: PathLike, to: PathLike, keep?: (name: string) => boolean): Promise<void> {
  const info = await Deno.stat(from);
  if (info.isFile) {
    await ensureDir(dirname(pathOf(to)));
    await Deno.copyFile(from, to);
    return;
  }
  for await (const entry of Deno.readDir(from)) {
    const src = `${pathOf(from).replace(/\/$/, "")}/${entry.name}`;
    const dst = `${pathOf(to).replace(/\/$/, "")}/${entry.name}`;
    if (entry.isDirectory) await copy(src, dst, keep);
    else if (keep === undefined || keep(entry.name)) await copy(src, dst);
  }
}

const ROOT = new URL("../", import.meta.url);
const OUT = new URL("npm/", ROOT);

/** Public entry points: subpath → root source file. A subpath ships when its file exists. */
export const ENTRIES: ReadonlyArray<readonly [string, string]> = [
  [".", "mod.ts"],
  ["./admin", "admin.ts"],
  ["./testing", "testing.ts"],
  ["./adapters", "adapters.ts"],
  ["./http", "http.ts"],
];

/** Documentation shipped beside the code, at the same paths as in the repository. */
export const DOCS: readonly string[] = [
  "README.md",
  "CHANGELOG.md",
  "LICENSE-MIT",
  "LICENSE-APACHE",
  "docs/",
  "bench/README.md",
  "correctness/README.md",
];

interface Manifest {
  name: string;
  version: string;
  description: string;
  license: string;
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
  devDependencies?: Record<string, string>;
}

function run(cmd: string, args: string[], cwd: URL | string): void {
  const out = new Deno.Command(cmd, { args, cwd, stdout: "inherit", stderr: "inherit" })
    .outputSync();
  if (!out.success) throw new Error(`${cmd} ${args.join(" ")} failed (exit ${out.code})`);
}

function devVersion(manifest: Manifest, name: string): string {
  const v = manifest.devDependencies?.[name];
  if (v === undefined) throw new Error(`package.json devDependencies must list ${name}`);
  return v;
}

/**
 * Packages the staged source imports (types included) that only `devDependencies` lists, such
 * as a driver an adapter names in its types: tsc needs them installed to compile.
 */
async function importedDevPackages(
  stage: string,
  manifest: Manifest,
): Promise<Record<string, string>> {
  const found: Record<string, string> = {};
  const walk = async (dir: string): Promise<void> => {
    for await (const entry of Deno.readDir(dir)) {
      const file = `${dir}/${entry.name}`;
      if (entry.isDirectory) {
        if (entry.name !== "node_modules") await walk(file);
        continue;
      }
      if (!entry.name.endsWith(".ts")) continue;
      const text = await Deno.readTextFile(file);
      for (const m of text.matchAll(/(?:from|import)\s*\(?\s*"([^".][^"]*)"/g)) {
        const spec = m[1]!;
        if (spec.startsWith("node:")) continue;
        const parts = spec.split("/");
        const name = spec.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0]!;
        const version = manifest.devDependencies?.[name];
        if (version !== undefined) found[name] = version;
      }
    }
  };
  await walk(stage);
  return found;
}

/** The manifest users install: entry points with types/import/default, and only the docs. */
export function publishedManifest(
  source: Manifest,
  entries: ReadonlyArray<readonly [string, string]>,
): Record<string, unknown> {
  const exports: Record<string, Record<string, string>> = {};
  for (const [subpath, file] of entries) {
    const base = "./" + file.replace(/\.ts$/, "");
    exports[subpath] = { types: `${base}.d.ts`, import: `${base}.js`, default: `${base}.js` };
  }
  exports["./package.json"] = { default: "./package.json" };
  return {
    name: source.name,
    version: source.version,
    description: source.description,
    license: source.license,
    type: "module",
    main: "./mod.js",
    types: "./mod.d.ts",
    exports,
    files: [
      ...entries.flatMap(([, file]) => {
        const base = file.replace(/\.ts$/, "");
        return [`${base}.js`, `${base}.d.ts`];
      }),
      "src/**/*.js",
      "src/**/*.d.ts",
      ...DOCS,
    ],
    engines: { node: ">=20" },
    dependencies: source.dependencies ?? {},
    peerDependencies: source.peerDependencies ?? {},
    ...(source.peerDependenciesMeta ? { peerDependenciesMeta: source.peerDependenciesMeta } : {}),
    keywords: ["postgres", "postgresql", "job queue", "background jobs", "deno", "bun", "node"],
  };
}

/** Build `npm/` and return its path. */
export async function buildNpm(): Promise<string> {
  const manifest: Manifest = JSON.parse(await Deno.readTextFile(new URL("package.json", ROOT)));
  const entries = [];
  for (const entry of ENTRIES) if (await exists(new URL(entry[1], ROOT))) entries.push(entry);

  const stage = await Deno.makeTempDir({ prefix: "awa-npm-build-" });
  try {
    for (const [, file] of entries) await copy(new URL(file, ROOT), `${stage}/${file}`);
    await copy(new URL("src/", ROOT), `${stage}/src`, (name) => name.endsWith(".ts"));
    const config = JSON.parse(await Deno.readTextFile(new URL("tsconfig.build.json", ROOT)));
    config.files = entries.map(([, file]) => file);
    await Deno.writeTextFile(`${stage}/tsconfig.json`, JSON.stringify(config, null, 2));
    await Deno.writeTextFile(
      `${stage}/package.json`,
      JSON.stringify({
        private: true,
        type: "module",
        // Pinned development versions win over the published ranges: builds are repeatable.
        dependencies: {
          ...manifest.dependencies,
          ...manifest.peerDependencies,
          ...await importedDevPackages(stage, manifest),
          typescript: devVersion(manifest, "typescript"),
          "@types/node": devVersion(manifest, "@types/node"),
        },
      }),
    );
    run("npm", ["install", "--no-audit", "--no-fund", "--no-package-lock", "--silent"], stage);
    run("npx", ["--no-install", "tsc", "-p", "tsconfig.json"], stage);

    await Deno.remove(OUT, { recursive: true }).catch(() => {});
    await ensureDir(OUT);
    await copy(`${stage}/out`, OUT);
    for (const doc of DOCS) {
      const from = new URL(doc, ROOT);
      if (await exists(from)) await copy(from, new URL(doc, OUT));
    }
    await Deno.writeTextFile(
      new URL("package.json", OUT),
      JSON.stringify(publishedManifest(manifest, entries), null, 2) + "\n",
    );
  } finally {
    await Deno.remove(stage, { recursive: true });
  }
  console.log(`built npm/ with entries ${entries.map(([s]) => s).join(", ")}`);
  return fileURLToPath(OUT);
}

if (import.meta.main) await buildNpm();
