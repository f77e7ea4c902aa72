/**
 * Helpers to feed TLA+ specs written for TLC to tla-checker (the WASM build of tla-rs):
 *
 * - tla-checker gets one source string, so local modules named in EXTENDS are inlined
 *   (standard modules stay in EXTENDS);
 * - its cfg parser does not know `CONSTANT X <- Y`, so such a substitution is removed from
 *   the cfg, X is dropped from the CONSTANT declarations and `X == Y` is appended (its
 *   definitions may be in any order);
 * - it reports a violated invariant by index, so the cfg's invariant names are listed in
 *   order.
 *
 * @module
 */
import { dirname, join } from "node:path";
import { existsSync, readFileSync } from "node:fs";

export const STANDARD_MODULES = new Set([
  "Naturals",
  "Integers",
  "Reals",
  "Sequences",
  "FiniteSets",
  "TLC",
  "Bags",
  "Bits",
  "TLCExt",
]);

interface ParsedModule {
  name: string;
  extendsList: string[];
  body: string;
}

const HEADER = /^\s*-{4,}\s*MODULE\s+([A-Za-z0-9_]+)\s*-{4,}\s*$/;
const FOOTER = /^\s*={4,}\s*$/;

export function parseModule(source: string, origin: string): ParsedModule {
  const lines = source.split("\n");
  const h = lines.findIndex((l) => HEADER.test(l));
  if (h < 0) throw new Error(`${origin}: no MODULE header`);
  const name = HEADER.exec(lines[h])![1];
  let f = lines.length;
  for (let i = h + 1; i < lines.length; i++) {
    if (FOOTER.test(lines[i])) {
      f = i;
      break;
    }
  }
  const bodyLines = lines.slice(h + 1, f);
  const extendsList: string[] = [];
  for (let i = 0; i < bodyLines.length; i++) {
    if (!/^EXTENDS\b/.test(bodyLines[i])) continue;
    let text = bodyLines[i].replace(/^EXTENDS\b/, "");
    bodyLines[i] = "";
    while (/,\s*$/.test(text) && i + 1 < bodyLines.length) {
      i++;
      text += bodyLines[i];
      bodyLines[i] = "";
    }
    for (const m of text.split(",")) {
      const n = m.replace(/\\\*.*$/, "").trim();
      if (n) extendsList.push(n);
    }
    break;
  }
  return { name, extendsList, body: bodyLines.join("\n") };
}

/** Inline every local module reachable through EXTENDS, searching `searchDirs` in order. */
export function flattenModule(mainPath: string, searchDirs: string[]): string {
  const dirs = [dirname(mainPath), ...searchDirs];
  const std = new Set<string>();
  const seen = new Set<string>();
  const bodies: string[] = [];
  const visit = (path: string) => {
    const mod = parseModule(readFileSync(path, "utf8"), path);
    if (seen.has(mod.name)) return;
    seen.add(mod.name);
    for (const dep of mod.extendsList) {
      const file = dirs.map((d) => join(d, `${dep}.tla`)).find((p) => existsSync(p));
      if (file) visit(file);
      else if (STANDARD_MODULES.has(dep)) std.add(dep);
      else throw new Error(`${path}: EXTENDS ${dep}: module not found in ${dirs.join(", ")}`);
    }
    bodies.push(`\\* ---- from module ${mod.name} ----\n${mod.body}`);
  };
  visit(mainPath);
  const main = parseModule(readFileSync(mainPath, "utf8"), mainPath);
  return mergeVariableDeclarations([
    `---- MODULE ${main.name} ----`,
    std.size ? `EXTENDS ${[...std].join(", ")}` : "",
    ...bodies,
    "====",
    "",
  ].join("\n"));
}

/**
 * tla-checker keeps only one VARIABLE(S) declaration, so single-line declarations that
 * follow the first one (e.g. an extending module's `VARIABLE traceIdx`) are moved into it.
 */
export function mergeVariableDeclarations(source: string): string {
  const lines = source.split("\n");
  const decl = /^VARIABLES?\b(.*)$/;
  const first = lines.findIndex((l) => decl.test(l));
  if (first < 0) return source;
  const extra: string[] = [];
  for (let i = first + 1; i < lines.length; i++) {
    const m = decl.exec(lines[i]);
    if (!m) continue;
    const names = m[1].replace(/\\\*.*$/, "").split(",").map((s) => s.trim()).filter(Boolean);
    if (names.length === 0 || names.some((n) => !/^[A-Za-z_]\w*$/.test(n))) {
      throw new Error(`cannot merge multi-line VARIABLE declaration: ${lines[i]}`);
    }
    extra.push(...names);
    lines[i] = "";
  }
  if (extra.length) {
    const rest = decl.exec(lines[first])![1];
    lines[first] = `VARIABLES ${extra.join(", ")},${rest}`;
  }
  return lines.join("\n");
}

const CFG_KEYWORDS = new Set([
  "CONSTANT",
  "CONSTANTS",
  "INIT",
  "NEXT",
  "SPECIFICATION",
  "INVARIANT",
  "INVARIANTS",
  "PROPERTY",
  "PROPERTIES",
  "CHECK_DEADLOCK",
  "SYMMETRY",
  "CONSTRAINT",
  "CONSTRAINTS",
  "ACTION_CONSTRAINT",
  "ACTION_CONSTRAINTS",
  "VIEW",
  "ALIAS",
  "POSTCONDITION",
]);

function stripCfgComments(cfg: string): string {
  return cfg.replace(/\(\*[\s\S]*?\*\)/g, " ").split("\n").map((l) => l.replace(/\\\*.*$/, ""))
    .join("\n");
}

/** The invariant names of a cfg, in order (tla-checker reports violations by this index). */
export function cfgInvariants(cfg: string): string[] {
  const tokens = stripCfgComments(cfg).split(/\s+/).filter(Boolean);
  const out: string[] = [];
  let inInv = false;
  for (const t of tokens) {
    if (CFG_KEYWORDS.has(t)) {
      inInv = t === "INVARIANT" || t === "INVARIANTS";
      continue;
    }
    if (inInv) out.push(t);
  }
  return out;
}

/** Whether the cfg asks for deadlock checking (TLC's default is TRUE). */
export function cfgChecksDeadlock(cfg: string): boolean {
  const m = /CHECK_DEADLOCK\s+(TRUE|FALSE)/.exec(stripCfgComments(cfg));
  return m ? m[1] === "TRUE" : true;
}

/** Rewrite `X <- Y` constant substitutions into definitions tla-checker understands. */
export function applySubstitutions(source: string, cfg: string): { source: string; cfg: string } {
  const subs: [string, string][] = [];
  const cfgLines = cfg.split("\n").map((line) => {
    const m = /^(\s*(?:CONSTANTS?\s+)?)([A-Za-z_][A-Za-z0-9_]*)\s*<-\s*([A-Za-z_][A-Za-z0-9_]*)\s*$/
      .exec(line);
    if (!m) return line;
    subs.push([m[2], m[3]]);
    return /CONSTANTS?/.test(m[1]) ? "CONSTANTS" : "";
  });
  if (subs.length === 0) return { source, cfg };
  let src = source;
  for (const [name, def] of subs) {
    src = src.split("\n").map((line) => {
      const m = /^(CONSTANTS?)\s+(.*)$/.exec(line);
      if (!m) return line;
      const names = m[2].split(",").map((s) => s.trim()).filter((s) => s && s !== name);
      return names.length ? `${m[1]} ${names.join(", ")}` : "";
    }).join("\n");
    src = src.replace(/\n={4,}\s*\n?$/, `\n${name} == ${def}\n====\n`);
  }
  return { source: src, cfg: cfgLines.join("\n") };
}

/** The cfg with its INVARIANT(S) sections replaced by `names` (used for probe runs). */
export function withInvariants(cfg: string, names: string[]): string {
  const out: string[] = [];
  let skipping = false;
  for (const line of cfg.split("\n")) {
    const first = line.replace(/\\\*.*$/, "").trim().split(/\s+/)[0] ?? "";
    if (CFG_KEYWORDS.has(first)) skipping = first === "INVARIANT" || first === "INVARIANTS";
    if (!skipping) out.push(line);
  }
  return [...out, "INVARIANTS", ...names.map((n) => `  ${n}`), ""].join("\n");
}
