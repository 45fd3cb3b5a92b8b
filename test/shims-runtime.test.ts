// The in-image contract, driven exactly as a builder drives it, on real
// armhf and arm64 trees, with no binfmt_misc handler on the host:
//   chroot ROOT /usr/bin/cross-build-start
//   chroot ROOT /bin/sh -c '...'         (shell-form RUN)
//   chroot ROOT /usr/bin/cross-build-end
// Needs the patched, execve-intercepting emulators (issue 2) in the cache.
import test, { type ExecutionContext } from 'ava';
import { mkdtemp, readFile, realpath, rm, stat, unlink, copyFile, rename, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { ensureShim } from '../src/shims/build.ts';
import { DPKG_HOOK } from '../src/contract/in-image.ts';
import { installXbuildLayer } from './helpers/install-layer.ts';
import { ORIGINAL_SUFFIX, STATE_FILE } from '../src/contract/in-image.ts';
import type { QemuArch } from '../src/oci/platform.ts';
import { assertNoArmBinfmt } from './helpers/binfmt.ts';
import { cacheRoot, copyRoot, debFile, sha256File, type DebArch, type RootFlavor } from './helpers/shims-roots.ts';
import { patchedEmulator } from './helpers/shims-emulator.ts';
import { chrootRun, diffSnapshots, outsideTbCache, slot, snapshotTree, type RunResult } from './helpers/shims-chroot.ts';

const qemuArchOf = (a: DebArch): QemuArch => (a === 'armhf' ? 'arm' : 'aarch64');
const ARCHES: DebArch[] = ['armhf', 'arm64'];


async function prepare(t: ExecutionContext, arch: DebArch, flavor: RootFlavor): Promise<string> {
  await assertNoArmBinfmt();
  const d = await mkdtemp(join(tmpdir(), 'xbuild-shims-rt-'));
  t.teardown(() => rm(d, { recursive: true, force: true }));
  const root = await copyRoot(arch, flavor, d);
  await installXbuildLayer(root, {
    arch: qemuArchOf(arch),
    emulatorPath: await patchedEmulator(qemuArchOf(arch)),
    shimPath: await ensureShim({ cacheRoot: cacheRoot() }),
  });
  return root;
}

function show(r: RunResult): string {
  return `exit ${r.code ?? r.signal}\n--- stdout\n${r.stdout}--- stderr\n${r.stderr}`;
}

/** The snapshot key (path relative to root, symlinks in directories resolved) of an in-image path. */
async function keyOf(root: string, inImage: string): Promise<string> {
  const real = await realpath(join(root, inImage));
  return relative(await realpath(root), real);
}

async function stateList(root: string): Promise<string[]> {
  return (await readFile(join(root, STATE_FILE), 'utf8')).split('\n').filter(Boolean);
}

async function expectExecFormatError(t: ExecutionContext, root: string, what: string) {
  const r = await chrootRun(root, ['/bin/sh', '-c', 'echo should-not-run']);
  t.is(r.code, 126, `${what}: ${show(r)}`);
  t.regex(r.stderr, /Exec format error/, what);
  t.is(r.stdout, '');
}

// The shell-form features a Dockerfile RUN line uses, in one script; each line's output is checked.
const FEATURES = String.raw`
echo "pipeline: $(echo abc | tr a-z A-Z)"
x=$( (cd /tmp && pwd) ); echo "subshell: $x"
( exit 3 ) || echo "subshell-status: $?"
false || echo "or: ok"
true && echo "and: ok"
false && echo "and: wrong" || echo "and-or: ok"
cat <<EOF
heredoc: $((6 * 7)) $x
EOF
cat <<'EOF'
heredoc-quoted: $x
EOF
echo "cmdsubst: $(echo one two three | wc -w | tr -d ' ')"
printf '#!/bin/sh\necho "script: $0 $1"\n' > /tmp/s.sh && chmod +x /tmp/s.sh && /tmp/s.sh arg1
cd /tmp && ./s.sh relative && cd /
echo "exec: $(sh -c 'exec echo replaced; echo not-reached')"
echo "nested: $(sh -c "sh -c \"sh -c 'echo deep-\\\$0' level3\"")"
printf '#!/bin/sh\nif [ "$1" -gt 0 ]; then sh -c "/tmp/rec.sh $(($1 - 1))"; else echo "recursion: bottom"; fi\n' > /tmp/rec.sh && chmod +x /tmp/rec.sh && /tmp/rec.sh 12
echo "env: $(env X=1 sh -c 'echo X=$X')"
echo "env-i: $(env -i PATH=/usr/bin:/bin Y=2 sh -c 'echo Y=$Y')"
echo "argv0: $(sh -c 'echo $0') $(/bin/sh -c 'echo $0')"
sh -c 'exit 7'; echo "status: $?"
sh -c 'sh -c "kill -KILL \$\$"'; echo "child-signal: $?"
# the emulator's own file means "the current guest program" (patches/README.md, issue 15 item 1): run a copy as the host-native program
echo "host-native: $(cp /usr/bin/qemu-*-static /tmp/host-program && /tmp/host-program -version | head -n 1 | cut -d' ' -f1-2)"
echo "stdin: $(echo piped | sh -c 'read v; echo $v')"
echo "done"
`;
const FEATURES_EXPECTED = [
  'pipeline: ABC',
  'subshell: /tmp',
  'subshell-status: 3',
  'or: ok',
  'and: ok',
  'and-or: ok',
  'heredoc: 42 /tmp',
  'heredoc-quoted: $x',
  'cmdsubst: 3',
  'script: /tmp/s.sh arg1',
  'script: ./s.sh relative',
  'exec: replaced',
  'nested: deep-level3',
  'recursion: bottom',
  'env: X=1',
  'env-i: Y=2',
  'argv0: sh /bin/sh',
  'status: 7',
  'child-signal: 137',
  'host-native: qemu-ARCH version',
  'stdin: piped',
  'done',
];

async function cycle(t: ExecutionContext, arch: DebArch, flavor: RootFlavor) {
  const root = await prepare(t, arch, flavor);
  const qarch = qemuArchOf(arch);
  const before = await snapshotTree(root, { strict: true });

  await expectExecFormatError(t, root, 'before cross-build-start');

  // start
  let r = await chrootRun(root, ['/usr/bin/cross-build-start']);
  t.is(r.code, 0, show(r));
  t.regex(r.stdout, new RegExp(`^cross-build-start: on: \\S.* now start under /usr/bin/qemu-${qarch}-static \\(undo with cross-build-end\\)\\n$`));
  const swapped = await stateList(root);
  t.true(swapped.length >= 1, 'the state lists the swapped files');
  for (const p of swapped) {
    const key = await keyOf(root, p);
    const orig = before.get(key);
    t.truthy(orig, `${p} existed before`);
    t.is(await sha256File(join(root, p + ORIGINAL_SUFFIX)), orig?.sha256 ?? '(missing)', `${p}${ORIGINAL_SUFFIX} holds the original bytes`);
  }
  // the file behind /bin/sh is swapped
  t.true(swapped.some((p) => p.endsWith(flavor.startsWith('busybox') ? '/busybox' : flavor === 'debian-bash' ? '/bash' : '/dash')), swapped.join(','));

  // idempotent: a second start changes nothing at all (same inodes and times)
  const afterStart = await snapshotTree(root, { strict: true });
  r = await chrootRun(root, ['/usr/bin/cross-build-start']);
  t.is(r.code, 0, show(r));
  t.regex(r.stdout, /^cross-build-start: already on, nothing changed: /);
  t.deepEqual(diffSnapshots(afterStart, await snapshotTree(root, { strict: true })), []);

  // shell-form RUN lines
  r = await chrootRun(root, ['/bin/sh', '-c', FEATURES]);
  t.is(r.code, 0, show(r));
  t.deepEqual(r.stdout.split('\n').filter(Boolean), FEATURES_EXPECTED.map((l) => l.replace('ARCH', qarch)), show(r));

  // exit status, stdin/stdout/stderr
  r = await chrootRun(root, ['/bin/sh', '-c', 'exit 42']);
  t.is(r.code, 42);
  r = await chrootRun(root, ['/bin/sh', '-c', 'read a; echo "got:$a"; cat; echo to-err >&2; exit 5'], { input: 'line1\nrest of\ninput\n' });
  t.is(r.code, 5);
  t.is(r.stdout, 'got:line1\nrest of\ninput\n');
  t.is(r.stderr, 'to-err\n');
  r = await chrootRun(root, ['/bin/sh', '-c', 'no-such-command-xb']);
  t.is(r.code, 127);
  t.regex(r.stderr, /no-such-command-xb: (.*)?not found/);
  // a signal that kills the shell kills the process the builder started, with that signal
  r = await chrootRun(root, ['/bin/sh', '-c', 'kill -TERM $$; sleep 5']);
  t.is(r.signal, 'SIGTERM', show(r));

  // SHELL ["/bin/bash", "-c"] where the image has bash
  if (flavor === 'debian-dash' || flavor === 'debian-bash') {
    r = await chrootRun(root, ['/bin/bash', '-c', 'echo "bash:${BASH_VERSION%%.*}"; [[ a == a ]] && echo "[[ ok"; exec -a custom-name sh -c "echo argv0=\\$0"']);
    t.is(r.code, 0, show(r));
    t.is(r.stdout, 'bash:5\n[[ ok\nargv0=custom-name\n');
  } else if (flavor === 'busybox' || flavor === 'busybox-hardlinks') {
    // busybox picks its applet from argv[0]: it must arrive unchanged through every hop
    r = await chrootRun(root, ['/bin/ash', '-c', 'echo "ash:$0"; ls / >/dev/null && echo ls-ok; sh -c "echo inner:\\$0"']);
    t.is(r.code, 0, show(r));
    t.is(r.stdout, 'ash:/bin/ash\nls-ok\ninner:sh\n');
  }

  // end
  r = await chrootRun(root, ['/usr/bin/cross-build-end']);
  t.is(r.code, 0, show(r));
  t.regex(r.stdout, /^cross-build-end: off: restored \S/);
  // byte-identical, same inodes, same times: the originals were renamed back; no trace left
  t.deepEqual(outsideTbCache(diffSnapshots(before, await snapshotTree(root, { strict: true }))), []);
  r = await chrootRun(root, ['/usr/bin/cross-build-end']);
  t.is(r.code, 0);
  t.regex(r.stdout, /cross-build mode is not on/);
  await expectExecFormatError(t, root, 'after cross-build-end');
}

for (const arch of ARCHES) {
  for (const flavor of ['debian-dash', 'debian-bash', 'busybox', 'debian-dash-split', 'busybox-hardlinks'] as RootFlavor[]) {
    test(`${arch} ${flavor}: start, shell-form RUN features, idempotency, byte-identical end`, (t) => slot(() => cycle(t, arch, flavor)));
  }
}

test('merged /usr: every name of a shell is handled once, and /bin/sh via the /bin symlink works', async (t) => slot(async () => {
  const root = await prepare(t, 'arm64', 'debian-dash');
  const r = await chrootRun(root, ['/usr/bin/cross-build-start']);
  t.is(r.code, 0, show(r));
  const list = await stateList(root);
  // dash and bash, each once, although /etc/shells names each twice (and rbash is bash)
  t.deepEqual(list.map((p) => p.split('/').pop()).sort(), ['bash', 'dash']);
  for (const p of list) t.is((await stat(join(root, p + ORIGINAL_SUFFIX))).isFile(), true);
  for (const sh of ['/bin/sh', '/usr/bin/sh', '/bin/dash', '/usr/bin/dash', '/bin/bash', '/usr/bin/bash', '/bin/rbash']) {
    const x = await chrootRun(root, [sh, '-c', 'echo ok:$0']);
    t.is(x.stdout, `ok:${sh}\n`, `${sh}: ${show(x)}`);
  }
  t.is((await chrootRun(root, ['/usr/bin/cross-build-end'])).code, 0);
}));

test('cross-build-end run from inside a shell-form RUN line restores /bin/sh for the next one', async (t) => slot(async () => {
  const root = await prepare(t, 'armhf', 'debian-dash');
  t.is((await chrootRun(root, ['/usr/bin/cross-build-start'])).code, 0);
  const r = await chrootRun(root, ['/bin/sh', '-c', 'cross-build-end && echo "still running: $(echo yes)"']);
  t.is(r.code, 0, show(r));
  t.regex(r.stdout, /^cross-build-end: off: restored .*\nstill running: yes\n$/);
  await expectExecFormatError(t, root, 'after an in-shell cross-build-end');
  t.false(await stat(join(root, STATE_FILE)).then(() => true, () => false));
}));

test('an external SIGTERM reaches the shell running under the emulator (trap runs, its exit status comes back)', async (t) => slot(async () => {
  const root = await prepare(t, 'arm64', 'debian-bash');
  t.is((await chrootRun(root, ['/usr/bin/cross-build-start'])).code, 0);
  let sent = false;
  const r = await chrootRun(root, ['/bin/sh', '-c', 'trap "echo trapped; exit 7" TERM; echo ready; while :; do sleep 0.2; done'], {
    timeoutMs: 60_000,
    onSpawn: (pid, out) => {
      const poll = setInterval(() => {
        if (out().includes('ready')) { clearInterval(poll); sent = true; process.kill(pid, 'SIGTERM'); }
      }, 50);
    },
  });
  t.true(sent);
  t.is(r.code, 7, show(r));
  t.is(r.stdout, 'ready\ntrapped\n');
}));

test('a file replaced by a package upgrade during cross-build mode is swapped again by the dpkg hook, and kept at end', async (t) => slot(async () => {
  const root = await prepare(t, 'armhf', 'debian-dpkg');
  const dashDeb = await debFile('dash', 'armhf');
  const bashDeb = await debFile('bash', 'armhf');
  await copyFile(dashDeb, join(root, 'tmp/dash.deb'));
  await copyFile(bashDeb, join(root, 'tmp/bash.deb'));
  let r = await chrootRun(root, ['/usr/bin/cross-build-start']);
  t.is(r.code, 0, show(r));
  t.is(await readFile(join(root, DPKG_HOOK), 'utf8').then((s) => s.includes('post-invoke=/usr/bin/cross-build-start --refresh')), true);
  // a real dpkg run (under the emulator) replaces /bin/dash and /bin/bash with the packaged files
  r = await chrootRun(root, ['/bin/sh', '-c', 'dpkg --force-all --unpack /tmp/dash.deb /tmp/bash.deb >/dev/null && echo unpacked'], { timeoutMs: 300_000 });
  t.is(r.code, 0, show(r));
  t.regex(r.stdout, /unpacked/);
  t.regex(r.stderr, /cross-build-start: after a package change: swapped again \/bin\/(dash|bash), \/bin\/(bash|dash)/, show(r));
  // /bin/dash is the shim again (shim version 2 may give it the inode other swapped names share)
  t.deepEqual(await readFile(join(root, 'bin/dash')), await readFile(join(root, 'usr/bin/cross-build-start')));
  // the next RUN line works: the new files were swapped again by the hook
  r = await chrootRun(root, ['/bin/sh', '-c', 'echo next-run-ok']);
  t.is(r.stdout, 'next-run-ok\n', show(r));
  r = await chrootRun(root, ['/bin/bash', '-c', 'echo bash-ok']);
  t.is(r.stdout, 'bash-ok\n', show(r));
  const newDash = await sha256File(join(root, 'bin/dash.xbuild-orig'));
  // a package replaced behind the hook's back (no dpkg): end keeps the new file, drops the stale original
  await copyFile(join(root, 'bin/bash.xbuild-orig'), join(root, 'tmp/bash.new'));
  await rename(join(root, 'tmp/bash.new'), join(root, 'bin/bash'));
  r = await chrootRun(root, ['/usr/bin/cross-build-end']);
  t.is(r.code, 0, show(r));
  t.regex(r.stdout, /restored \/bin\/dash; kept the versions installed meanwhile of \/bin\/bash/);
  t.is(await sha256File(join(root, 'bin/dash')), newDash);
  for (const f of ['bin/dash.xbuild-orig', 'bin/bash.xbuild-orig', STATE_FILE, DPKG_HOOK]) {
    t.false(await stat(join(root, f)).then(() => true, () => false), `${f} is gone`);
  }
  await expectExecFormatError(t, root, 'after end');
}));

test('a shell removed during cross-build mode: start --refresh and end drop its stale original', async (t) => slot(async () => {
  const root = await prepare(t, 'arm64', 'debian-dash-split');
  await copyFile(join(root, 'bin/dash'), join(root, 'bin/ksh'));
  await chmod(join(root, 'bin/ksh'), 0o755);
  let r = await chrootRun(root, ['/usr/bin/cross-build-start']);
  t.is(r.code, 0, show(r));
  t.true((await stateList(root)).includes('/bin/ksh'));
  await unlink(join(root, 'bin/ksh'));
  r = await chrootRun(root, ['/usr/bin/cross-build-start', '--refresh']);
  t.is(r.code, 0, show(r));
  t.regex(r.stderr, /gone: \/bin\/ksh/);
  t.false(await stat(join(root, 'bin/ksh.xbuild-orig')).then(() => true, () => false));
  t.false((await stateList(root)).includes('/bin/ksh'));
  // a shell installed during cross-build mode is swapped by a second start
  await copyFile(join(root, 'bin/dash.xbuild-orig'), join(root, 'bin/mksh'));
  await chmod(join(root, 'bin/mksh'), 0o755);
  r = await chrootRun(root, ['/usr/bin/cross-build-start']);
  t.regex(r.stdout, /^cross-build-start: on: swapped again \/bin\/mksh/);
  t.is((await chrootRun(root, ['/bin/mksh', '-c', 'echo mksh:$0'])).stdout, 'mksh:/bin/mksh\n');
  // removed again, with no refresh in between: end drops its original and says so
  await unlink(join(root, 'bin/mksh'));
  r = await chrootRun(root, ['/usr/bin/cross-build-end']);
  t.is(r.code, 0, show(r));
  t.is(r.stdout, 'cross-build-end: off: restored /bin/dash; removed meanwhile: /bin/mksh\n');
  t.false(await stat(join(root, 'bin/mksh.xbuild-orig')).then(() => true, () => false));
  t.false(await stat(join(root, STATE_FILE)).then(() => true, () => false));
}));
