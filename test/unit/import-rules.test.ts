/**
 * The layout's rules (docs/architecture.md), checked on the import graph of the TypeScript sources so
 * that a change cannot quietly break them: which top-level folder may import which, and no import
 * cycles between source files. Type-only imports count too: a type pulled from a folder is a
 * dependency on it all the same.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));

/**
 * What each folder may import besides itself and libraries; main.ts, test/ and `*.test.ts` files
 * anywhere may import anything.
 */
const MAY_IMPORT: Record<string, readonly string[]> = {
  shared: [],
  db: ['shared'],
  broker: ['shared', 'db'],
  ingest: ['shared', 'db'],
  api: ['shared', 'db'],
  simulators: ['shared'],
  web: ['shared'],
  // The local cluster starts main.ts as processes, as Docker does; it imports none of the code.
  deploy: [],
};
const FOLDERS = Object.keys(MAY_IMPORT);

function sources(dir: string): string[] {
  return readdirSync(join(root, dir)).flatMap((name) => {
    const path = join(dir, name);
    if (name === 'node_modules' || name === 'dist') return [];
    if (statSync(join(root, path)).isDirectory()) return sources(path);
    return /\.tsx?$/.test(name) && !name.endsWith('.d.ts') ? [path] : [];
  });
}

const SPECIFIER =
  /^\s*(?:import|export)\s+(?:type\s+)?(?:[^;'"]*?\s+from\s+)?['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)/gms;

/** The project files a file imports (relative specifiers only), as paths from the root. */
function importsOf(file: string): string[] {
  const text = readFileSync(join(root, file), 'utf8');
  const out: string[] = [];
  for (const [, staticSpecifier, dynamicSpecifier] of text.matchAll(SPECIFIER)) {
    const specifier = staticSpecifier ?? dynamicSpecifier ?? '';
    if (!specifier.startsWith('.')) continue;
    out.push(normalize(join(dirname(file), specifier)));
  }
  return out;
}

const files = ['main.ts', ...FOLDERS.flatMap(sources), ...sources('test')];
const graph = new Map(files.map((f) => [f, importsOf(f)]));
const folderOf = (file: string) => file.split('/')[0] ?? '';

describe('import rules', () => {
  it('finds the sources', () => {
    for (const folder of FOLDERS)
      expect(
        files.some((f) => folderOf(f) === folder),
        folder,
      ).toBe(true);
  });

  it('each folder imports only what it may (docs/architecture.md)', () => {
    const broken: string[] = [];
    for (const [file, imports] of graph) {
      const from = folderOf(file);
      const allowed = MAY_IMPORT[from];
      // main.ts and test/ wire everything together; so do tests kept beside the code they test.
      if (!allowed || /\.test\.tsx?$/.test(file)) continue;
      for (const target of imports) {
        const to = folderOf(target);
        if (to !== from && !allowed.includes(to)) broken.push(`${file} imports ${target}`);
      }
    }
    expect(broken).toEqual([]);
  });

  it('has no import cycles', () => {
    const cycles: string[] = [];
    const state = new Map<string, 'open' | 'done'>();
    const path: string[] = [];
    const visit = (file: string) => {
      state.set(file, 'open');
      path.push(file);
      for (const next of graph.get(file) ?? []) {
        if (!graph.has(next)) continue;
        if (state.get(next) === 'open') cycles.push([...path.slice(path.indexOf(next)), next].join(' -> '));
        else if (!state.has(next)) visit(next);
      }
      path.pop();
      state.set(file, 'done');
    };
    for (const file of graph.keys()) if (!state.has(file)) visit(file);
    expect(cycles).toEqual([]);
  });

  it('every import of a project file resolves', () => {
    const missing = [...graph].flatMap(([file, imports]) =>
      imports.filter((t) => !graph.has(t) && !/\.(json|css)$/.test(t)).map((t) => `${file} -> ${t}`),
    );
    expect(missing).toEqual([]);
  });
});
