// A set-uid program listed in /etc/shells, run by an unprivileged user in
// cross-build mode, with the patched emulator (issue 15 item 14): it runs with
// the caller's privileges, and QEMU_* from the caller cannot make the emulator
// write a root-owned file. Before shim version 2 the shim copied the set-uid
// bit, so the emulator ran as root with the caller's QEMU_LOG_FILENAME.
import test from 'ava';
import { chmod, copyFile, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureShim } from '../src/shims/build.ts';
import { installXbuildLayer } from './helpers/install-layer.ts';
import { assertNoArmBinfmt } from './helpers/binfmt.ts';
import { cacheRoot, copyRoot } from './helpers/shims-roots.ts';
import { patchedEmulator } from './helpers/shims-emulator.ts';
import { chrootRun, type RunResult } from './helpers/shims-chroot.ts';

const show = (r: RunResult) => `exit ${r.code ?? r.signal}\n--- stdout\n${r.stdout}--- stderr\n${r.stderr}`;

test('a set-uid shell in /etc/shells, run by nobody in cross-build mode, runs as nobody; QEMU_LOG_FILENAME cannot write as root', async (t) => {
  await assertNoArmBinfmt();
  const d = await mkdtemp(join(tmpdir(), 'xbuild-shims-setid-'));
  t.teardown(() => rm(d, { recursive: true, force: true }));
  const root = await copyRoot('armhf', 'debian-dash-split', d);
  await installXbuildLayer(root, { arch: 'arm', emulatorPath: await patchedEmulator('arm'), shimPath: await ensureShim({ cacheRoot: cacheRoot() }) });
  await copyFile(join(root, 'bin/dash'), join(root, 'bin/suidsh'));
  await chmod(join(root, 'bin/suidsh'), 0o4755);
  await writeFile(join(root, 'etc/shells'), '/bin/sh\n/bin/dash\n/bin/suidsh\n');
  await chmod(join(root, 'tmp'), 0o1777);
  let r = await chrootRun(root, ['/usr/bin/cross-build-start']);
  t.is(r.code, 0, show(r));
  // the kernel's answer for the original outside cross-build mode would be euid 0; under emulation it is the caller's
  r = await chrootRun(root, ['/bin/suidsh', '-c', 'id -u; id -ru'], {
    chrootFlags: ['--userspec=65534:65534'],
    env: { QEMU_LOG: 'unimp', QEMU_LOG_FILENAME: '/tmp/qemu.log' },
  });
  t.is(r.code, 0, show(r));
  t.is(r.stdout, '65534\n65534\n');
  t.is((await stat(join(root, 'tmp/qemu.log'))).uid, 65534, 'the emulator log belongs to the caller, not root');
  r = await chrootRun(root, ['/usr/bin/cross-build-end']);
  t.is(r.code, 0, show(r));
  t.is((await stat(join(root, 'bin/suidsh'))).mode & 0o7777, 0o4755, 'the original has its set-uid bit back');
});
