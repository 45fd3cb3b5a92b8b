// A small slice of bench/pie-stress (issue 11 item 5): many short emulated
// processes under xbuild's non-PIE static emulator, none may crash; and the
// layout that keeps it safe under this kernel's brk randomisation: the host
// heap never lies inside the guest reservation, and QEMU keeps its guest
// mappings clear of the heap (patches/README.md, "PIE or not").
import test from 'ava';
import { removeTree } from './helpers/arm-root.ts';
import { assertNoArmBinfmt } from './helpers/binfmt.ts';
import { findEmulator } from './helpers/emulators.ts';
import { prepareGuest, type Guest } from './helpers/guest.ts';
import { hex, sampleLayout } from '../bench/pie-stress/layout.ts';
import { stress } from '../bench/pie-stress/stress.ts';
import { inspectElfFile } from '../src/elf/inspect.ts';
import { ET_EXEC } from '../src/elf/constants.ts';

const RUNS = 150;
let guest: Promise<Guest> | undefined;
const armhf = () => (guest ??= (async () => {
  await assertNoArmBinfmt();
  return prepareGuest('armhf', 'debian-dash', await findEmulator('arm'));
})());

test.after.always(async () => {
  if (guest) await removeTree((await guest).root);
});

test('the emulator under test is non-PIE (ET_EXEC), the build this stress run decides for', async (t) => {
  const elf = await inspectElfFile(await findEmulator('arm'));
  t.is(elf.type, ET_EXEC);
  t.is(elf.linkage, 'static');
});

for (const [label, prog] of [['static', '/opt/xb/exitsig-static exit 0'], ['dynamic', '/opt/xb/exitsig exit 0']] as const) {
  test(`armhf: ${RUNS} intercepted execs of a ${label} program from an emulated shell, no crash`, async (t) => {
    const g = await armhf();
    const r = await stress(g, g.emulator, prog, RUNS, 'guest-loop', 300_000);
    t.log(`${r.runs} runs, ${r.failures} failures, ${r.seconds.toFixed(1)} s`);
    t.is(r.failures, 0, r.samples.join('\n'));
  });
}

test('armhf: the host brk heap of a running emulator is outside the guest reservation (10 samples)', async (t) => {
  const g = await armhf();
  for (let i = 0; i < 10; i++) {
    const l = await sampleLayout(g.root, g.emulator, ['/bin/sleep', '5']);
    t.is(l.imageStart, 0x400000n, 'non-PIE: the emulator image sits at its link address');
    t.truthy(l.heapStart !== undefined && l.reservation, `heap ${hex(l.heapStart)}, reservation ${hex(l.reservation?.start)}`);
    const overlap = l.heapStart! < l.reservation!.end && l.heapEnd! > l.reservation!.start;
    t.false(overlap, `heap ${hex(l.heapStart)}-${hex(l.heapEnd)} inside reservation ${hex(l.reservation!.start)}-${hex(l.reservation!.end)}`);
  }
});
