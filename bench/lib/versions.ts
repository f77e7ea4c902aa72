/** Version of an npm package as Deno resolved it (read from its package.json on disk). */
export function npmVersion(specifier: string): string {
  try {
    const entry = new URL(import.meta.resolve(specifier)).pathname;
    const m = entry.match(/\/node_modules\/\.deno\/(?:[^/]+\/)*?([^/@]+|@[^/]+\+[^/@]+)@([^/]+)\//);
    if (m) return m[2];
    let dir = entry.substring(0, entry.lastIndexOf("/"));
    while (dir.length > 1) {
      try {
        const pkg = JSON.parse(Deno.readTextFileSync(`${dir}/package.json`));
        if (pkg.version) return String(pkg.version);
      } catch { /* keep walking up */ }
      dir = dir.substring(0, dir.lastIndexOf("/"));
    }
  } catch { /* unresolvable */ }
  return "unknown";
}
