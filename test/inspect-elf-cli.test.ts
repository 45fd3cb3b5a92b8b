// `xbuild inspect-elf` in-process: human and --json output, exit codes.
import test from 'ava';
import { writeFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../src/cli/run.ts';
import { capture } from './helpers/capture.ts';
import { elfSample } from './helpers/elf-samples.ts';

test('inspect-elf prints one summary per file', async (t) => {
  const c = capture();
  const code = await runCli(['inspect-elf', await elfSample('amd64/qemu-arm-static'), await elfSample('armhf/dash')], c.ctx);
  t.is(code, 0);
  t.regex(c.stdout(), /qemu-arm-static: ELF64 LE DYN x86_64\(62\) static-pie/);
  t.regex(c.stdout(), /dash: ELF32 LE DYN arm\(40\) dynamic EABI5 hard-float arch v7/);
  t.regex(c.stdout(), /interpreter: \/lib\/ld-linux-armhf\.so\.3/);
});

test('inspect-elf --json gives numeric e_machine, linkage and notes; a non-ELF file is an error entry and exit 2', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'xbuild-inspect-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const txt = join(dir, 'not-elf.txt');
  await writeFile(txt, 'hello');
  const c = capture();
  const code = await runCli(['inspect-elf', '--json', await elfSample('synthetic/x86_64-xbuild-note1'), txt], c.ctx);
  t.is(code, 2);
  const out = JSON.parse(c.stdout());
  t.is(out.schemaVersion, 1);
  t.is(out.files[0].elf.machine, 62);
  t.is(out.files[0].elf.linkage, 'static');
  t.deepEqual(out.files[0].elf.notes.find((n: { name: string }) => n.name === 'xbuild').type, 1);
  t.is(out.files[1].error.code, 'INVALID_ELF');
});

test('inspect-elf on a missing file exits 2 with an IO error line', async (t) => {
  const c = capture();
  t.is(await runCli(['inspect-elf', '/nonexistent/xbuild-file'], c.ctx), 2);
  t.regex(c.stderr(), /reading \/nonexistent\/xbuild-file/);
});

test('the bundled bin runs inspect-elf (elfy, a CommonJS dependency, works inside the ESM bundle)', async (t) => {
  const { execFile } = await import('node:child_process');
  const { promisify } = await import('node:util');
  const { stdout } = await promisify(execFile)(process.execPath, ['bin/xbuild.mjs', 'inspect-elf', '--json', await elfSample('armhf/busybox')]);
  const out = JSON.parse(stdout);
  t.is(out.files[0].elf.arm.cpuArchName, 'v7');
  t.true(out.files[0].elf.sectionCount > 0, 'section table read through elfy');
});
