// The emulator's start-up levers (patches/0020: -lean-htable): the option and
// its QEMU_* twin, what children started by an intercepted execve() inherit
// (seen on the host: the child emulator's own command line), bad values, and
// the same guest results with the lever on and off. The whole behaviour suite
// runs with the levers on under XBUILD_TEST_LEVERS=on (test/helpers/guest.ts).
import test from 'ava';
import { spawn } from 'node:child_process';
import { readFile, readdir } from 'node:fs/promises';
import { EMULATOR_LEVERS } from '../src/contract/in-image.ts';
import { removeTree } from './helpers/arm-root.ts';
import { assertNoArmBinfmt } from './helpers/binfmt.ts';
import { findEmulator } from './helpers/emulators.ts';
import { GUEST_PATH, prepareGuest, runGuest, type Guest } from './helpers/guest.ts';

let g: Guest;
const LEAN = EMULATOR_LEVERS.find((l) => l.flag === '-lean-htable')!;

test.before(async () => {
  await assertNoArmBinfmt();
  g = await prepareGuest('armhf', 'debian-dash', await findEmulator('arm'));
});
test.after.always(async () => { if (g) await removeTree(g.root); });

/** Host command lines (NUL-separated args joined by spaces) of every descendant of `pid`. */
async function descendants(pid: number): Promise<string[]> {
  const out: string[] = [];
  const walk = async (p: number) => {
    for (const task of await readdir(`/proc/${p}/task`).catch(() => [] as string[])) {
      const kids = (await readFile(`/proc/${p}/task/${task}/children`, 'utf8').catch(() => '')).trim().split(/\s+/).filter(Boolean).map(Number);
      for (const k of kids) {
        out.push((await readFile(`/proc/${k}/cmdline`, 'latin1').catch(() => '')).split('\0').join(' ').trim());
        await walk(k);
      }
    }
  };
  await walk(pid);
  return out;
}

/** Starts `emulator ARGS /bin/sh -c '/bin/sleep 3'` with `env`; returns the command line of the emulator running sleep. */
async function sleepingChild(args: string[], env: Record<string, string> = {}): Promise<string> {
  const child = spawn('chroot', [g.root, g.emulator, ...args, '/bin/sh', '-c', '/bin/sleep 3; true'], { env: { PATH: GUEST_PATH, ...env }, stdio: 'ignore' });
  try {
    for (let i = 0; i < 100; i++) {
      await new Promise((r) => setTimeout(r, 50));
      const found = (await descendants(child.pid!)).find((c) => c.includes('-execve-fd') && c.includes('/bin/sleep'));
      if (found) return found;
    }
    return '(no child emulator running /bin/sleep found)';
  } finally {
    child.kill('SIGKILL');
  }
}

test('-lean-htable on given on the command line reaches the child emulator of an intercepted exec', async (t) => {
  t.regex(await sleepingChild(['-execve', LEAN.flag, 'on']), / -lean-htable on .*-- \/bin\/sleep 3$/);
});

test('QEMU_LEAN_HTABLE=off in the environment reaches the child as -lean-htable off; the command line wins over it', async (t) => {
  t.regex(await sleepingChild(['-execve'], { [LEAN.env]: 'off' }), / -lean-htable off .*-- \/bin\/sleep 3$/);
  t.regex(await sleepingChild(['-execve', LEAN.flag, '1'], { [LEAN.env]: 'off' }), / -lean-htable 1 .*-- \/bin\/sleep 3$/);
  const none = await sleepingChild(['-execve']);
  t.true(none.includes('-execve-fd') && !none.includes('lean-htable'), none);
});

test('a value other than on, off, 1 or 0 is refused in one line, from the option and from the variable', async (t) => {
  let r = await runGuest(g, [LEAN.flag, 'yes', '/bin/true'], { mounts: false });
  t.is(r.code, 1);
  t.is(r.stderr, "qemu: -lean-htable: 'yes' is not on, off, 1 or 0\n");
  r = await runGuest(g, ['/bin/true'], { mounts: false, env: { [LEAN.env]: '' } });
  t.is(r.code, 1);
  t.is(r.stderr, "qemu: -lean-htable: '' is not on, off, 1 or 0\n");
});

test('the same guest results with the lever on and off (a table that must grow: many programs and code paths)', async (t) => {
  const script = 'for p in /bin/* /usr/bin/*; do [ -x "$p" ] && echo "${p##*/}"; done | sort | md5sum; ls -lR /etc /usr/share 2>&1 | wc -l; expr 6 \\* 7; sh -c "exit 3"; echo $?';
  const off = await runGuest(g, [LEAN.flag, 'off', '/bin/sh', '-c', script], { mounts: false });
  const on = await runGuest(g, [LEAN.flag, 'on', '/bin/sh', '-c', script], { mounts: false });
  t.is(off.code, 0, off.stderr);
  t.regex(off.stdout, /\n42\n3\n$/);
  t.is(on.code, off.code);
  t.is(on.stdout, off.stdout);
  t.is(on.stderr, off.stderr);
});
