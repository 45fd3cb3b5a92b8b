// verify for riscv64, ppc64le, s390x and mixed arm64 + armhf images (issue 12),
// on in-memory images of real Debian binaries (scripts/fixtures/debian-rootfs.sh)
// and the real xbuild layer: a truthful config passes, a config that lies about
// the architecture (machine, byte order, float ABI) fails with the finding that
// explains it. Also: the architecture tables agree everywhere they are written
// (TypeScript contract, the shim's -D table, patch 0010's C table).
import test from 'ava';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { verifyImage, type PlatformReport } from '../src/verify/verify.ts';
import { GUEST_ELF, qemuArchOfElf } from '../src/contract/in-image.ts';
import { EM_AARCH64, EM_ARM, EM_PPC64, EM_RISCV, EM_S390 } from '../src/elf/constants.ts';
import { emulationFor, parsePlatform, QEMU_ARCHES, type QemuArch } from '../src/oci/platform.ts';
import { expectedElfFor } from '../src/verify/expect.ts';
import { guestArchTable } from '../src/shims/build.ts';
import { parseExtraEmulators } from '../src/cli/wrap.ts';
import { memImage, tarOf, type TarSpec } from './helpers/mem-image.ts';
import { standInXbuildParts } from './helpers/verify-images.ts';
import { xbuildLayerEntries } from '../src/shims/layer.ts';
import { debianRootPath, REPO_ROOT, type DebArch } from './helpers/arm-root.ts';
import { ensureShim } from '../src/shims/build.ts';
import { cacheRoot } from '../src/cache-root.ts';

const ids = (r: PlatformReport, sev?: string) => r.findings.filter((f) => !sev || f.severity === sev).map((f) => f.id).sort();

/** A merged-/usr root with the tree's own dash, bash and busybox. */
async function root(arch: DebArch, extra: string[] = []): Promise<TarSpec[]> {
  const dir = await debianRootPath(arch, extra.length ? 'arm64-armhf' : 'debian-dash');
  const file = async (p: string): Promise<TarSpec> => ({ name: p, content: await readFile(join(dir, p)), mode: 0o755 });
  return [
    { name: 'bin', type: 'symlink', linkname: 'usr/bin' },
    { name: 'etc/', type: 'directory' },
    { name: 'etc/shells', content: '/bin/sh\n/usr/bin/sh\n/bin/dash\n/usr/bin/dash\n/bin/bash\n/usr/bin/bash\n' },
    { name: 'usr/', type: 'directory' },
    { name: 'usr/bin/', type: 'directory' },
    await file('usr/bin/bash'), await file('usr/bin/busybox'), await file('usr/bin/dash'),
    ...(await Promise.all(extra.map(file))),
    { name: 'usr/bin/sh', type: 'symlink', linkname: 'dash' },
  ];
}

/**
 * The xbuild layer as wrap builds it (xbuildLayerEntries), with the emulator files
 * being the stand-in of scripts/fixtures/elf-samples.sh (static x86_64 carrying the
 * xbuild note: all verify reads of an emulator) -- named so in each test title.
 */
async function layer(arch: QemuArch, extra: QemuArch[] = []): Promise<TarSpec[]> {
  const parts = await standInXbuildParts(arch);
  const extraEmulators: Partial<Record<QemuArch, string>> = {};
  for (const a of extra) extraEmulators[a] = parts.emulatorFrom;
  const entries = await xbuildLayerEntries({ arch, emulatorPath: parts.emulatorFrom, shimPath: await ensureShim({ cacheRoot: cacheRoot(process.env) }), extraEmulators });
  const out: TarSpec[] = [];
  for (const e of entries) {
    if (e.type === 'dir') out.push({ name: `${e.path}/`, type: 'directory', mode: e.mode });
    else {
      const chunks: Buffer[] = [];
      if (Buffer.isBuffer(e.content)) chunks.push(e.content);
      else if (e.content) for await (const c of await e.content()) chunks.push(Buffer.from(c as Buffer));
      out.push({ name: e.path, content: Buffer.concat(chunks), mode: e.mode });
    }
  }
  return out;
}

const CASES: Array<{ deb: DebArch; qemu: QemuArch; oci: string }> = [
  { deb: 'riscv64', qemu: 'riscv64', oci: 'riscv64' },
  { deb: 'ppc64el', qemu: 'ppc64le', oci: 'ppc64le' },
  { deb: 's390x', qemu: 's390x', oci: 's390x' },
];

for (const c of CASES) {
  test(`${c.oci}: a wrapped image of Debian ${c.deb} binaries passes (stand-in emulator file)`, async (t) => {
    const img = memImage(`test/${c.oci}`, { architecture: c.oci }, [{ tar: await tarOf(await root(c.deb)) }, { tar: await tarOf(await layer(c.qemu)) }]);
    const r = await verifyImage(img);
    t.deepEqual(ids(r, 'error'), [], JSON.stringify(r.findings, null, 1));
    t.deepEqual(ids(r, 'warning'), [], JSON.stringify(r.findings, null, 1));
    t.is(r.checked.emulator, `usr/bin/qemu-${c.qemu}-static`);
    t.true(r.checked.sampled.includes('usr/bin/dash'));
    t.true(r.passed);
  });
}

test('a config that lies about the architecture fails with the finding that says why (stand-in emulator file)', async (t) => {
  const s390x = await tarOf(await root('s390x'));
  const riscv = await tarOf(await root('riscv64'));
  // s390x binaries under a ppc64le config: machine mismatch (and the ppc64le emulator the config asks for)
  let r = await verifyImage(memImage('lie/ppc', { architecture: 'ppc64le' }, [{ tar: s390x }, { tar: await tarOf(await layer('ppc64le')) }]));
  t.true(ids(r, 'error').includes('platform-machine-mismatch'), JSON.stringify(r.findings));
  t.false(r.passed);
  t.regex(r.findings.find((f) => f.id === 'platform-machine-mismatch')!.message, /config says linux\/ppc64le \(ppc64 \(21\)\) but \d+ of \d+ sampled ELF files are s390 \(22\)/);
  // riscv64 binaries claimed as s390x
  r = await verifyImage(memImage('lie/s390x', { architecture: 's390x' }, [{ tar: riscv }, { tar: await tarOf(await layer('s390x')) }]));
  t.true(ids(r, 'error').includes('platform-machine-mismatch'));
  t.false(r.passed);
});

test('byte order and the riscv64 float ABI are checked from the ELF header, not assumed (stand-in emulator file)', async (t) => {
  // a big-endian ELF64 header with e_machine EM_PPC64 (ppc64, ELFv1 tradition) in an image that says
  // ppc64le: a hand-written 64-byte header (no real big-endian ppc64 binary is reachable here)
  const be = Buffer.alloc(64);
  be.set([0x7f, 0x45, 0x4c, 0x46, 2, 2, 1]);
  be.writeUInt16BE(2, 16); be.writeUInt16BE(EM_PPC64, 18); be.writeUInt32BE(1, 20); be.writeUInt32BE(1, 48); be.writeUInt16BE(64, 52);
  const img = memImage('be/ppc64le', { architecture: 'ppc64le' }, [{ tar: await tarOf([{ name: 'usr/', type: 'directory' }, { name: 'usr/bin/', type: 'directory' }, { name: 'usr/bin/odd', content: be, mode: 0o755 }]) }, { tar: await tarOf(await layer('ppc64le')) }]);
  let r = await verifyImage(img);
  t.true(ids(r, 'error').includes('platform-endianness-mismatch'), JSON.stringify(r.findings));
  t.regex(r.findings.find((f) => f.id === 'platform-endianness-mismatch')!.message, /little-endian\) but 1 of 1 sampled ppc64 \(21\) files are big-endian/);
  // riscv64 dash marked soft-float (lp64) in e_flags: not Debian's lp64d
  const rv = Buffer.from(await readFile(join(await debianRootPath('riscv64'), 'usr/bin/dash')));
  rv.writeUInt32LE(rv.readUInt32LE(48) & ~0x6, 48);
  r = await verifyImage(memImage('soft/riscv64', { architecture: 'riscv64' }, [{ tar: await tarOf([{ name: 'usr/', type: 'directory' }, { name: 'usr/bin/', type: 'directory' }, { name: 'usr/bin/soft', content: rv, mode: 0o755 }]) }, { tar: await tarOf(await layer('riscv64')) }]));
  t.true(ids(r, 'error').includes('platform-float-abi-mismatch'), JSON.stringify(r.findings));
  t.regex(r.findings.find((f) => f.id === 'platform-float-abi-mismatch')!.message, /soft-float ABI/);
});

test('a mixed arm64 image with qemu-arm-static beside qemu-aarch64-static passes, and the sibling emulator is checked too (stand-in emulator files)', async (t) => {
  const img = memImage('mixed/arm64', { architecture: 'arm64' }, [
    { tar: await tarOf(await root('arm64', ['usr/bin/busybox-armhf'])) }, { tar: await tarOf(await layer('aarch64', ['arm'])) }]);
  const r = await verifyImage(img);
  t.deepEqual(ids(r, 'error'), [], JSON.stringify(r.findings));
  t.deepEqual(r.checked.extraEmulators, ['usr/bin/qemu-arm-static']);
  t.true(ids(r, 'info').includes('platform-sibling-files'));
  // without the sibling emulator the armhf program is a mismatch: nothing in the image can run it
  const lone = await verifyImage(memImage('mixed/lone', { architecture: 'arm64' }, [
    { tar: await tarOf(await root('arm64', ['usr/bin/busybox-armhf'])) }, { tar: await tarOf(await layer('aarch64')) }]));
  t.true(ids(lone, 'error').includes('platform-machine-mismatch'), JSON.stringify(lone.findings));
  // a stock (unmarked) file in its place is refused like a wrong emulator
  const bad = memImage('mixed/bad', { architecture: 'arm64' }, [
    { tar: await tarOf(await root('arm64', ['usr/bin/busybox-armhf'])) }, { tar: await tarOf(await layer('aarch64')) },
    { tar: await tarOf([{ name: 'usr/bin/qemu-arm-static', content: await readFile(join(await debianRootPath('arm64', 'arm64-armhf'), 'usr/bin/busybox-armhf')), mode: 0o755 }]) }]);
  const rb = await verifyImage(bad);
  t.true(ids(rb, 'error').includes('emulator-not-host-native'), JSON.stringify(rb.findings));
});

test('one architecture table: platforms, the contract, verify, the shim\'s -D table and patch 0010 agree', async (t) => {
  const oci: Record<QemuArch, string> = { arm: 'arm', aarch64: 'arm64', riscv64: 'riscv64', ppc64le: 'ppc64le', s390x: 's390x' };
  t.deepEqual(Object.keys(GUEST_ELF).sort(), [...QEMU_ARCHES].sort());
  for (const a of QEMU_ARCHES) {
    t.deepEqual(emulationFor(parsePlatform(`linux/${oci[a]}`)), { kind: 'emulated', qemuArch: a }, a);
    const exp = expectedElfFor(oci[a])!;
    t.deepEqual({ machine: exp.machine, class: exp.class, endianness: exp.endianness }, { machine: GUEST_ELF[a].machine, class: GUEST_ELF[a].class, endianness: GUEST_ELF[a].endianness }, a);
    t.is(qemuArchOfElf(GUEST_ELF[a]), a);
  }
  t.is(GUEST_ELF.s390x.endianness, 'big');
  // the shim's table, as compiled in
  const shim = [...guestArchTable().matchAll(/\{(\d),(\d),(\d+),"([a-z0-9]+)"\}/g)].map((m) => ({ cls: Number(m[1]), data: Number(m[2]), machine: Number(m[3]), name: m[4] }));
  t.deepEqual(shim.map((s) => s.name), [...QEMU_ARCHES]);
  for (const s of shim) {
    const g = GUEST_ELF[s.name as QemuArch];
    t.deepEqual([s.cls, s.data, s.machine], [g.class === 32 ? 1 : 2, g.endianness === 'little' ? 1 : 2, g.machine], s.name);
  }
  // patch 0010's sibling table
  const patch = await readFile(join(REPO_ROOT, 'patches/0010-linux-user-sibling-emulators.patch'), 'utf8');
  const EM: Record<string, number> = { EM_ARM, EM_AARCH64, EM_RISCV, EM_PPC64, EM_S390 };
  const rows = [...patch.matchAll(/^\+ {4}\{ ELFCLASS(32|64), ELFDATA2(LSB|MSB), (EM_\w+), "([a-z0-9]+)" \},$/gm)]
    .map((m) => ({ name: m[4] as QemuArch, class: Number(m[1]), endianness: m[2] === 'LSB' ? 'little' : 'big', machine: EM[m[3]!] }));
  t.deepEqual(rows.map((r) => r.name).sort(), [...QEMU_ARCHES].sort());
  for (const r of rows) t.deepEqual({ class: r.class, endianness: r.endianness, machine: r.machine }, GUEST_ELF[r.name], r.name);
});

test('--extra-emulators takes QEMU target names only', (t) => {
  t.deepEqual(parseExtraEmulators('arm'), ['arm']);
  t.deepEqual(parseExtraEmulators('arm, riscv64,arm'), ['arm', 'riscv64']);
  t.throws(() => parseExtraEmulators('armhf'), { message: /--extra-emulators: unknown emulator 'armhf'/ });
  t.throws(() => parseExtraEmulators(','), { message: /empty list/ });
  for (const p of ['linux/386', 'linux/amd64']) t.is(emulationFor(parsePlatform(p)).kind, 'native', p);
});
