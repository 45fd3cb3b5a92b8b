// The ELF inspector on real binaries from Debian packages (fixture script:
// scripts/fixtures/elf-samples.sh) and on the sparse capture verify uses.
import test from 'ava';
import { readFile } from 'node:fs/promises';
import { inspectElf, inspectElfFile, findNote, tryInspectElf } from '../src/elf/inspect.ts';
import { ElfCapture } from '../src/elf/bytes.ts';
import { readSectionTable } from '../src/elf/elfy-adapter.ts';
import { EM_AARCH64, EM_ARM, EM_X86_64, ET_DYN, ET_EXEC } from '../src/elf/constants.ts';
import { NT_XBUILD_EXECVE, NT_XBUILD_SHIM, XBUILD_NOTE_NAME } from '../src/contract/in-image.ts';
import { XbuildError } from '../src/errors.ts';
import { elfSample } from './helpers/elf-samples.ts';

test('Debian qemu-user-static qemu-arm-static: x86_64, ET_DYN, static-pie, no interpreter, no DT_NEEDED', async (t) => {
  const e = await inspectElfFile(await elfSample('amd64/qemu-arm-static'));
  t.is(e.class, 64);
  t.is(e.endianness, 'little');
  t.is(e.machine, EM_X86_64);
  t.is(e.type, ET_DYN);
  t.true(e.hasDynamic);
  t.is(e.interpreter, undefined);
  t.deepEqual(e.needed, []);
  t.is(e.linkage, 'static-pie');
  t.is(e.arm, undefined);
  t.truthy(findNote(e, 'GNU', 3), 'build-id note read from PT_NOTE');
  t.is(findNote(e, XBUILD_NOTE_NAME, NT_XBUILD_EXECVE), undefined, 'Debian emulator has no xbuild note');
});

test('Debian qemu-user qemu-arm: dynamic, interpreter and DT_NEEDED names through PT_DYNAMIC/PT_LOAD', async (t) => {
  const e = await inspectElfFile(await elfSample('amd64/qemu-arm'));
  t.is(e.machine, EM_X86_64);
  t.is(e.linkage, 'dynamic');
  t.is(e.interpreter, '/lib64/ld-linux-x86-64.so.2');
  t.true(e.needed.includes('libc.so.6'));
  t.true(e.needed.includes('libglib-2.0.so.0'));
  t.deepEqual(e.incomplete, []);
});

const armCases = [
  { arch: 'armhf', machine: EM_ARM, cls: 32, float: 'hard', cpu: 'v7', dashInterp: '/lib/ld-linux-armhf.so.3' },
  { arch: 'armel', machine: EM_ARM, cls: 32, float: 'soft', cpu: 'v5TE', dashInterp: '/lib/ld-linux.so.3' },
  { arch: 'arm64', machine: EM_AARCH64, cls: 64, float: undefined, cpu: undefined, dashInterp: '/lib/ld-linux-aarch64.so.1' },
] as const;

for (const c of armCases) {
  test(`Debian busybox-static ${c.arch}: static ET_EXEC, machine ${c.machine}${c.float ? `, ${c.float}-float, ${c.cpu}` : ''}`, async (t) => {
    const e = await inspectElfFile(await elfSample(`${c.arch}/busybox`));
    t.is(e.machine, c.machine);
    t.is(e.class, c.cls);
    t.is(e.type, ET_EXEC);
    t.false(e.hasDynamic);
    t.is(e.linkage, 'static');
    if (c.float) {
      t.is(e.arm?.eabiVersion, 5);
      t.is(e.arm?.floatAbi, c.float);
      t.is(e.arm?.attributes?.cpuArchName, c.cpu);
    } else {
      t.is(e.arm, undefined);
    }
  });

  test(`Debian dash ${c.arch}: dynamic PIE with ${c.dashInterp}`, async (t) => {
    const e = await inspectElfFile(await elfSample(`${c.arch}/dash`));
    t.is(e.machine, c.machine);
    t.is(e.type, ET_DYN);
    t.is(e.linkage, 'dynamic');
    t.is(e.interpreter, c.dashInterp);
    t.true(e.needed.includes('libc.so.6'));
    if (c.float) t.is(e.arm?.floatAbi, c.float);
  });
}

test('a stripped file without section headers: program headers still give machine, linkage, float ABI and notes', async (t) => {
  const path = await elfSample('stripped/busybox-armhf-noshdr');
  const e = await inspectElfFile(path);
  t.is(e.sectionCount, 0);
  t.is(e.machine, EM_ARM);
  t.is(e.linkage, 'static');
  t.is(e.arm?.floatAbi, 'hard');
  t.is(e.arm?.attributes, undefined, 'no .ARM.attributes without sections');
  t.truthy(findNote(e, 'GNU', 3));
  // elfy itself cannot read this file: the adapter reports the table as unavailable instead of throwing
  const table = readSectionTable(await readFile(path), { class: 1, le: true, shoff: 0, shentsize: 40, shnum: 0, shstrndx: 0 });
  t.false(table.available);
});

test('the elfy adapter reads ELF64 section names, offsets and sizes that match the file', async (t) => {
  const buf = await readFile(await elfSample('arm64/busybox'));
  const shoff = Number(buf.readBigUInt64LE(40));
  const table = readSectionTable(buf, { class: 2, le: true, shoff, shentsize: buf.readUInt16LE(58), shnum: buf.readUInt16LE(60), shstrndx: buf.readUInt16LE(62) });
  if (!table.available) return t.fail(table.reason);
  const note = table.sections.find((s) => s.name === '.note.gnu.build-id');
  t.truthy(note);
  t.is(note!.type, 7);
  // the build-id note's bytes at the reported offset: namesz 4, descsz 20, type 3, "GNU\0"
  t.is(buf.readUInt32LE(note!.offset), 4);
  t.is(buf.readUInt32LE(note!.offset + 4), 20);
  t.is(buf.toString('latin1', note!.offset + 12, note!.offset + 15), 'GNU');
});

test('xbuild notes: type 1 (emulator) and type 2 (shim) are read from PT_NOTE with their description', async (t) => {
  const em = await inspectElfFile(await elfSample('synthetic/x86_64-xbuild-note1'));
  const n1 = findNote(em, XBUILD_NOTE_NAME, NT_XBUILD_EXECVE);
  t.truthy(n1);
  t.regex(n1!.desc.toString('latin1'), /^execve-intercept series=/);
  t.is(findNote(em, XBUILD_NOTE_NAME, NT_XBUILD_SHIM), undefined);
  const shim = await inspectElfFile(await elfSample('synthetic/x86_64-xbuild-note2'));
  t.truthy(findNote(shim, XBUILD_NOTE_NAME, NT_XBUILD_SHIM));
  t.is(shim.linkage, 'static');
});

test('sparse streaming capture of a large static-pie emulator gives the same answers as the whole file', async (t) => {
  const buf = await readFile(await elfSample('amd64/qemu-aarch64-static'));
  const cap = new ElfCapture(buf.length, { wholeFileMax: 1 << 20, headBytes: 64 << 10, segmentMax: 64 << 10 });
  for (let o = 0; o < buf.length; o += 65_536 - 17) cap.push(buf.subarray(o, Math.min(buf.length, o + 65_536 - 17)));
  const sparse = inspectElf(cap.bytes());
  const whole = inspectElf(buf);
  t.is(sparse.linkage, whole.linkage);
  t.is(sparse.machine, whole.machine);
  t.deepEqual(sparse.notes, whole.notes);
  t.true(cap.digest().startsWith('sha256:'));
});

test('sparse capture of a large dynamic binary still finds it dynamic (PT_INTERP, DT_NEEDED count)', async (t) => {
  const buf = await readFile(await elfSample('amd64/qemu-arm'));
  const cap = new ElfCapture(buf.length, { wholeFileMax: 1 << 20, headBytes: 4096, segmentMax: 64 << 10 });
  for (let o = 0; o < buf.length; o += 100_000) cap.push(buf.subarray(o, o + 100_000));
  const e = inspectElf(cap.bytes());
  t.is(e.linkage, 'dynamic');
  t.is(e.interpreter, '/lib64/ld-linux-x86-64.so.2');
  t.true(e.needed.length >= 5);
});

test('non-ELF and truncated input give XbuildError INVALID_ELF', async (t) => {
  const buf = await readFile(await elfSample('armhf/dash'));
  for (const bad of [Buffer.alloc(0), Buffer.from('#!/bin/sh\necho hi\n'), buf.subarray(0, 40), buf.subarray(0, 200)]) {
    const err = t.throws(() => inspectElf(bad), { instanceOf: XbuildError });
    t.is(err?.code, 'INVALID_ELF');
  }
  const r = tryInspectElf(Buffer.from('nope'));
  t.true('error' in r);
});
