// The patched emulator's -execve interception (issue 2), run on real armhf and
// arm64 Debian binaries in chroots of trees made by scripts/fixtures/arm-rootfs.sh,
// with the host's binfmt_misc asserted empty first. Helpers: test/helpers/guest.ts.
//
// A test that fails here names a behaviour of the emulator that is wrong; each
// failure message carries the exact host command line to reproduce it.
import test from 'ava';
import { chmod, cp, mkdir, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { armRootPath, removeTree, testProgramsPath, type DebArch, type RootFlavor } from './helpers/arm-root.ts';
import { assertHostCannotExecArm, assertNoArmBinfmt } from './helpers/binfmt.ts';
import { emulatorMarker, findEmulator } from './helpers/emulators.ts';
import { describeRun, ok, prepareGuest, put, runGuest, sh, testLeverVariables, type Guest } from './helpers/guest.ts';

type ArmDebArch = Extract<DebArch, 'armhf' | 'arm64' | 'armel'>;
const ARCHES: ArmDebArch[] = ['armhf', 'arm64'];
const FLAVORS: RootFlavor[] = ['debian-dash', 'busybox', 'debian-bash'];
/** uname -m as the emulator reports it. */
const UNAME: Record<ArmDebArch, string> = { armhf: 'armv7l', arm64: 'aarch64', armel: 'armv5tel' };
/** A -cpu model that runs Debian's binaries and whose HWCAP differs from the default ("max"). */
const OTHER_CPU: Record<ArmDebArch, string> = { armhf: 'cortex-a9', arm64: 'cortex-a53', armel: 'arm926' };

const guests = new Map<string, Guest>();
const emulators = new Map<DebArch, string>();
const gkey = (a: DebArch, f: RootFlavor) => `${a}/${f}`;

test.before(async () => {
  await assertNoArmBinfmt();
  for (const arch of ARCHES) {
    const emu = await findEmulator(arch === 'arm64' ? 'aarch64' : 'arm');
    emulators.set(arch, emu);
    for (const flavor of FLAVORS) guests.set(gkey(arch, flavor), await prepareGuest(arch, flavor, emu));
  }
});

test.after.always(async () => {
  for (const g of guests.values()) await removeTree(g.root);
});

function guest(arch: DebArch, flavor: RootFlavor = 'debian-dash'): Guest {
  const g = guests.get(gkey(arch, flavor));
  if (!g) throw new Error(`guest ${arch}/${flavor} was not prepared (see the before hook's failure)`);
  return g;
}




/** Expected output of /opt/xb/argv for the given vector. */
const argvOut = (...v: string[]) => v.map((a, i) => `argv[${i}]=${a}\n`).join('') + `argc=${v.length}\n`;

for (const arch of ARCHES) {
  // ---- preconditions and the comparison with stock behaviour -------------------

  test(`${arch}: the host cannot run ARM binaries itself (no binfmt handler, exec gives ENOEXEC)`, async (t) => {
    await assertNoArmBinfmt();
    await assertHostCannotExecArm(join(await testProgramsPath(arch), 'argv-static'));
    t.pass();
  });

  test(`${arch}: emulator carries the xbuild ELF note (type 1, execve-intercept series=N)`, async (t) => {
    const marker = await emulatorMarker(emulators.get(arch)!);
    t.regex(marker ?? '(no note)', /execve-intercept series=\d+/);
  });

  test(`${arch}: stock mode (no -execve): exec of a guest binary fails with ENOEXEC`, async (t) => {
    const g = guest(arch);
    const r = await runGuest(g, ['/opt/xb/exectest-static', 'execve', '/opt/xb/argv-static'], { execve: false });
    t.is(r.stdout, 'exectest: FAIL ENOEXEC\n', describeRun(r));
    const s = await sh(g, '/bin/true', { execve: false });
    t.regex(s.stderr, /Exec format error/, describeRun(s));
  });

  test(`${arch}: -execve: the same exec runs the guest binary under the emulator`, async (t) => {
    const r = await runGuest(guest(arch), ['/opt/xb/exectest-static', 'execve', '/opt/xb/argv-static', 'zero', 'one']);
    ok(t, r, argvOut('zero', 'one'));
  });

  test(`${arch}: QEMU_EXECVE=1 in the environment enables interception like -execve`, async (t) => {
    const r = await runGuest(guest(arch), ['/opt/xb/exectest-static', 'execve', '/opt/xb/argv-static', 'zero'], {
      execve: false,
      env: { QEMU_EXECVE: '1' },
    });
    ok(t, r, argvOut('zero'));
  });

  // ---- shells, pipelines, scripts ----------------------------------------------

  test(`${arch}: pipeline of Debian coreutils under dash`, async (t) => {
    const r = await sh(guest(arch), "printf 'b\\na\\nc\\n' | sort | head -n 1 | tr a-z A-Z; uname -m");
    ok(t, r, `A\n${UNAME[arch]}\n`);
  });

  test(`${arch}: nested shells (sh -> bash -> dash -> sh) and exit status through them`, async (t) => {
    const g = guest(arch);
    await put(g, '/tmp/nested.sh', 'bash -c \'dash -c "sh -c \\"echo deep; exit 7\\""\'; echo "rc=$?"\n', 0o644);
    const r = await sh(g, '. /tmp/nested.sh');
    ok(t, r, 'deep\nrc=7\n');
  });

  test(`${arch}: scripts run by path (#!/bin/sh) keep their arguments`, async (t) => {
    const g = guest(arch);
    await put(g, '/tmp/byPath.sh', '#!/bin/sh\necho "script:$0:$1:$2"\n');
    const r = await sh(g, '/tmp/byPath.sh a "b c"; cd /tmp && ./byPath.sh rel');
    ok(t, r, 'script:/tmp/byPath.sh:a:b c\nscript:./byPath.sh:rel:\n');
  });

  test(`${arch}: #!/usr/bin/env bash finds bash on PATH`, async (t) => {
    const g = guest(arch);
    await put(g, '/tmp/envbash', '#!/usr/bin/env bash\necho "bash=${BASH_VERSION%%.*} $0 $*"\n');
    const r = await sh(g, '/tmp/envbash x y');
    ok(t, r, 'bash=5 /tmp/envbash x y\n');
  });

  test(`${arch}: #! with one optional argument (#!/bin/sh -e stops at the first failure)`, async (t) => {
    const g = guest(arch);
    await put(g, '/tmp/opt-e', '#!/bin/sh -e\necho before\nfalse\necho after\n');
    await put(g, '/tmp/opt-argv', '#!/opt/xb/argv-static  one  two \t\n');
    const r = await sh(g, '/tmp/opt-e; echo "rc=$?"; /tmp/opt-argv extra');
    ok(t, r, 'before\nrc=1\n' + argvOut('/opt/xb/argv-static', 'one  two', '/tmp/opt-argv', 'extra'));
  });

  test(`${arch}: nested #! scripts (script whose interpreter is a script) run`, async (t) => {
    const g = guest(arch);
    await put(g, '/tmp/inner', '#!/opt/xb/argv-static inner-arg\n');
    await put(g, '/tmp/outer', '#!/tmp/inner outer-arg\n');
    const r = await runGuest(g, ['/opt/xb/exectest-static', 'execve', '/tmp/outer', 'ARGV0', 'last']);
    // kernel semantics: [interp, arg, script] replace argv[0] at every level
    ok(t, r, argvOut('/opt/xb/argv-static', 'inner-arg', '/tmp/inner', 'outer-arg', '/tmp/outer', 'last'));
  });

  test(`${arch}: #! loops end with ELOOP (self-interpreting script, and a chain of 40)`, async (t) => {
    const g = guest(arch);
    await put(g, '/tmp/selfloop', '#!/tmp/selfloop\n');
    for (let i = 0; i < 40; i++) await put(g, `/tmp/chain${i}`, `#!/tmp/chain${i + 1}\n`);
    await put(g, '/tmp/chain40', '#!/opt/xb/argv-static\n');
    const r = await runGuest(g, ['/bin/sh', '-c', '/opt/xb/exectest-static execve /tmp/selfloop; /opt/xb/exectest-static execve /tmp/chain0'], { timeoutMs: 60_000 });
    t.is(r.stdout, 'exectest: FAIL ELOOP\nexectest: FAIL ELOOP\n', describeRun(r));
  });

  // ---- busybox (Alpine-like) ----------------------------------------------------

  test(`${arch}: busybox applets chosen by argv[0] through symlinks (sh, tr, wc, basename, ls, head)`, async (t) => {
    const r = await sh(guest(arch, 'busybox'), 'echo hello | tr a-z A-Z | wc -c; basename /x/y.z .z; ls /opt/xb | head -n 1; uname -m');
    ok(t, r, `6\ny\nargv\n${UNAME[arch]}\n`);
  });

  test(`${arch}: argv[0] preserved on exec: /bin/busybox run with argv[0]="echo" acts as echo`, async (t) => {
    const r = await runGuest(guest(arch, 'busybox'), ['/opt/xb/exectest-static', 'execve', '/bin/busybox', 'echo', 'via-argv0']);
    ok(t, r, 'via-argv0\n');
  });

  test(`${arch}: busybox: #!/usr/bin/env sh script and nested busybox shells`, async (t) => {
    const g = guest(arch, 'busybox');
    await put(g, '/tmp/envsh', '#!/usr/bin/env sh\necho "envsh:$1"; sh -c \'sh -c "echo inner"\'\n');
    const r = await sh(g, '/tmp/envsh arg | cat');
    ok(t, r, 'envsh:arg\ninner\n');
  });

  test(`${arch}: busybox: dynamic Debian-built guest binary fails cleanly where there is no libc`, async (t) => {
    // Sanity check for the -L test below: in the busybox tree /opt/xb/argv (dynamic) has no ld.so.
    const r = await sh(guest(arch, 'busybox'), '/opt/xb/argv x; echo "rc=$?"');
    t.regex(r.stdout, /rc=(127|255|1|126)\n$/, describeRun(r));
    t.notRegex(r.stdout, /argv\[1\]=x/, describeRun(r));
  });

  // ---- /bin/sh -> bash, split /usr ----------------------------------------------

  test(`${arch}: debian-bash tree (/bin/sh -> bash, split /usr): pipeline and script`, async (t) => {
    const g = guest(arch, 'debian-bash');
    await put(g, '/tmp/b.sh', '#!/bin/sh\necho "sh-is-bash=${BASH_VERSION:+yes}"\n');
    const r = await sh(g, '/tmp/b.sh | grep -c yes; ls /bin/bash | sed s/bash/BASH/');
    ok(t, r, '1\n/bin/BASH\n');
  });

  // ---- host-native binaries inside the guest tree ---------------------------------

  test(`${arch}: host-native x86_64 busybox inside the guest runs natively, mixed in pipelines`, async (t) => {
    const r = await sh(guest(arch), '/opt/host/busybox uname -m; uname -m; echo hi | /opt/host/busybox tr a-z A-Z | tr H h');
    ok(t, r, `x86_64\n${UNAME[arch]}\nhI\n`);
  });

  test(`${arch}: host-native exec keeps argv[0] (busybox applet by argv[0])`, async (t) => {
    const r = await runGuest(guest(arch), ['/opt/xb/exectest-static', 'execve', '/opt/host/busybox', 'echo', 'native-argv0']);
    ok(t, r, 'native-argv0\n');
  });

  test(`${arch}: script whose #! interpreter is host-native runs natively`, async (t) => {
    const g = guest(arch);
    await put(g, '/tmp/native.sh', '#!/opt/host/busybox sh\n/opt/host/busybox uname -m\necho "native:$1"\n');
    const r = await sh(g, '/tmp/native.sh a');
    ok(t, r, 'x86_64\nnative:a\n');
  });

  // ---- execveat / fexecve ---------------------------------------------------------

  for (const prog of ['argv-static', 'argv']) {
    test(`${arch}: execveat(dirfd, name), fexecve(fd) and execveat(O_PATH fd, "", AT_EMPTY_PATH) run ${prog} with argv[0] kept`, async (t) => {
      const g = guest(arch);
      for (const mode of ['dirfd', 'fexecve', 'emptypath']) {
        const r = await runGuest(g, ['/opt/xb/exectest-static', mode, `/opt/xb/${prog}`, `A0-${mode}`, 'x']);
        ok(t, r, argvOut(`A0-${mode}`, 'x'));
      }
    });
  }

  test(`${arch}: execveat AT_SYMLINK_NOFOLLOW: ELOOP on a symlink, runs a regular file`, async (t) => {
    const g = guest(arch);
    await symlink('argv-static', join(g.root, 'opt/xb/link-to-argv')).catch(() => {});
    const a = await runGuest(g, ['/opt/xb/exectest-static', 'nofollow', '/opt/xb/link-to-argv']);
    t.is(a.stdout, 'exectest: FAIL ELOOP\n', describeRun(a));
    const b = await runGuest(g, ['/opt/xb/exectest-static', 'nofollow', '/opt/xb/argv-static', 'nf']);
    ok(t, b, argvOut('nf'));
  });

  test(`${arch}: fexecve and execveat(dirfd) of a #! script and of a host-native binary`, async (t) => {
    const g = guest(arch);
    await put(g, '/tmp/fd-script', '#!/bin/sh\necho "fd-script:$0:$1"\n');
    // The kernel names the script "/dev/fd/N" ("/dev/fd/N/name" with a dirfd); glibc's
    // fallback and an emulator may use /proc/self/fd/N instead: any name that opens it is right.
    const a = await runGuest(g, ['/opt/xb/exectest-static', 'fexecve', '/tmp/fd-script', 'ignored', 'p1']);
    ok(t, a, /^fd-script:(\/dev\/fd|\/proc\/self\/fd)\/\d+:p1\n$/);
    const b = await runGuest(g, ['/opt/xb/exectest-static', 'dirfd', '/tmp/fd-script', 'ignored', 'p2']);
    ok(t, b, /^fd-script:((\/dev\/fd|\/proc\/self\/fd)\/\d+\/fd-script|\/tmp\/fd-script):p2\n$/);
    const c = await runGuest(g, ['/opt/xb/exectest-static', 'fexecve', '/opt/host/busybox', 'echo', 'native-fd']);
    ok(t, c, 'native-fd\n');
  });

  // ---- /proc/self/exe ---------------------------------------------------------------

  for (const prog of ['selfexe-static', 'selfexe']) {
    test(`${arch}: execve("/proc/self/exe") re-runs the guest program (${prog}), argv[0] kept`, async (t) => {
      const r = await runGuest(guest(arch), [`/opt/xb/${prog}`]);
      ok(t, r, `parent exe=/opt/xb/${prog}\nchild argv0=again exe=/opt/xb/${prog}\n`);
    });
  }

  // ---- errno fidelity -------------------------------------------------------------------

  test(`${arch}: errno as the kernel returns it: ENOENT, EACCES (mode, directory), ENOEXEC, ENOTDIR, ELOOP`, async (t) => {
    const g = guest(arch);
    const progs = await testProgramsPath(arch);
    await cp(join(progs, 'argv-static'), join(g.root, 'tmp/noexec'));
    await chmod(join(g.root, 'tmp/noexec'), 0o644);
    await put(g, '/tmp/garbage', Buffer.from('\x01\x02garbage, neither ELF nor #!\n'));
    await put(g, '/tmp/empty', '');
    await put(g, '/tmp/badinterp', '#!/nonexistent/interp\n');
    await put(g, '/tmp/noexec-interp', '#!/tmp/noexec\n');
    await symlink('/tmp/loopB', join(g.root, 'tmp/loopA')).catch(() => {});
    await symlink('/tmp/loopA', join(g.root, 'tmp/loopB')).catch(() => {});
    const other = arch === 'armhf' ? 'arm64' : 'armhf';
    await cp(join(await testProgramsPath(other), 'argv-static'), join(g.root, 'tmp/other-arch'));
    await chmod(join(g.root, 'tmp/other-arch'), 0o755);
    const cases: Array<[string, string]> = [
      ['/nonexistent', 'ENOENT'],
      ['/tmp/noexec', 'EACCES'],
      ['/tmp', 'EACCES'],
      ['/tmp/garbage', 'ENOEXEC'],
      ['/tmp/empty', 'ENOEXEC'],
      ['/etc/passwd/x', 'ENOTDIR'],
      ['/tmp/loopA', 'ELOOP'],
      ['/tmp/badinterp', 'ENOENT'],
      ['/tmp/noexec-interp', 'EACCES'],
      ['/tmp/other-arch', 'ENOEXEC'],
    ];
    for (const [path, errno] of cases) {
      const r = await runGuest(g, ['/opt/xb/exectest-static', 'execve', path]);
      t.is(r.stdout, `exectest: FAIL ${errno}\n`, `${path}: expected ${errno}\n${describeRun(r)}`);
      t.is(r.code, 100, describeRun(r));
    }
  });

  test(`${arch}: execvp PATH search goes past non-executable file, directory and file-as-dir entries`, async (t) => {
    const g = guest(arch);
    const progs = await testProgramsPath(arch);
    await mkdir(join(g.root, 'tmp/p1'), { recursive: true });
    await cp(join(progs, 'argv-static'), join(g.root, 'tmp/p1/xprog'));
    await chmod(join(g.root, 'tmp/p1/xprog'), 0o644);
    await mkdir(join(g.root, 'tmp/p2/xprog'), { recursive: true });
    await mkdir(join(g.root, 'tmp/p3'), { recursive: true });
    await cp(join(progs, 'argv'), join(g.root, 'tmp/p3/xprog'));
    await chmod(join(g.root, 'tmp/p3/xprog'), 0o755);
    const found = await runGuest(g, ['/opt/xb/exectest-static', 'execvp', 'xprog', 'xprog', 'found'], { env: { PATH: '/etc/passwd:/tmp/p1:/tmp/p2:/tmp/p3' } });
    ok(t, found, argvOut('xprog', 'found'));
    const denied = await runGuest(g, ['/opt/xb/exectest-static', 'execvp', 'xprog'], { env: { PATH: '/tmp/p1:/tmp/p2' } });
    t.is(denied.stdout, 'exectest: FAIL EACCES\n', describeRun(denied));
    const shell = await sh(g, 'xprog via-shell', { env: { PATH: '/tmp/p1:/tmp/p2:/tmp/p3:/usr/bin:/bin' } });
    ok(t, shell, argvOut('xprog', 'via-shell'));
  });

  // ---- exit status and signals ----------------------------------------------------------

  test(`${arch}: exit codes and fatal signals of children propagate to the shell`, async (t) => {
    const r = await sh(guest(arch), [
      'ulimit -c 0',
      '/opt/xb/exitsig exit 42; echo "exit=$?"',
      '/opt/xb/exitsig-static exit 0; echo "exit=$?"',
      '/opt/xb/exitsig signal 15; echo "term=$?"',
      '/opt/xb/exitsig-static signal 9; echo "kill=$?"',
      '/opt/xb/exitsig signal 11; echo "segv=$?"',
      '/opt/xb/exitsig signal 6; echo "abrt=$?"',
    ].join('\n'));
    ok(t, r, 'exit=42\nexit=0\nterm=143\nkill=137\nsegv=139\nabrt=134\n');
  });

  test(`${arch}: exit code and fatal signal of an exec'd program become the emulator process's own`, async (t) => {
    const g = guest(arch);
    const a = await runGuest(g, ['/bin/sh', '-c', 'exec /opt/xb/exitsig exit 7'], { mounts: false });
    t.is(a.code, 7, describeRun(a));
    const b = await runGuest(g, ['/bin/sh', '-c', 'exec /opt/xb/exitsig-static signal 15'], { mounts: false });
    t.is(b.signal, 'SIGTERM', describeRun(b));
  });

  // ---- inheritance of options, environment hygiene -------------------------------------------

  test(`${arch}: -cpu is inherited by children and grandchildren (AT_HWCAP)`, async (t) => {
    const g = guest(arch);
    const cpu = ['-cpu', OTHER_CPU[arch]];
    const dflt = await runGuest(g, ['/opt/xb/hwcap-static']);
    const direct = await runGuest(g, ['/opt/xb/hwcap-static'], { qemuArgs: cpu });
    t.is(dflt.code, 0, describeRun(dflt));
    t.is(direct.code, 0, describeRun(direct));
    t.not(direct.stdout, dflt.stdout, `-cpu ${OTHER_CPU[arch]} should change HWCAP (test precondition)`);
    const nested = await sh(g, '/opt/xb/hwcap-static; sh -c /opt/xb/hwcap', { qemuArgs: cpu });
    ok(t, nested, direct.stdout + direct.stdout);
  });

  test(`${arch}: -L is inherited: a child finds its ld.so/libc only under the -L prefix`, async (t) => {
    const g = guest(arch, 'busybox');
    const lib = join(await armRootPath(arch, 'debian-dash'), 'usr', 'lib');
    await mkdir(join(g.root, 'sysroot/usr'), { recursive: true });
    await cp(lib, join(g.root, 'sysroot/usr/lib'), { recursive: true, verbatimSymlinks: true });
    await symlink('usr/lib', join(g.root, 'sysroot/lib')).catch(() => {});
    const direct = await runGuest(g, ['/opt/xb/argv', 'direct'], { qemuArgs: ['-L', '/sysroot'] });
    ok(t, direct, argvOut('/opt/xb/argv', 'direct')); // precondition: -L works for the first program
    const child = await sh(g, '/opt/xb/argv child; sh -c "/opt/xb/argv grandchild"', { qemuArgs: ['-L', '/sysroot'] });
    ok(t, child, argvOut('/opt/xb/argv', 'child') + argvOut('/opt/xb/argv', 'grandchild'));
  });

  test(`${arch}: no QEMU_* variables leak into children's environment (options given as flags)`, async (t) => {
    const r = await sh(guest(arch), 'env; echo ---; sh -c env', {
      qemuArgs: ['-cpu', OTHER_CPU[arch], '-L', '/'],
      env: { XB_MARK: 'kept' },
    });
    t.is(r.code, 0, describeRun(r));
    const [child, grandchild] = r.stdout.split('---\n');
    for (const e of [child ?? '', grandchild ?? '']) {
      // (XBUILD_TEST_LEVERS=on sets its own QEMU_* twins in the environment the test starts with: those are not a leak)
      t.deepEqual(e.split('\n').filter((l) => l.startsWith('QEMU_') && !testLeverVariables().includes(l)), [], describeRun(r));
      t.regex(e, /^XB_MARK=kept$/m, describeRun(r));
    }
  });

  test(`${arch}: interception survives an emptied environment (env -i), with -cpu still inherited`, async (t) => {
    const g = guest(arch);
    const cpu = ['-cpu', OTHER_CPU[arch]];
    const direct = await runGuest(g, ['/opt/xb/hwcap-static'], { qemuArgs: cpu });
    const r = await sh(g, 'env -i /bin/sh -c "/opt/xb/argv-static after-env-i; /opt/xb/hwcap-static; env"', { qemuArgs: cpu });
    // `env` in the emptied shell shows only what dash sets itself (PWD), nothing of QEMU_*
    ok(t, r, argvOut('/opt/xb/argv-static', 'after-env-i') + direct.stdout + 'PWD=/\n');
  });

  test(`${arch}: signal dispositions across exec follow the kernel (ignored stay ignored, handled reset, mask kept)`, async (t) => {
    const g = guest(arch);
    const expected = 'HUP=ign INT=dfl QUIT=dfl USR1=dfl USR2=ign TERM=dfl blocked=USR1\n';
    for (const prog of ['/opt/xb/sigdisp-static', '/opt/xb/sigdisp']) {
      const r = await runGuest(g, ['/opt/xb/sigdisp-static', 'prepare', prog]);
      ok(t, r, expected);
    }
    // what shells rely on: `trap '' HUP` then exec (nohup-like)
    const n = await sh(g, "trap '' HUP; /opt/xb/sigdisp");
    ok(t, n, /^HUP=ign /);
  });

  test(`${arch}: posix_spawn (clone CLONE_VM|CLONE_VFORK + execve) runs guest programs and scripts`, async (t) => {
    const g = guest(arch);
    await put(g, '/tmp/spawned.sh', '#!/bin/sh\necho "spawned-script:$1"; exit 3\n');
    const a = await runGuest(g, ['/opt/xb/spawn-static', '/opt/xb/argv', 'sp']);
    ok(t, a, argvOut('/opt/xb/argv', 'sp') + 'spawn: status 0\n');
    const b = await runGuest(g, ['/opt/xb/spawn', '/tmp/spawned.sh', 'x']);
    ok(t, b, 'spawned-script:x\nspawn: status 3\n');
  });

  test(`${arch}: works without /proc mounted (emulator re-exec found via AT_EXECFN)`, async (t) => {
    const r = await sh(guest(arch), 'echo a | tr a b; /opt/xb/argv-static np', { mounts: false });
    ok(t, r, 'b\n' + argvOut('/opt/xb/argv-static', 'np'));
  });
}

// armel: the same qemu-arm, soft-float EABI binaries (Debian armel).
test('armel: pipeline, script and nested shell in a Debian armel tree under qemu-arm', async (t) => {
  await assertNoArmBinfmt();
  const g = await prepareGuest('armel', 'debian-dash', await findEmulator('arm'));
  try {
    await put(g, '/tmp/s.sh', '#!/bin/sh\necho "s:$1"\n');
    const r = await sh(g, "printf 'b\\na\\n' | sort | head -n 1; /tmp/s.sh x; bash -c 'echo nested'; /opt/xb/argv el");
    ok(t, r, 'a\ns:x\nnested\n' + argvOut('/opt/xb/argv', 'el'));
  } finally {
    await removeTree(g.root);
  }
});
