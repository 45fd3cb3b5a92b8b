// Folder dependencies go one way (ARCHITECTURE.md "Layering"): every import in
// src/ is checked against the table below, so an upward import or a cycle fails
// the build. And the library never imports the CLI framework and never touches
// the process: only src/cli/ does (STYLE.md).
import test from 'ava';
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join, normalize, relative, sep } from 'node:path';

/** The files directly in src/ (errors, progress, version, cache-root): the base every folder may use. */
const BASE = '.';

/**
 * Which folders each folder of src/ may import (besides itself and BASE),
 * bottom up. A new folder must be added here before it can be imported.
 */
const ALLOWED: Record<string, readonly string[]> = {
  [BASE]: [],
  oci: [],
  elf: [],
  contract: ['oci', 'elf'],
  layer: ['oci'],
  registry: ['oci'],
  layout: ['oci', 'layer'],
  open: ['oci', 'registry', 'layout'],
  qemu: ['oci', 'elf', 'contract'],
  shims: ['oci', 'elf', 'layer', 'contract'],
  verify: ['oci', 'elf', 'layer', 'registry', 'layout', 'open', 'contract'],
  wrap: ['oci', 'elf', 'layer', 'registry', 'layout', 'open', 'contract', 'qemu', 'shims'],
  unwrap: ['oci', 'elf', 'layer', 'registry', 'layout', 'open', 'contract', 'qemu', 'shims'],
  install: ['oci', 'elf', 'contract', 'qemu', 'shims'],
  cli: ['oci', 'elf', 'layer', 'registry', 'layout', 'open', 'contract', 'qemu', 'shims', 'install', 'verify', 'wrap', 'unwrap'],
};

async function tsFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...await tsFiles(p));
    else if (e.name.endsWith('.ts')) out.push(p);
  }
  return out;
}

/** The folder of src/ a path belongs to (BASE for files directly in src/). */
function folderOf(pathInSrc: string): string {
  const parts = pathInSrc.split(sep);
  return parts.length === 1 ? BASE : parts[0]!;
}

/** Relative module specifiers of static imports, re-exports and dynamic imports. */
function relativeImports(text: string): string[] {
  const out: string[] = [];
  const re = /(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)['"](\.{1,2}\/[^'"]+)['"]/gm;
  for (const m of text.matchAll(re)) out.push(m[1]!);
  return out;
}

/** Every import of `files` (path -> text, paths relative to src/) that the table does not allow. */
function checkImports(files: Map<string, string>, allowed = ALLOWED): string[] {
  const offenders: string[] = [];
  for (const [file, text] of files) {
    const from = folderOf(file);
    if (!(from in allowed)) { offenders.push(`${file}: folder ${from}/ is not in the table of test/boundaries.test.ts`); continue; }
    for (const spec of relativeImports(text)) {
      const target = normalize(join(dirname(file), spec));
      if (target.startsWith('..')) { offenders.push(`${file}: imports ${spec}, outside src/`); continue; }
      const to = folderOf(target);
      if (to === from || to === BASE) continue;
      if (!allowed[from]!.includes(to)) offenders.push(`${file}: ${from}/ may not import ${to}/ (${spec})`);
    }
  }
  return offenders;
}

async function readSrc(): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  for (const f of await tsFiles('src')) files.set(relative('src', f), await readFile(f, 'utf8'));
  return files;
}

test('every import in src/ follows the one-way folder table', async (t) => {
  const files = await readSrc();
  t.true(files.size > 30);
  t.deepEqual(checkImports(files), []);
});

test('the folder table itself has no cycle (so the layering is one-way)', (t) => {
  const state = new Map<string, 'visiting' | 'done'>();
  const cycle: string[] = [];
  const visit = (f: string, path: string[]): void => {
    if (state.get(f) === 'done') return;
    if (state.get(f) === 'visiting') { cycle.push([...path, f].join(' -> ')); return; }
    state.set(f, 'visiting');
    for (const g of ALLOWED[f] ?? []) visit(g, [...path, f]);
    state.set(f, 'done');
  };
  for (const f of Object.keys(ALLOWED)) visit(f, []);
  t.deepEqual(cycle, []);
  t.deepEqual(ALLOWED.oci, []);
  t.deepEqual(ALLOWED.elf, []);
});

test('the checker catches an upward import, a re-export, a dynamic import and an unknown folder', (t) => {
  const files = new Map<string, string>([
    ['oci/x.ts', "import { RegistryClient } from '../registry/client.ts';"],
    ['layer/y.ts', "export { a } from '../layout/oci-layout.ts';"],
    ['qemu/z.ts', "const m = await import('../shims/build.ts');"],
    ['verify/w.ts', "import { DPKG_HOOK } from '../shims/build.ts';"],
    ['newfolder/v.ts', "import { a } from '../oci/model.ts';"],
    ['wrap/ok.ts', "import { a } from '../oci/model.ts';\nimport { b } from '../errors.ts';\nimport { c } from './wrap.ts';"],
  ]);
  t.deepEqual(checkImports(files), [
    'oci/x.ts: oci/ may not import registry/ (../registry/client.ts)',
    'layer/y.ts: layer/ may not import layout/ (../layout/oci-layout.ts)',
    'qemu/z.ts: qemu/ may not import shims/ (../shims/build.ts)',
    'verify/w.ts: verify/ may not import shims/ (../shims/build.ts)',
    'newfolder/v.ts: folder newfolder/ is not in the table of test/boundaries.test.ts',
  ]);
});

test('library modules do not import commander, src/cli, or use process.exit/stdout/stderr/argv', async (t) => {
  const files = (await tsFiles('src')).filter((f) => !f.startsWith(join('src', 'cli')));
  t.true(files.length > 0);
  const offenders: string[] = [];
  for (const f of files) {
    const text = await readFile(f, 'utf8');
    if (/from\s+['"]commander['"]/.test(text)) offenders.push(`${f}: imports commander`);
    if (/from\s+['"][./]*\/cli\//.test(text)) offenders.push(`${f}: imports src/cli`);
    if (/\bprocess\.(exit|stdout|stderr|argv|exitCode)\b/.test(text)) offenders.push(`${f}: touches process I/O`);
  }
  t.deepEqual(offenders, []);
});
