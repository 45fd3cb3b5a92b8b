// A slice of bench/workloads (real Debian workloads under xbuild's emulator, no
// binfmt_misc) small enough for CI: in the debootstrapped armhf tree of
// scripts/fixtures/debian-workload-tree.sh (stage base: second stage done, .debs of
// build-essential python3 perl nodejs downloaded), ldconfig many times and an offline
// apt-get install that runs dpkg and the libc-bin (ldconfig) trigger. The results are
// checked against host tools reading the tree (dpkg --admindir, cmp). Compiling and
// running C and Python needs the installed tree (built on first use: the install takes many
// emulated minutes, once per fixture key): `npm run bench:workloads` runs the whole matrix.
import test from 'ava';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { copyTree, REPO_ROOT, removeTree } from './helpers/arm-root.ts';
import { assertNoArmBinfmt } from './helpers/binfmt.ts';
import { findEmulator } from './helpers/emulators.ts';
import { describeRun } from './helpers/guest.ts';
import { crashLines, GUEST_PROGRAMS, installEmulator, installPrograms, runXbuild, workloadTreePath } from './helpers/workload.ts';

const run = promisify(execFile);
const ARCH = 'armhf';
const LDCONFIG_RUNS = 100;
// cold: debootstrap's second stage under emulation (~2 CPU-minutes; busy machine: far more)
const FIXTURE_TIMEOUT_MS = 45 * 60_000;

let root = '';
let emu = '';

test.before(async (t) => {
  t.timeout(FIXTURE_TIMEOUT_MS);
  await assertNoArmBinfmt();
  root = await copyTree(await workloadTreePath(ARCH, 'base'), `xbuild-wl-slice-${ARCH}-`);
  emu = await installEmulator(root, ARCH, await findEmulator('arm'));
});

test.after.always(async () => {
  if (root) await removeTree(root);
});

test.serial(`e2e workloads (${ARCH}): ldconfig x${LDCONFIG_RUNS} under -execve, no crash, the same cache every time`, async (t) => {
  t.timeout(10 * 60_000);
  const script = `ldconfig && cp /etc/ld.so.cache /tmp/first.cache && i=1; while [ $i -lt ${LDCONFIG_RUNS} ]; do ldconfig || { echo "run $i failed"; exit 1; }; i=$((i+1)); done; echo runs=$i; ldconfig -p`;
  const r = await runXbuild(root, emu, script, 10 * 60_000);
  t.deepEqual(crashLines(r), [], describeRun(r));
  t.is(r.code, 0, describeRun(r));
  t.regex(r.stdout, new RegExp(`^runs=${LDCONFIG_RUNS}$`, 'm'));
  t.regex(r.stdout, /libc\.so\.6 \(libc6,hard-float\) => \/lib\/arm-linux-gnueabihf\/libc\.so\.6/, describeRun(r));
  // the 100th cache is byte-identical to the first (checked by the host's cmp)
  await t.notThrowsAsync(run('cmp', [join(root, 'tmp/first.cache'), join(root, 'etc/ld.so.cache')]));
});

test.serial(`e2e workloads (${ARCH}): offline apt-get install of libmpc3 runs dpkg and the libc-bin ldconfig trigger`, async (t) => {
  t.timeout(15 * 60_000);
  const r = await runXbuild(root, emu, 'apt-get install -y -q --no-download --no-install-recommends libmpc3 && ldconfig -p | grep libmpc.so.3', 15 * 60_000);
  t.deepEqual(crashLines(r), [], describeRun(r));
  t.is(r.code, 0, describeRun(r));
  t.regex(r.stdout, /Setting up libmpc3:armhf/, describeRun(r));
  t.regex(r.stdout, /Processing triggers for libc-bin/, describeRun(r));
  t.regex(r.stdout, /libmpc\.so\.3 \(libc6,hard-float\)/, describeRun(r));
  // the host's dpkg reads the tree's database: installed, and nothing half-configured
  const admin = join(root, 'var/lib/dpkg');
  const status = await run('dpkg-query', [`--admindir=${admin}`, '-W', '-f', '${Status} ${Version}', 'libmpc3:armhf']);
  t.regex(status.stdout, /^install ok installed \S+$/);
  // (dpkg --audit on the host would complain about the foreign architecture: list states instead)
  const all = await run('dpkg-query', [`--admindir=${admin}`, '-W', '-f', '${binary:Package} ${Status}\n']);
  t.deepEqual(all.stdout.trim().split('\n').filter((l) => !l.endsWith(' install ok installed')), []);
  t.true(all.stdout.split('\n').length > 80, all.stdout);
});

// The installed tree is built on first use (the conformance test needs it too; the fixture lock
// serialises the two), never skipped: a cold run builds it.
const compileTitle = `e2e workloads (${ARCH}): gcc compiles and runs a threaded C program; Python threads + multiprocessing`;
test.serial(compileTitle, async (t) => {
  t.timeout(90 * 60_000);
  const installed = await workloadTreePath(ARCH, 'installed');
  const tree = await copyTree(installed, `xbuild-wl-installed-${ARCH}-`);
  try {
    const e = await installEmulator(tree, ARCH, await findEmulator('arm'));
    await installPrograms(tree);
    const c = await runXbuild(tree, e, `gcc -O2 -pthread ${GUEST_PROGRAMS}/threads.c -o /tmp/threads && /tmp/threads`, 10 * 60_000);
    t.deepEqual(crashLines(c), [], describeRun(c));
    t.regex(c.stdout, /child-exec-ok\n[^]*c-threads-ok \d+ exit=0/, describeRun(c));
    // the binary gcc wrote is an ARM EABI5 executable (the host's file(1) says so)
    const kind = await run('file', ['-b', join(tree, 'tmp/threads')]);
    t.regex(kind.stdout, /ELF 32-bit LSB .*ARM, EABI5/);
    const py = await runXbuild(tree, e, `python3 ${GUEST_PROGRAMS}/threads-mp.py`, 10 * 60_000);
    t.deepEqual(crashLines(py), [], describeRun(py));
    t.regex(py.stdout, /python-ok( [0-9a-f]{8}){4}/, describeRun(py));
    // the digests the guest computed are the host's (python3 on the host runs the same script)
    const host = await run('python3', [join(REPO_ROOT, 'test/fixtures/workloads/threads-mp.py')]);
    t.is(py.stdout.trim(), host.stdout.trim());
  } finally {
    await removeTree(tree);
  }
});
