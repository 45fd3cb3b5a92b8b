// The emulators in the cache (built by scripts/build-emulators.sh): static,
// x86_64, marked, and a smoke check that -execve makes a guest exec work
// without binfmt_misc. The full behaviour suite is test/qemu-execve*.
import test from 'ava';
import { execFile, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { readBuildRecord, resolveEmulator } from '../src/qemu/cache.ts';
import { type QemuArch } from '../src/oci/platform.ts';
import { checkEmulator } from '../src/qemu/elf-check.ts';
import { SERIES_VERSION } from '../src/qemu/series.ts';
import { assertNoArmBinfmt } from './helpers/binfmt.ts';

const run = promisify(execFile);
const env = process.env;
const CC: Partial<Record<QemuArch, string>> = { arm: 'arm-linux-gnueabihf-gcc', aarch64: 'aarch64-linux-gnu-gcc' };

const EXECER = `#include <stdio.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>
int main(int argc, char **argv) {
  if (argc < 2) return 2;
  execvp(argv[1], argv + 1);
  printf("exec %s failed: %s\\n", argv[1], strerror(errno));
  return 127;
}
`;
const FEXEC = `#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>
extern char **environ;
int main(int argc, char **argv) {
  char buf[100];
  int fd = open(argv[1], O_RDONLY);
  if (fd < 0 || read(fd, buf, sizeof(buf)) != sizeof(buf)) return 3;
  fexecve(fd, argv + 1, environ);
  perror("fexecve");
  return 127;
}
`;
const HELLO = `#include <stdio.h>
int main(int argc, char **argv) {
  printf("hello argv0=%s argc=%d", argv[0], argc);
  for (int i = 1; i < argc; i++) printf(" [%s]", argv[i]);
  printf("\\n");
  return 7;
}
`;

for (const arch of ['arm', 'aarch64'] as QemuArch[]) {
  test(`cached qemu-${arch}-static is static, x86_64, carries the xbuild note and shows the suffix`, async (t) => {
    const emu = await resolveEmulator(arch, { env });
    const rec = await readBuildRecord(dirname(emu));
    t.truthy(rec);
    const facts = await checkEmulator(emu, { seriesVersion: SERIES_VERSION, qemuVersion: rec!.qemu.version });
    t.is(facts.machine, 62);
    t.false(facts.interp);
    t.is(facts.needed, 0);
    t.is(facts.linkage, 'static');
    t.is(facts.marker, `execve-intercept series=${SERIES_VERSION} qemu=${rec!.qemu.version}`);
    t.is(createHash('sha256').update(await readFile(emu)).digest('hex'), rec!.outputs[`qemu-${arch}-static`]!.sha256);
    const { stdout } = await run(emu, ['-version']);
    t.regex(stdout, new RegExp(`^qemu-${arch} version ${rec!.qemu.version.replace(/\./g, '\\.')}.* \\[xbuild execve-intercept series=${SERIES_VERSION}\\]$`, 'm'));
  });

  test(`smoke (${arch}, no binfmt_misc): -execve runs a guest program exec'd by a guest program`, async (t) => {
    await assertNoArmBinfmt();
    const emu = await resolveEmulator(arch, { env });
    const dir = await mkdtemp(join(tmpdir(), `xbuild-smoke-${arch}-`));
    try {
      for (const [name, src] of [['execer', EXECER], ['hello', HELLO], ['fexec', FEXEC]] as const) {
        await writeFile(join(dir, `${name}.c`), src);
        const cc = spawnSync(CC[arch]!, ['-static', '-O2', '-o', join(dir, name), join(dir, `${name}.c`)], { encoding: 'utf8' });
        if (cc.error || cc.status !== 0) t.fail(`${CC[arch]} is needed (scripts/install-system-deps.sh installs it): ${cc.error?.message ?? cc.stderr}`);
      }
      const go = (args: string[], extraEnv: Record<string, string> = {}) =>
        spawnSync(emu, args, { cwd: dir, encoding: 'utf8', env: { PATH: '/usr/bin:/bin', ...extraEnv } });

      const r = go(['-execve', './execer', './hello', 'a b', 'c']);
      t.is(r.stdout, 'hello argv0=./hello argc=3 [a b] [c]\n', r.stderr);
      t.is(r.status, 7, 'the exit status of the exec\'d program comes back');

      const env1 = go(['./execer', './hello'], { QEMU_EXECVE: '1' });
      t.is(env1.stdout, 'hello argv0=./hello argc=1\n', 'QEMU_EXECVE is the environment twin of -execve');

      const off = go(['./execer', './hello']);
      t.false(off.stdout.includes('hello argv0='), 'without -execve the guest exec fails (no binfmt_misc): the test proves the interception');

      await writeFile(join(dir, 'script'), `#!${join(dir, 'hello')}  one arg \n`);
      await chmod(join(dir, 'script'), 0o755);
      const s = go(['-execve', './execer', './script', 'x']);
      t.is(s.stdout, `hello argv0=${join(dir, 'hello')} argc=4 [one arg] [./script] [x]\n`, 'a #! script: interpreter, its one argument, the script path, then the arguments');

      const host = go(['-execve', './execer', '/bin/echo', 'host-native']);
      t.is(host.stdout, 'host-native\n');

      const fx = go(['-execve', './fexec', './hello', 'z']);
      t.is(fx.stdout, 'hello argv0=./hello argc=2 [z]\n', `fexecve of a descriptor already read from: ${fx.stderr}`);

      const missing = go(['-execve', './execer', './missing']);
      t.is(missing.stdout, 'exec ./missing failed: No such file or directory\n');
      t.is(missing.status, 127);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
}
