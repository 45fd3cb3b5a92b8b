// cross-build-start/-end on real trees in the situations issue 15 (items 10-15)
// found broken: hard-linked busybox, long /etc/shells, read-only /bin, rootless
// user namespaces, interruptions, set-id programs, fexecve/execveat, shared
// objects in /etc/shells. The emulator is a host-native recorder (it prints the
// argv, euid and QEMU_* variables the shim hands it), so no QEMU is needed.
import test, { type ExecutionContext } from 'ava';
import { execFile } from 'node:child_process';
import { chmod, chown, copyFile, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile, rename } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ensureShim } from '../src/shims/build.ts';
import { xbuildLayerEntries } from '../src/shims/layer.ts';
import { installLayerEntries } from './helpers/install-layer.ts';
import { DPKG_HOOK, EMULATOR_LEVERS, ORIGINAL_SUFFIX, STATE_FILE } from '../src/contract/in-image.ts';
import { assertNoArmBinfmt } from './helpers/binfmt.ts';
import { cacheRoot, copyRoot, sha256File, type DebArch, type RootFlavor } from './helpers/shims-roots.ts';
import { chrootRun, diffSnapshots, snapshotTree, type ChrootOptions, type RunResult } from './helpers/shims-chroot.ts';
import { buildExecveat, buildRecorder } from './helpers/shims-recorder.ts';
import { LEVERS_ON } from './helpers/recorder-emulator.ts';

const run = promisify(execFile);
const START = '/usr/bin/cross-build-start';
const END = '/usr/bin/cross-build-end';
const show = (r: RunResult) => `exit ${r.code ?? r.signal}\n--- stdout\n${r.stdout}--- stderr\n${r.stderr}`;
const present = (p: string) => stat(p).then(() => true, () => false);

async function tree(t: ExecutionContext, arch: DebArch, flavor: RootFlavor): Promise<{ root: string; shim: Buffer; emu: string }> {
  await assertNoArmBinfmt();
  const d = await mkdtemp(join(tmpdir(), 'xbuild-shims-cases-'));
  t.teardown(() => rm(d, { recursive: true, force: true }));
  const root = await copyRoot(arch, flavor, d);
  const qarch = arch === 'armhf' ? 'arm' : 'aarch64';
  const shimPath = await ensureShim({ cacheRoot: cacheRoot() });
  await installLayerEntries(root, await xbuildLayerEntries({ arch: qarch, emulatorPath: await buildRecorder(d), shimPath }));
  return { root, shim: await readFile(shimPath), emu: `/usr/bin/qemu-${qarch}-static` };
}

const stateList = async (root: string) => (await readFile(join(root, STATE_FILE), 'utf8')).split('\n').filter(Boolean);
/** Files left behind by an unfinished swap or restore. */
async function leftovers(root: string, dir: string): Promise<string[]> {
  return (await readdir(join(root, dir))).filter((n) => /\.xbuild-(orig|new|tmp)$/.test(n));
}

test('10: the official busybox layout (applets are hard links): every name of the inode is swapped, once, and restored', async (t) => {
  const { root, shim, emu } = await tree(t, 'armhf', 'busybox-hardlinks');
  const bb = await stat(join(root, 'bin/busybox'));
  const names: string[] = [];
  for (const n of await readdir(join(root, 'bin'))) if ((await stat(join(root, 'bin', n))).ino === bb.ino) names.push(n);
  t.true(names.length > 100 && names.includes('sh') && names.includes('ash'), `${names.length} names`);
  const before = await snapshotTree(root, { strict: true });
  let r = await chrootRun(root, [START]);
  t.is(r.code, 0, show(r));
  t.deepEqual((await stateList(root)).sort(), names.map((n) => `/bin/${n}`).sort());
  const shimIno = (await stat(join(root, 'bin/sh'))).ino;
  for (const n of names) {
    const st = await stat(join(root, 'bin', n));
    t.is(st.ino, shimIno, `/bin/${n} is the (one) shim`);
    t.is((await stat(join(root, 'bin', n + ORIGINAL_SUFFIX))).ino, bb.ino, `/bin/${n}${ORIGINAL_SUFFIX} is the original`);
  }
  t.deepEqual(await readFile(join(root, 'bin/ash')), shim);
  r = await chrootRun(root, ['/bin/ash', '-c', 'x']);
  t.is(r.stdout.split('\n')[0], `${emu}|-execve|${LEVERS_ON}-0|/bin/ash|--|/bin/ash${ORIGINAL_SUFFIX}|-c|x|`, show(r));
  const afterStart = await snapshotTree(root, { strict: true });
  r = await chrootRun(root, [START]);
  t.is(r.code, 0, show(r));
  t.regex(r.stdout, /^cross-build-start: already on, nothing changed/);
  t.deepEqual(diffSnapshots(afterStart, await snapshotTree(root, { strict: true })), []);
  r = await chrootRun(root, [END]);
  t.is(r.code, 0, show(r));
  t.deepEqual(diffSnapshots(before, await snapshotTree(root, { strict: true })), []);
});

test('11: a shell known only from the state file is restored although /etc/shells has 70 lines', async (t) => {
  const { root } = await tree(t, 'arm64', 'debian-dash-split');
  await copyFile(join(root, 'bin/dash'), join(root, 'bin/mksh'));
  await chmod(join(root, 'bin/mksh'), 0o755);
  const mksh = await sha256File(join(root, 'bin/mksh'));
  await writeFile(join(root, 'etc/shells'), '/bin/sh\n/bin/dash\n/bin/mksh\n');
  let r = await chrootRun(root, [START]);
  t.is(r.code, 0, show(r));
  t.true((await stateList(root)).includes('/bin/mksh'));
  const lines = Array.from({ length: 68 }, (_, i) => `/opt/shell${i}/bin/sh`);
  await writeFile(join(root, 'etc/shells'), ['/bin/sh', '/bin/dash', ...lines].join('\n') + '\n');
  r = await chrootRun(root, [END]);
  t.is(r.code, 0, show(r));
  t.is(await sha256File(join(root, 'bin/mksh')), mksh, '/bin/mksh is the original again');
  t.deepEqual(await leftovers(root, 'bin'), []);
  t.false(await present(join(root, STATE_FILE)));
});

test('11: more /etc/shells lines than the shim can hold is an error that changes nothing', async (t) => {
  const { root } = await tree(t, 'arm64', 'debian-dash-split');
  const lines = Array.from({ length: 5000 }, (_, i) => `/opt/s${i}`);
  await writeFile(join(root, 'etc/shells'), ['/bin/sh', ...lines].join('\n') + '\n');
  const before = await snapshotTree(root, { strict: true });
  const r = await chrootRun(root, [START]);
  t.is(r.code, 1, show(r));
  t.regex(r.stderr, /^cross-build-start: too many shells to consider/);
  t.deepEqual(diffSnapshots(before, await snapshotTree(root, { strict: true })), []);
});

/** Runs in a private mount namespace where `dirs` of the tree are read-only bind mounts. */
const readOnly = (root: string, dirs: string[]): ChrootOptions => ({
  via: ['unshare', '-m', '--', 'sh', '-c', `${dirs.map((d) => `mount --bind -o ro '${root}/${d}' '${root}/${d}' && `).join('')}exec "$@"`, 'sh'],
});

test('12: a start that swaps nothing (read-only /bin) leaves no state file and no dpkg hook', async (t) => {
  const { root } = await tree(t, 'armhf', 'debian-dpkg');
  const before = await snapshotTree(root, { strict: true });
  const r = await chrootRun(root, [START], readOnly(root, ['bin']));
  t.is(r.code, 1, show(r));
  t.regex(r.stderr, /cannot swap \/bin\/dash: read-only file system/);
  t.deepEqual(diffSnapshots(before, await snapshotTree(root, { strict: true })), []);
});

test('11: an end that cannot restore everything keeps the state file and the dpkg hook; a later end finishes', async (t) => {
  const { root } = await tree(t, 'armhf', 'debian-dpkg');
  const before = await snapshotTree(root, { strict: true });
  let r = await chrootRun(root, [START]);
  t.is(r.code, 0, show(r));
  r = await chrootRun(root, [END], readOnly(root, ['bin']));
  t.is(r.code, 1, show(r));
  t.regex(r.stderr, /cannot restore \/bin\/(dash|bash)/);
  t.true(await present(join(root, STATE_FILE)));
  t.true(await present(join(root, DPKG_HOOK)));
  r = await chrootRun(root, [END]);
  t.is(r.code, 0, show(r));
  t.deepEqual(diffSnapshots(before, await snapshotTree(root, { strict: true })), []);
});

// ---- 13: rootless user namespaces and interruptions ----

const USERNS: ChrootOptions = { via: ['unshare', '-r'] };

/** /bin/dash owned by a uid the user namespace does not map: link() fails with EPERM (protected_hardlinks). */
async function unmappedDash(t: ExecutionContext) {
  t.is((await readFile('/proc/sys/fs/protected_hardlinks', 'utf8')).trim(), '1');
  const x = await tree(t, 'armhf', 'debian-dash-split');
  await chown(join(x.root, 'bin/dash'), 1000, 1000);
  return x;
}

test('13: in a rootless user namespace (link() fails) start and end round-trip the tree exactly', async (t) => {
  const { root } = await unmappedDash(t);
  const before = await snapshotTree(root, { strict: true });
  let r = await chrootRun(root, [START], USERNS);
  t.is(r.code, 0, show(r));
  t.deepEqual(await stateList(root), ['/bin/dash']);
  t.is((await stat(join(root, 'bin/dash.xbuild-orig'))).ino, before.get('bin/dash')?.ino ?? -1);
  t.deepEqual(await leftovers(root, 'bin'), ['dash.xbuild-orig']);
  r = await chrootRun(root, [END], USERNS);
  t.is(r.code, 0, show(r));
  t.deepEqual(diffSnapshots(before, await snapshotTree(root, { strict: true })), []);
});

test('13: end restores a swap interrupted after the original was renamed away (left by shim version 1)', async (t) => {
  const { root, shim } = await unmappedDash(t);
  const dash = await sha256File(join(root, 'bin/dash'));
  await writeFile(join(root, STATE_FILE), '/bin/dash\n');
  await rename(join(root, 'bin/dash'), join(root, 'bin/dash.xbuild-orig'));
  await writeFile(join(root, 'bin/dash.xbuild-new'), shim, { mode: 0o755 });
  const r = await chrootRun(root, [END], USERNS);
  t.is(r.code, 0, show(r));
  t.is(await sha256File(join(root, 'bin/dash')), dash);
  t.deepEqual(await leftovers(root, 'bin'), []);
});

/** Kills `cmd` at the n-th call of `syscall` (strace fault injection); true when it was killed. */
async function killAt(root: string, cmd: string, syscall: string, n: number, ns: boolean): Promise<boolean> {
  const via = [...(ns ? ['unshare', '-r'] : []), 'strace', '-f', '-qq', '-o', '/dev/null', '-e', `trace=${syscall}`, '-e', `inject=${syscall}:signal=SIGKILL:when=${n}`];
  const r = await chrootRun(root, [cmd], { via });
  return r.code !== 0;
}

for (const ns of [false, true]) {
  test(`13: start killed at any step${ns ? ' in a rootless user namespace' : ''}: end gives back the original tree`, async (t) => {
    let kills = 0;
    for (const syscall of ['linkat', 'renameat', 'renameat2', 'unlinkat']) {
      for (let n = 1; n < 10; n++) {
        const { root } = await (ns ? unmappedDash(t) : tree(t, 'armhf', 'debian-dash-split'));
        const before = await snapshotTree(root, { strict: true });
        if (!await killAt(root, START, syscall, n, ns)) break;
        kills++;
        const r = await chrootRun(root, [END], ns ? USERNS : {});
        t.is(r.code, 0, `${syscall} #${n}: ${show(r)}`);
        t.deepEqual(diffSnapshots(before, await snapshotTree(root, { strict: true })), [], `killed at ${syscall} #${n}`);
        await rm(root, { recursive: true, force: true });
      }
    }
    t.log(`${kills} interruptions`);
    t.true(kills >= 3, `${kills} interruptions`);
  });
}

test('13: a swap whose final rename fails after link() succeeded leaves no stale link and no half-on mode', async (t) => {
  const { root } = await tree(t, 'armhf', 'debian-dash-split');
  const before = await snapshotTree(root, { strict: true });
  // renameat #1 installs the state file, #2 puts the shim over /bin/dash: make #2 fail (strace fault injection)
  const via = ['strace', '-f', '-qq', '-o', '/dev/null', '-e', 'trace=renameat', '-e', 'inject=renameat:error=EIO:when=2'];
  const r = await chrootRun(root, [START], { via });
  t.is(r.code, 1, show(r));
  t.regex(r.stderr, /cannot swap \/bin\/dash: input\/output error/);
  t.deepEqual(diffSnapshots(before, await snapshotTree(root, { strict: true })), []);
});

test('13: a shim that cannot be opened is not taken for "gone": end keeps its original and fails', async (t) => {
  const { root } = await unmappedDash(t);
  let r = await chrootRun(root, [START], USERNS);
  t.is(r.code, 0, show(r));
  await chown(join(root, 'bin/dash'), 1000, 1000);
  await chmod(join(root, 'bin/dash'), 0o700);
  r = await chrootRun(root, [END], USERNS);
  t.is(r.code, 1, show(r));
  t.true(await present(join(root, 'bin/dash.xbuild-orig')), 'the original survives');
  t.true(await present(join(root, STATE_FILE)));
});

// ---- 14: set-id programs ----

test('14: a setuid program in /etc/shells gets a shim without set-id bits; QEMU_* is dropped under AT_SECURE', async (t) => {
  const { root } = await tree(t, 'armhf', 'debian-dash-split');
  await copyFile(join(root, 'bin/dash'), join(root, 'bin/suidsh'));
  await chmod(join(root, 'bin/suidsh'), 0o4755);
  await writeFile(join(root, 'etc/shells'), '/bin/sh\n/bin/dash\n/bin/suidsh\n');
  let r = await chrootRun(root, [START]);
  t.is(r.code, 0, show(r));
  t.true((await stateList(root)).includes('/bin/suidsh'));
  t.is((await stat(join(root, 'bin/suidsh'))).mode & 0o7777, 0o755, 'the shim has no set-id bits');
  t.is((await stat(join(root, 'bin/suidsh.xbuild-orig'))).mode & 0o7777, 0o4755, 'the original keeps them');
  const asNobody: ChrootOptions = { chrootFlags: ['--userspec=65534:65534'], env: { QEMU_LOG_FILENAME: '/tmp/owned', QEMU_LD_PREFIX: '/tmp' } };
  r = await chrootRun(root, ['/bin/suidsh', '-c', 'id -u'], asNobody);
  t.deepEqual(r.stdout.split('\n').slice(1), ['euid=65534', 'QEMU_LOG_FILENAME=/tmp/owned', 'QEMU_LD_PREFIX=/tmp', ''], show(r));
  // a shim that gains privileges anyway (here: file capabilities) gets AT_SECURE and passes no QEMU_* on
  await run('setcap', ['cap_net_bind_service+ep', join(root, 'bin/suidsh')]);
  r = await chrootRun(root, ['/bin/suidsh', '-c', 'id -u'], asNobody);
  t.deepEqual(r.stdout.split('\n').slice(1), ['euid=65534', ''], show(r));
});

// ---- 15: how the shell is started; what is a shell ----

test('15: shells started by fexecve and execveat (AT_EXECFN /dev/fd/N[/name], also longer than PATH_MAX)', async (t) => {
  const { root, emu } = await tree(t, 'armhf', 'debian-dash-split');
  await mkdir(join(root, 'usr/local/bin'), { recursive: true });
  await buildExecveat(join(root, 'usr/local/bin/xb-execveat'));
  let r = await chrootRun(root, [START]);
  t.is(r.code, 0, show(r));
  const expected = `${emu}|-execve|${LEVERS_ON}-0|sh|--|/bin/dash${ORIGINAL_SUFFIX}|-c|x|`;
  r = await chrootRun(root, ['/usr/local/bin/xb-execveat', 'fd', '/bin/sh', 'sh', '-c', 'x']);
  t.is(r.stdout.split('\n')[0], expected, show(r));
  r = await chrootRun(root, ['/usr/local/bin/xb-execveat', 'dirfd', '/bin', 'sh', 'sh', '-c', 'x']);
  t.is(r.stdout.split('\n')[0], expected, show(r));
  // a relative name of 4090 bytes: AT_EXECFN is "/dev/fd/3/" + it, longer than PATH_MAX
  const relDir = [...Array.from({ length: 16 }, (_, i) => String(i % 10).repeat(250)), 'b'.repeat(71)].join('/');
  const name = `${relDir}/sh`;
  t.is(name.length, 4090);
  // relative to /tmp of the tree: the host path would be longer than PATH_MAX
  await run('sh', ['-c', 'mkdir -p "$1" && ln -s /bin/sh "$1/sh"', 'sh', relDir], { cwd: join(root, 'tmp') });
  t.teardown(() => run('rm', ['-rf', relDir.split('/')[0]!], { cwd: join(root, 'tmp') }).then(() => undefined)); // before the tree's own teardown
  t.true(name.length + '/dev/fd/3/'.length > 4096, `${name.length}`);
  r = await chrootRun(root, ['/usr/local/bin/xb-execveat', 'dirfd', '/tmp', name, 'sh', '-c', 'x']);
  t.is(r.stdout.split('\n')[0], expected, show(r));
});

test('15: 12000 arguments under a 140 KiB stack limit (enough for chroot and the shell) reach the emulator', async (t) => {
  const { root } = await tree(t, 'arm64', 'debian-dash-split');
  let r = await chrootRun(root, [START]);
  t.is(r.code, 0, show(r));
  const args = Array.from({ length: 12000 }, () => 'x');
  r = await chrootRun(root, ['/bin/sh', '-c', 'y', ...args], { via: ['prlimit', '--stack=143360'] });
  t.is(r.code, 0, show(r).slice(0, 500));
  t.is(r.stdout.split('\n')[0]!.split('|').length, 6 + 2 * EMULATOR_LEVERS.length + 2 + args.length + 1);
});

test('15: /etc/shells entries naming shared objects (ld-linux, libc) are not swapped', async (t) => {
  for (const arch of ['armhf', 'arm64'] as const) {
    const { root } = await tree(t, arch, 'debian-dash-split');
    const triplet = arch === 'armhf' ? 'arm-linux-gnueabihf' : 'aarch64-linux-gnu';
    const ld = arch === 'armhf' ? `/lib/${triplet}/ld-linux-armhf.so.3` : `/lib/${triplet}/ld-linux-aarch64.so.1`;
    const libc = `/lib/${triplet}/libc.so.6`;
    t.true(await present(join(root, ld)) && await present(join(root, libc)), `${ld} ${libc}`);
    await writeFile(join(root, 'etc/shells'), `/bin/sh\n${ld}\n${libc}\n`);
    const before = [await sha256File(join(root, ld)), await sha256File(join(root, libc))];
    const r = await chrootRun(root, [START]);
    t.is(r.code, 0, show(r));
    t.deepEqual(await stateList(root), ['/bin/dash']);
    t.deepEqual([await sha256File(join(root, ld)), await sha256File(join(root, libc))], before);
    t.false(await present(join(root, ld + ORIGINAL_SUFFIX)));
  }
});
