/**
 * The npm manifest dev/build_npm.ts generates, and the docs it ships: checked without building.
 * The build itself, the install and every runtime are covered by dev/consumer_test.ts in CI.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { DOCS, ENTRIES, publishedManifest } from "../../dev/build_npm.ts";
import { quickstartSource } from "../../dev/consumer_test.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const source = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8"));
const entries = ENTRIES.filter(([, file]) => fs.existsSync(path.join(ROOT, file)));
const manifest = publishedManifest(source, entries) as {
  exports: Record<string, Record<string, string>>;
  files: string[];
  engines: Record<string, string>;
  peerDependencies: Record<string, string>;
  dependencies: Record<string, string>;
};

Deno.test("every entry file that exists is exported with types, import and default", () => {
  assert.ok(entries.some(([s]) => s === "."));
  assert.ok(entries.some(([s]) => s === "./testing"));
  for (const [subpath, file] of entries) {
    const base = "./" + file.replace(/\.ts$/, "");
    assert.deepEqual(manifest.exports[subpath], {
      types: `${base}.d.ts`,
      import: `${base}.js`,
      default: `${base}.js`,
    });
  }
});

Deno.test("postgres is a peer range, dependencies are ranges, Node 20 or later", () => {
  assert.equal(manifest.peerDependencies.postgres, "^3.4.0");
  assert.equal(manifest.dependencies.postgres, undefined);
  for (const [name, range] of Object.entries(manifest.dependencies)) {
    assert.match(range, /^[\^~>]/, `${name} must be a range, not ${range}`);
  }
  assert.equal(manifest.engines.node, ">=20");
});

Deno.test("files ship code and docs only: no TypeScript source, tests, bench results or CI", () => {
  for (const pattern of manifest.files) {
    assert.doesNotMatch(pattern, /(?<!\.d)\.ts$|^tests|^\.ci|bench\/results|^dev/, pattern);
  }
  for (const doc of DOCS) assert.ok(manifest.files.includes(doc), doc);
});

Deno.test("README and docs link only to files the package ships", () => {
  const shipped = (rel: string) =>
    DOCS.some((d) => d.endsWith("/") ? rel.startsWith(d) : rel === d) ||
    DOCS.some((d) => d.endsWith("/") && rel === d.slice(0, -1));
  const pages = ["README.md", ...fs.readdirSync(path.join(ROOT, "docs")).map((f) => `docs/${f}`)];
  for (const page of pages.filter((p) => p.endsWith(".md"))) {
    const text = fs.readFileSync(path.join(ROOT, page), "utf8");
    for (const [, target] of text.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)) {
      if (/^[a-z]+:/.test(target!)) continue;
      const rel = path.posix.normalize(path.posix.join(path.posix.dirname(page), target!));
      assert.ok(!rel.startsWith(".."), `${page} links outside the repository: ${target}`);
      assert.ok(fs.existsSync(path.join(ROOT, rel)), `${page} links to missing ${target}`);
      assert.ok(shipped(rel), `${page} links to ${target}, which the npm package does not ship`);
    }
  }
});

Deno.test("the README quickstart is marked, imports the package by name and handles signals", () => {
  const code = quickstartSource(fs.readFileSync(path.join(ROOT, "README.md"), "utf8"));
  assert.match(code, /from "@awa\/awa"/);
  assert.match(code, /SIGINT/);
  assert.match(code, /SIGTERM/);
  assert.match(code, /CREATE TABLE IF NOT EXISTS orders/);
});

Deno.test("the published source uses no Deno-only or Bun-only globals", () => {
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
      const rel = `${dir}/${e.name}`;
      if (e.isDirectory()) walk(rel);
      else if (rel.endsWith(".ts")) files.push(rel);
    }
  };
  walk("src");
  files.push(...entries.map(([, file]) => file));
  for (const file of files) {
    const code = fs.readFileSync(path.join(ROOT, file), "utf8")
      .replace(/\/\*[\s\S]*?\*\//g, "")
      .replace(/\/\/.*$/gm, "");
    assert.doesNotMatch(code, /\b(Deno|Bun)\./, `${file} uses a runtime-specific global`);
  }
});
