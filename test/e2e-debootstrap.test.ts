// A realistic workload without binfmt_misc: the second stage of
// `debootstrap --foreign` (armhf, bookworm, minbase) run as root in a chroot under
// the patched emulator, which has to carry every dpkg maintainer script, shell,
// perl and coreutils exec. The first stage is cached by
// scripts/fixtures/debootstrap-foreign.sh; the second stage runs in a temporary copy.
import test from 'ava';
import { chmod, copyFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { copyTree, debootstrapForeignPath, removeTree } from './helpers/arm-root.ts';
import { assertNoArmBinfmt } from './helpers/binfmt.ts';
import { findEmulator } from './helpers/emulators.ts';
import { describeRun, GUEST_PATH, runGuest, runHost, type Guest } from './helpers/guest.ts';

// ~2 CPU-minutes of emulated work; the wall-clock limit leaves room for a busy shared machine
// (measured 13.7 min wall at load average 20 on 2 cores, 126 s of CPU).
const SECOND_STAGE_TIMEOUT_MS = 30 * 60_000;
// Host bash wrapper reporting the CPU time of the whole process tree (`times`: children's user, sys).
const WITH_CPU_TIMES = '"$@"; rc=$?; times >&2; exit $rc';

for (const arch of ['armhf'] as const) {
  test(`e2e: debootstrap --second-stage (${arch}, bookworm minbase) completes under -execve and leaves a working apt-get`, async (t) => {
    t.timeout(SECOND_STAGE_TIMEOUT_MS + 60_000);
    await assertNoArmBinfmt();
    const emulator = await findEmulator(arch === 'armhf' ? 'arm' : 'aarch64');
    const root = await copyTree(await debootstrapForeignPath(arch), `xbuild-debootstrap-${arch}-`);
    try {
      const g: Guest = { root, arch, qemuArch: 'arm', emulator: '/usr/bin/qemu-arm-static' };
      await copyFile(emulator, join(root, g.emulator));
      await chmod(join(root, g.emulator), 0o755);
      // debootstrap mounts /proc and /sys itself: run it in a private mount namespace
      // (nothing leaks to the host) without pre-mounting anything.
      const started = Date.now();
      const stage2 = await runHost(
        ['bash', '-c', WITH_CPU_TIMES, 'bash', 'unshare', '--mount', '--fork', '--', 'chroot', root, g.emulator, '-execve', '/bin/sh', '/debootstrap/debootstrap', '--second-stage'],
        { env: { PATH: GUEST_PATH, HOME: '/root', LC_ALL: 'C', DEBIAN_FRONTEND: 'noninteractive' }, timeoutMs: SECOND_STAGE_TIMEOUT_MS },
      );
      const seconds = ((Date.now() - started) / 1000).toFixed(1);
      const cpu = /(\S+) (\S+)\s*$/.exec(stage2.stderr.trim().split('\n').pop() ?? '');
      t.log(`second stage: ${seconds} s wall, CPU user ${cpu?.[1] ?? '?'} sys ${cpu?.[2] ?? '?'}`);
      const log = await readFile(join(root, 'debootstrap/debootstrap.log'), 'utf8').catch(() => '(no debootstrap.log: stage completed and removed /debootstrap)');
      t.is(stage2.code, 0, `${describeRun(stage2)}\n--- tail of debootstrap.log ---\n${log.split('\n').slice(-40).join('\n')}`);
      t.regex(stage2.stdout + stage2.stderr, /I: Base system installed successfully/, describeRun(stage2));

      const apt = await runGuest(g, ['/usr/bin/apt-get', '--version']);
      t.is(apt.code, 0, describeRun(apt));
      t.regex(apt.stdout, /^apt 2\.\d+\.\d+ \(armhf\)/m, describeRun(apt));
      const dpkgArch = await runGuest(g, ['/usr/bin/dpkg', '--print-architecture']);
      t.is(dpkgArch.stdout, `${arch}\n`, describeRun(dpkgArch));
      // every package unpacked and configured: dpkg --audit prints nothing
      const audit = await runGuest(g, ['/usr/bin/dpkg', '--audit']);
      t.is(audit.stdout + audit.stderr, '', describeRun(audit));
      t.is(audit.code, 0, describeRun(audit));
      // apt reads the installed system and finds its dependencies consistent (no network needed)
      const check = await runGuest(g, ['/bin/sh', '-c', 'apt-get check >/dev/null && echo apt-ok']);
      t.is(check.stdout, 'apt-ok\n', describeRun(check));
    } finally {
      await removeTree(root);
    }
  });
}
