// verify on images made by the real `xbuild wrap` (CLI in-process) from the
// small base images of scripts/fixtures/small-images.sh (Debian busybox
// roots as OCI layouts). The emulator given to wrap is the real patched one
// (findEmulator; missing = the test fails); Debian's qemu-user-static must fail.
import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { runCli } from '../src/cli/run.ts';
import { capture } from './helpers/capture.ts';
import { findEmulator } from './helpers/emulators.ts';
import { smallImages } from './helpers/small-images.ts';

async function wrapWith(t: { teardown(fn: () => Promise<void>): void; log(...a: unknown[]): void }, base: string, qemuDir: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'xbuild-verify-wrapped-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const c = capture();
  c.ctx.env = { HOME: process.env.HOME, XBUILD_CACHE_DIR: process.env.XBUILD_CACHE_DIR, XDG_CACHE_HOME: process.env.XDG_CACHE_HOME }; // wrap builds the shim into the cache
  const code = await runCli(['wrap', base, '--output', `type=oci,dest=${join(dir, 'out')}`, '--qemu-dir', qemuDir, '-q'], c.ctx);
  if (code !== 0) throw new Error(`xbuild wrap failed (${code}): ${c.stderr()}`);
  return join(dir, 'out');
}

async function emulatorDir(t: { log(...a: unknown[]): void }, arch: 'arm' | 'aarch64'): Promise<string> {
  const real = await findEmulator(arch);
  t.log(`real emulator ${real}`);
  return dirname(real);
}

for (const [arch, qarch, platform] of [['armhf', 'arm', 'linux/arm/v7'], ['armel', 'arm', 'linux/arm/v5'], ['arm64', 'aarch64', 'linux/arm64/v8']] as const) {
  test(`xbuild wrap of the ${arch} base then xbuild verify: passes (${platform})`, async (t) => {
    const images = await smallImages();
    const out = await wrapWith(t, `oci:${join(images, arch)}`, await emulatorDir(t, qarch));
    const c = capture();
    t.is(await runCli(['verify', '--json', `oci:${out}`], c.ctx), 0, c.stdout());
    const r = JSON.parse(c.stdout());
    t.is(r.platforms[0].platform, platform);
    t.deepEqual(r.platforms[0].findings.filter((f: { severity: string }) => f.severity !== 'info'), []);
  });
}

test('xbuild wrap refuses Debian\'s qemu-user-static (no execve interception) with a hint; verify rejects it in an image (verify.test.ts)', async (t) => {
  const images = await smallImages();
  const err = await t.throwsAsync(wrapWith(t, `oci:${join(images, 'armhf')}`, join(images, 'qemu')));
  t.regex(err!.message, /xbuild wrap failed \(2\): xbuild: .*is not xbuild's: no "xbuild" ELF note of type 1/);
});
