// The "no ARM binfmt_misc handler" precondition of every without-binfmt test
// must be able to fail: when binfmt_misc is not mounted (as in most
// containers, where the host's handlers still apply) or not readable, it proves
// the point by a direct execve instead of reporting "no handlers".
import test from 'ava';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assertNoArmBinfmt, proveHostCannotExecArm, readArmBinfmt } from './helpers/binfmt.ts';

async function tmp(t: { teardown(fn: () => Promise<void>): void }): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'xbuild-binfmt-'));
  t.teardown(() => rm(d, { recursive: true, force: true }));
  return d;
}

test('an unmounted binfmt_misc (empty mount point) is "unknown", and the precondition runs the execve proof', async (t) => {
  const d = await tmp(t);
  t.like(await readArmBinfmt(d), { kind: 'unknown' });
  let proofs = 0;
  await assertNoArmBinfmt({ dir: d, proveByExec: async () => { proofs++; } });
  t.is(proofs, 1, 'the proof by execve ran');
  const e = await t.throwsAsync(assertNoArmBinfmt({ dir: d, proveByExec: async () => { throw new Error('the ARM program ran'); } }));
  t.regex(e!.message, /not mounted.*the ARM program ran/);
});

test('a missing or unreadable binfmt_misc is "unknown" too', async (t) => {
  const d = await tmp(t);
  t.like(await readArmBinfmt(join(d, 'nonexistent')), { kind: 'unknown' });
  await mkdir(join(d, 'fs'));
  await writeFile(join(d, 'fs', 'status'), 'enabled\n');
  await writeFile(join(d, 'fs', 'register'), '');
  await mkdir(join(d, 'fs', 'qemu-arm')); // reading it fails (EISDIR), as an unreadable handler would
  t.like(await readArmBinfmt(join(d, 'fs')), { kind: 'unknown' });
});

test('a mounted, readable binfmt_misc is read: an ARM handler fails the precondition without any experiment', async (t) => {
  const d = await tmp(t);
  await writeFile(join(d, 'status'), 'enabled\n');
  await writeFile(join(d, 'register'), '');
  await chmod(join(d, 'register'), 0o200);
  await writeFile(join(d, 'python3.11'), 'enabled\ninterpreter /usr/bin/python3.11\nflags: \noffset 0\nmagic a70d0d0a\n');
  const never = async () => { throw new Error('no experiment expected'); };
  t.deepEqual(await readArmBinfmt(d), { kind: 'listed', armHandlers: [] });
  await assertNoArmBinfmt({ dir: d, proveByExec: never });
  await writeFile(join(d, 'qemu-arm'), 'enabled\ninterpreter /usr/libexec/qemu-binfmt/arm-binfmt-P\nflags: PF\noffset 0\nmagic 7f454c4601010100000000000000000002002800\nmask ffffffffffffff00fffffffffffffffffeffffff\n');
  const e = await t.throwsAsync(assertNoArmBinfmt({ dir: d, proveByExec: never }));
  t.regex(e!.message, /ARM handlers registered \(qemu-arm\)/);
});

test('on this host the precondition holds: the kernel refuses static armhf and arm64 programs (ENOEXEC)', async (t) => {
  await proveHostCannotExecArm();
  await assertNoArmBinfmt();
  t.pass();
});
