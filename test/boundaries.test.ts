// The library never imports the CLI framework and never touches the process:
// only src/cli/ does (STYLE.md). This test reads every library file.
import test from 'ava';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

async function tsFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...await tsFiles(p));
    else if (e.name.endsWith('.ts')) out.push(p);
  }
  return out;
}

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
