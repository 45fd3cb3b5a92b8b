// The emulator's levers other than the translation cache (patches/0020:
// -lean-htable, 0040: -huge-heap, 0050: -vfork-wait): the option and its QEMU_* twin, what children started by an intercepted execve() inherit
// (seen on the host: the child emulator's own command line), bad values, and
// the same guest results with the lever on and off. The whole behaviour suite
// runs with the levers on under XBUILD_TEST_LEVERS=on (test/helpers/guest.ts).
import test from 'ava';
import { spawn } from 'node:child_process';
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { EMULATOR_LEVERS } from '../src/contract/in-image.ts';
import { removeTree, testProgramsPath } from './helpers/arm-root.ts';
import { assertNoArmBinfmt } from './helpers/binfmt.ts';
import { findEmulator } from './helpers/emulators.ts';
import { GUEST_PATH, prepareGuest, runGuest, runHost, type Guest } from './helpers/guest.ts';

let g: Guest;
const LEAN = EMULATOR_LEVERS.find((l) => l.flag === '-lean-htable')!;
const HUGE = EMULATOR_LEVERS.find((l) => l.flag === '-huge-heap')!;
const VFORK = EMULATOR_LEVERS.find((l) => l.flag === '-vfork-wait')!;

test.before(async () => {
  await assertNoArmBinfmt();
  g = await prepareGuest('armhf', 'debian-dash', await findEmulator('arm'));
});
test.after.always(async () => { if (g) await removeTree(g.root); });

/** Pids and host command lines (NUL-separated args joined by spaces) of every descendant of `pid`. */
async function descendants(pid: number): Promise<{ pid: number; cmdline: string }[]> {
  const out: { pid: number; cmdline: string }[] = [];
  const walk = async (p: number) => {
    for (const task of await readdir(`/proc/${p}/task`).catch(() => [] as string[])) {
      const kids = (await readFile(`/proc/${p}/task/${task}/children`, 'utf8').catch(() => '')).trim().split(/\s+/).filter(Boolean).map(Number);
      for (const k of kids) {
        out.push({ pid: k, cmdline: (await readFile(`/proc/${k}/cmdline`, 'latin1').catch(() => '')).split('\0').join(' ').trim() });
        await walk(k);
      }
    }
  };
  await walk(pid);
  return out;
}

/**
 * Starts `emulator ARGS /bin/sh -c '/bin/sleep 3'` with `env`; returns what `look` finds in the
 * emulator running sleep (its pid and host command line), or undefined when none ran.
 */
async function whileSleeping<T>(args: string[], env: Record<string, string>, look: (pid: number, cmdline: string) => Promise<T>): Promise<T | undefined> {
  const child = spawn('chroot', [g.root, g.emulator, ...args, '/bin/sh', '-c', '/bin/sleep 3; true'], { env: { PATH: GUEST_PATH, ...env }, stdio: 'ignore' });
  try {
    for (let i = 0; i < 100; i++) {
      await new Promise((r) => setTimeout(r, 50));
      const found = (await descendants(child.pid!)).find((c) => c.cmdline.includes('-execve-fd') && c.cmdline.includes('/bin/sleep'));
      if (found && await guestLoaded(found.pid)) return await look(found.pid, found.cmdline);
    }
    return undefined;
  } finally {
    child.kill('SIGKILL');
  }
}

/** Whether emulator `pid` has mapped its guest program (so its start-up, options and heap included, is done); waits up to 5 s. */
async function guestLoaded(pid: number): Promise<boolean> {
  for (let i = 0; i < 100; i++) {
    if ((await readFile(`/proc/${pid}/maps`, 'utf8').catch(() => '')).includes('bin/sleep')) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

/** The host command line of the child emulator running /bin/sleep. */
async function sleepingChild(args: string[], env: Record<string, string> = {}): Promise<string> {
  return (await whileSleeping(args, env, async (_pid, cmdline) => cmdline)) ?? '(no child emulator running /bin/sleep found)';
}

/** The child's command line carries `flag value` (then the program). */
const passes = (flag: string, value: string) => new RegExp(` ${flag} ${value} .*-- \\/bin\\/sleep 3$`);

for (const lever of [LEAN, HUGE, VFORK]) {
  test(`${lever.flag} on given on the command line reaches the child emulator of an intercepted exec`, async (t) => {
    t.regex(await sleepingChild(['-execve', lever.flag, 'on']), passes(lever.flag, 'on'));
  });

  test(`${lever.env}=off in the environment reaches the child as ${lever.flag} off; the command line wins over it`, async (t) => {
    t.regex(await sleepingChild(['-execve'], { [lever.env]: 'off' }), passes(lever.flag, 'off'));
    t.regex(await sleepingChild(['-execve', lever.flag, '1'], { [lever.env]: 'off' }), passes(lever.flag, '1'));
    t.regex(await sleepingChild(['-execve', lever.flag, '0'], { [lever.env]: 'on' }), passes(lever.flag, '0'));
    const none = await sleepingChild(['-execve']);
    t.true(none.includes('-execve-fd') && !none.includes(lever.flag.slice(1)), none);
  });

  test(`${lever.flag}: a value other than on, off, 1 or 0 is refused in one line, from the option and from the variable`, async (t) => {
    let r = await runGuest(g, [lever.flag, 'yes', '/bin/true'], { mounts: false });
    t.is(r.code, 1);
    t.is(r.stderr, `qemu: ${lever.flag}: 'yes' is not on, off, 1 or 0\n`);
    r = await runGuest(g, ['/bin/true'], { mounts: false, env: { [lever.env]: '' } });
    t.is(r.code, 1);
    t.is(r.stderr, `qemu: ${lever.flag}: '' is not on, off, 1 or 0\n`);
  });

  test(`the same guest results with ${lever.flag} on and off (a hash table that must grow: many programs and code paths)`, async (t) => {
    const script = 'for p in /bin/* /usr/bin/*; do [ -x "$p" ] && echo "${p##*/}"; done | sort | md5sum; ls -lR /etc /usr/share 2>&1 | wc -l; expr 6 \\* 7; sh -c "exit 3"; echo $?';
    const off = await runGuest(g, [lever.flag, 'off', '/bin/sh', '-c', script], { mounts: false });
    const on = await runGuest(g, [lever.flag, 'on', '/bin/sh', '-c', script], { mounts: false });
    t.is(off.code, 0, off.stderr);
    t.regex(off.stdout, /\n42\n3\n$/);
    t.is(on.code, off.code);
    t.is(on.stdout, off.stdout);
    t.is(on.stderr, off.stderr);
  });
}

/** The [heap] mappings of process `pid` (/proc/PID/smaps): start address, whether advised for huge pages (VmFlags "hg"), resident KiB. */
async function heapMappings(pid: number): Promise<{ start: bigint; hugeAdvised: boolean; rssKiB: number }[]> {
  const smaps = await readFile(`/proc/${pid}/smaps`, 'utf8');
  return smaps.split(/\n(?=[0-9a-f]+-[0-9a-f]+ )/).filter((m) => /^\S+ \S+ \S+ \S+ \S+\s+\[heap\]/.test(m))
    .map((m) => ({
      start: BigInt('0x' + m.slice(0, m.indexOf('-'))),
      hugeAdvised: / hg( |$)/m.test(/^VmFlags:(.*)$/m.exec(m)?.[1] ?? ''),
      rssKiB: Number(/^Rss:\s+(\d+) kB$/m.exec(m)?.[1] ?? NaN),
    }));
}

/** Starts `emulator ARGS /bin/sleep 3` with `env` (no -execve: the emulator itself runs sleep); returns what `look` finds in it once the guest is loaded. */
async function whileEmulatorSleeps<T>(args: string[], env: Record<string, string>, look: (pid: number) => Promise<T>): Promise<T | undefined> {
  const child = spawn('chroot', [g.root, g.emulator, ...args, '/bin/sleep', '3'], { env: { PATH: GUEST_PATH, ...env }, stdio: 'ignore' });
  try {
    return await guestLoaded(child.pid!) ? await look(child.pid!) : undefined;
  } finally {
    child.kill('SIGKILL');
  }
}
const TWO_MIB = 2n * 1024n * 1024n;

// The guest root has no /sys, so the emulator cannot read the host's setting and goes ahead;
// the second test gives the root a setting that says "never".
const THP_SETTING = 'sys/kernel/mm/transparent_hugepage/enabled';
const hex = (v: unknown) => JSON.stringify(v, (_k, x) => typeof x === 'bigint' ? x.toString(16) : x);

test.serial('-huge-heap on: the emulator\'s heap continues from a 2 MiB boundary advised for huge pages; off: no part of it is', async (t) => {
  const on = await whileSleeping(['-execve', HUGE.flag, 'on'], {}, heapMappings);
  const off = await whileSleeping(['-execve', HUGE.flag, 'off'], {}, heapMappings);
  t.truthy(on?.length, 'no heap seen with the lever on');
  t.truthy(off?.length, 'no heap seen with the lever off');
  t.false(off!.some((m) => m.hugeAdvised), hex(off));
  const advised = on!.filter((m) => m.hugeAdvised);
  t.is(advised.length, 1, hex(on));
  t.is(advised[0]!.start % TWO_MIB, 0n);
});

// patches/0040 reads -huge-heap before anything in the emulator allocates (a constructor
// that runs before QEMU's own), the way parse_args() reads it later: the twin first, then the
// options before the program, skipping each option's argument. What was written to the heap
// before that point stays outside the advised part: with the lever on, only glibc's static TLS
// block (a few KiB) is there; with it off, glibc's first heap and QEMU's start-up blocks are.
const EARLY_CASES: { args: string[]; env: Record<string, string>; advised: boolean }[] = [
  { args: [HUGE.flag, 'on'], env: {}, advised: true },
  { args: [], env: { [HUGE.env]: 'on' }, advised: true },
  { args: [HUGE.flag, 'off'], env: { [HUGE.env]: 'on' }, advised: false },
  { args: [`-${HUGE.flag}`, '1'], env: { [HUGE.env]: '0' }, advised: true },
  { args: ['-E', 'X=1', HUGE.flag, 'on'], env: {}, advised: true },
  { args: [HUGE.flag, 'on', '-E', 'X=1', HUGE.flag, 'off'], env: {}, advised: false },
  { args: [], env: {}, advised: false },
];
test.serial('-huge-heap is read as parse_args() reads it, before anything allocates: the heap below the advised part holds only a few KiB', async (t) => {
  for (const c of EARLY_CASES) {
    const what = `${c.args.join(' ')} ${hex(c.env)}`;
    const heap = await whileEmulatorSleeps(c.args, c.env, heapMappings);
    if (!heap?.length) { t.fail(`${what}: no heap seen`); continue; }
    const advised = heap.filter((m) => m.hugeAdvised);
    const rest = heap.filter((m) => !m.hugeAdvised).reduce((n, m) => n + m.rssKiB, 0);
    t.log(`${what}: ${advised.length} advised, ${rest} KiB resident outside`);
    t.is(advised.length, c.advised ? 1 : 0, `${what}: ${hex(heap)}`);
    if (c.advised) t.true(rest <= 16, `${what}: ${rest} KiB written before the advised heap: ${hex(heap)}`);
    else t.true(rest >= 64, `${what}: only ${rest} KiB of heap without the lever: ${hex(heap)}`);
  }
});

test.serial('-huge-heap on does nothing where transparent huge pages are "never"', async (t) => {
  await mkdir(join(g.root, dirname(THP_SETTING)), { recursive: true });
  await writeFile(join(g.root, THP_SETTING), 'always madvise [never]\n');
  try {
    const on = await whileSleeping(['-execve', HUGE.flag, 'on'], {}, heapMappings);
    t.truthy(on?.length, 'no heap seen');
    t.false(on!.some((m) => m.hugeAdvised), hex(on));
  } finally {
    await rm(join(g.root, 'sys/kernel'), { recursive: true, force: true });
  }
});

// patches/0050: the kernel holds the parent of a vfork() until its child execs or exits (not
// a grandchild's exit); upstream QEMU emulates vfork() with a fork() that lets the parent run
// on. test/fixtures/c/vforkwait.c prints, for a child that exits after 0.3 s, one that execs,
// one whose exec fails before it sleeps and exits, and one that starts a grandchild and exits,
// whether the parent waited; the host kernel's answer (the host-native build) is the reference.
test('-vfork-wait on: a vfork() parent runs again when its child execs or exits, as the host kernel does; off: at once', async (t) => {
  const kernel = await runHost([join(await testProgramsPath('amd64'), 'vforkwait-static')]);
  t.is(kernel.stdout, "exit: waited 0.3 s (status 3)\nexec: resumed at the exec (status 9)\nfailed exec: waited 0.3 s (status 5)\nfork: resumed at the child's exit (status 8)\n", kernel.stderr);
  const on = await runGuest(g, [VFORK.flag, 'on', '/opt/xb/vforkwait-static']);
  t.is(on.stdout, kernel.stdout, on.stderr);
  const off = await runGuest(g, [VFORK.flag, 'off', '/opt/xb/vforkwait-static']);
  t.is(off.stdout, kernel.stdout.replaceAll('waited 0.3 s', 'ran on while the child slept'), off.stderr);
});
