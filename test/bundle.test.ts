// Spawns the built bundle (npm test builds it first): catches bundling
// regressions such as a CommonJS require() inside the ESM bundle.
import test from 'ava';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { readFile } from 'node:fs/promises';

const run = promisify(execFile);

test('the bundled bin prints its version', async (t) => {
  const pkg = JSON.parse(await readFile('package.json', 'utf8'));
  const { stdout } = await run(process.execPath, ['bin/xbuild.mjs', '--version']);
  t.is(stdout.trim(), pkg.version);
});

test('the bundled bin reports a usage error with exit code 2 and no stack', async (t) => {
  const err = await t.throwsAsync(run(process.execPath, ['bin/xbuild.mjs', 'nope'])) as Error & { code?: number; stderr?: string };
  t.is(err.code, 2);
  t.notRegex(err.stderr ?? '', /\n\s+at /);
});

test('help piped into a reader that has gone (`xbuild CMD --help | head -1`): quiet exit 0, no unhandled EPIPE', async (t) => {
  const { spawn } = await import('node:child_process');
  for (const cmd of [[], ['wrap'], ['verify'], ['unwrap'], ['qemu'], ['doctor'], ['inspect-elf']]) {
    const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const p = spawn(process.execPath, ['bin/xbuild.mjs', ...cmd, '--help'], { stdio: ['ignore', 'pipe', 'pipe'] });
      p.stdout.destroy(); // the reader is gone before the first write
      let stderr = '';
      p.stderr.on('data', (c) => { stderr += c; });
      p.on('close', (code) => resolve({ code, stderr }));
    });
    t.is(r.code, 0, `${cmd.join(' ')}: ${r.stderr}`);
    t.is(r.stderr, '', cmd.join(' '));
  }
});
