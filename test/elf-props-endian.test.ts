// The ELF inspector is endian-clean (issue 12): the same ELF written little- and
// big-endian reads back to the same facts (property over generated headers,
// program headers, notes and dynamic sections), real big-endian Debian s390x
// files and little-endian ppc64el/riscv64 files read as readelf reads them, and
// truncations/corruptions of the big-endian files are a result or INVALID_ELF.
import test from 'ava';
import fc from 'fast-check';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { inspectElf } from '../src/elf/inspect.ts';
import { ElfCapture } from '../src/elf/bytes.ts';
import { XbuildError } from '../src/errors.ts';
import { debianRootPath, type DebArch } from './helpers/arm-root.ts';

const run = promisify(execFile);

interface Spec {
  is64: boolean; type: number; machine: number; flags: number; entry: number;
  interp?: string; needed: string[]; note?: { name: string; type: number; desc: number[] }; pie: boolean;
}

/** Writes `spec` as an ELF file in the given byte order: header, PT_LOAD, [PT_INTERP], [PT_NOTE], [PT_DYNAMIC], data. */
function writeElf(spec: Spec, big: boolean): Buffer {
  const w = (n: number) => (spec.is64 ? 8 : 4);
  const ehsize = spec.is64 ? 64 : 52;
  const phent = spec.is64 ? 56 : 32;
  const strtab = Buffer.from(`\0${spec.needed.map((n) => `${n}\0`).join('')}`, 'latin1');
  const interp = spec.interp !== undefined ? Buffer.from(`${spec.interp}\0`, 'latin1') : undefined;
  let note: Buffer | undefined;
  if (spec.note) {
    const name = Buffer.from(`${spec.note.name}\0`, 'latin1');
    const pad = (b: Buffer) => Buffer.concat([b, Buffer.alloc((4 - (b.length % 4)) % 4)]);
    const hdr = Buffer.alloc(12);
    u32(hdr, 0, name.length, big); u32(hdr, 4, spec.note.desc.length, big); u32(hdr, 8, spec.note.type, big);
    note = Buffer.concat([hdr, pad(name), pad(Buffer.from(spec.note.desc))]);
  }
  const dynEntries: Array<[number, number]> = [];
  let off = 0;
  for (const n of spec.needed) { dynEntries.push([1, 1 + off]); off += n.length + 1; }
  const hasDyn = spec.needed.length > 0 || spec.pie;
  const phs: Array<{ type: number; data?: Buffer }> = [{ type: 1 }];
  if (interp) phs.push({ type: 3, data: interp });
  if (note) phs.push({ type: 4, data: note });
  const dataStart = ehsize + phent * (phs.length + (hasDyn ? 1 : 0));
  // layout: [ehdr][phdrs][interp][note][strtab][dynamic]
  let cursor = dataStart;
  const placed = phs.map((p) => { const at = cursor; cursor += p.data?.length ?? 0; return { ...p, at }; });
  const strAt = cursor; cursor += strtab.length;
  while (cursor % 8) cursor++;
  const dynAt = cursor;
  const ent = 2 * w(0);
  const dyn = Buffer.alloc(hasDyn ? ent * (dynEntries.length + 3) : 0);
  if (hasDyn) {
    const all: Array<[number, number]> = [...dynEntries, [5, strAt], [10, strtab.length], [0, 0]];
    all.forEach(([tag, val], i) => { word(dyn, i * ent, tag, spec.is64, big); word(dyn, i * ent + w(0), val, spec.is64, big); });
  }
  const size = dynAt + dyn.length;
  const buf = Buffer.alloc(size);
  buf.set([0x7f, 0x45, 0x4c, 0x46, spec.is64 ? 2 : 1, big ? 2 : 1, 1]);
  u16(buf, 16, spec.type, big); u16(buf, 18, spec.machine, big); u32(buf, 20, 1, big);
  word(buf, 24, spec.entry, spec.is64, big);
  word(buf, spec.is64 ? 32 : 28, ehsize, spec.is64, big);
  u32(buf, spec.is64 ? 48 : 36, spec.flags, big);
  u16(buf, spec.is64 ? 52 : 40, ehsize, big); u16(buf, spec.is64 ? 54 : 42, phent, big);
  const all = [...placed, ...(hasDyn ? [{ type: 2, at: dynAt, data: dyn }] : [])];
  u16(buf, spec.is64 ? 56 : 44, all.length, big);
  all.forEach((p, i) => {
    const o = ehsize + i * phent;
    const len = p.type === 1 ? size : p.data?.length ?? 0;
    const at = p.type === 1 ? 0 : p.at;
    u32(buf, o, p.type, big);
    if (spec.is64) {
      u32(buf, o + 4, 5, big); word(buf, o + 8, at, true, big); word(buf, o + 16, at, true, big); word(buf, o + 24, at, true, big);
      word(buf, o + 32, len, true, big); word(buf, o + 40, len, true, big); word(buf, o + 48, p.type === 4 ? 4 : 8, true, big);
    } else {
      u32(buf, o + 4, at, big); u32(buf, o + 8, at, big); u32(buf, o + 12, at, big); u32(buf, o + 16, len, big); u32(buf, o + 20, len, big);
      u32(buf, o + 24, 5, big); u32(buf, o + 28, p.type === 4 ? 4 : 8, big);
    }
    if (p.data) p.data.copy(buf, at);
  });
  strtab.copy(buf, strAt);
  dyn.copy(buf, dynAt);
  return buf;
}
function u16(b: Buffer, o: number, v: number, big: boolean) { if (big) b.writeUInt16BE(v, o); else b.writeUInt16LE(v, o); }
function u32(b: Buffer, o: number, v: number, big: boolean) { if (big) b.writeUInt32BE(v >>> 0, o); else b.writeUInt32LE(v >>> 0, o); }
function word(b: Buffer, o: number, v: number, is64: boolean, big: boolean) {
  if (!is64) return u32(b, o, v, big);
  if (big) b.writeBigUInt64BE(BigInt(v), o); else b.writeBigUInt64LE(BigInt(v), o);
}

const name = fc.stringMatching(/^[a-z][a-z0-9.+_-]{0,15}$/);
const spec: fc.Arbitrary<Spec> = fc.record({
  is64: fc.boolean(), type: fc.constantFrom(2, 3), machine: fc.constantFrom(3, 21, 22, 40, 62, 183, 243, 0xbeef),
  flags: fc.nat({ max: 0xffffffff }), entry: fc.nat({ max: 0x7fffffff }),
  interp: fc.option(fc.stringMatching(/^\/[a-z0-9/._-]{1,40}$/), { nil: undefined }),
  needed: fc.array(name, { maxLength: 5 }),
  note: fc.option(fc.record({ name, type: fc.nat({ max: 0xffff }), desc: fc.array(fc.nat({ max: 255 }), { maxLength: 24 }) }), { nil: undefined }),
  pie: fc.boolean(),
});

test('the same ELF written little- and big-endian reads to the same facts (whole and through the streaming capture)', (t) => {
  fc.assert(fc.property(spec, (s) => {
    const le = Object.assign(inspectElf(writeElf(s, false)), { phnumForTest: writeElf(s, false).readUInt16LE(s.is64 ? 56 : 44) });
    const be = inspectElf(writeElf(s, true));
    const bytes = writeElf(s, true);
    // head = ELF header + program headers only: every segment is captured by the plan, not by the head
    const headBytes = (s.is64 ? 64 : 52) + (s.is64 ? 56 : 32) * le.phnumForTest;
    const cap = new ElfCapture(bytes.length, { wholeFileMax: 0, headBytes, segmentMax: 4096 });
    for (let o = 0; o < bytes.length; o += 4) cap.push(bytes.subarray(o, o + 4));
    // and a head that ends 3 bytes into the first segment (a segment straddling the head's end is kept whole)
    const cap3 = new ElfCapture(bytes.length, { wholeFileMax: 0, headBytes: headBytes + 3, segmentMax: 4096 });
    for (let o = 0; o < bytes.length; o += headBytes + 3) cap3.push(bytes.subarray(o, o + headBytes + 3));
    const straddled = inspectElf(cap3.bytes());
    t.deepEqual(straddled.notes.map((n) => n.desc.toString('hex')), le.notes.map((n) => n.desc.toString('hex')));
    t.is(straddled.interpreter, le.interpreter);
    const beSparse = inspectElf(cap.bytes());
    const facts = (e: ReturnType<typeof inspectElf>) => ({
      class: e.class, type: e.type, machine: e.machine, flags: e.flags, entry: e.entry, interpreter: e.interpreter, needed: e.needed,
      linkage: e.linkage, riscv: e.riscv, ppc64: e.ppc64, notes: e.notes.map((n) => ({ ...n, desc: n.desc.toString('hex') })),
    });
    t.deepEqual(facts(be), facts(le));
    // the capture keeps the head and the PT_INTERP/PT_NOTE/PT_DYNAMIC segments, not a string table past the head: said, not guessed
    if (beSparse.incomplete.includes('DT_NEEDED names')) {
      t.deepEqual(beSparse.needed, le.needed.map(() => '?'));
      t.deepEqual({ ...facts(beSparse), needed: le.needed }, facts(le));
    } else {
      t.deepEqual(facts(beSparse), facts(le));
    }
    t.is(le.endianness, 'little');
    t.is(be.endianness, 'big');
    t.is(le.class, s.is64 ? 64 : 32);
    t.is(le.machine, s.machine);
    t.deepEqual(le.needed, s.needed);
    t.is(le.interpreter, s.interp);
    // e_flags decoded per machine, from the same number in both byte orders
    if (s.machine === 243) t.is(le.riscv?.floatAbi, (['soft', 'single', 'double', 'quad'] as const)[(s.flags >>> 1) & 3]);
    if (s.machine === 21 && s.is64) t.is(le.ppc64?.abiVersion, s.flags & 3);
    return true;
  }), { numRuns: 400 });
});

const REAL: Array<{ arch: DebArch; machine: number; endianness: 'little' | 'big'; interp: string }> = [
  { arch: 's390x', machine: 22, endianness: 'big', interp: '/lib/ld64.so.1' },
  { arch: 'ppc64el', machine: 21, endianness: 'little', interp: '/lib64/ld64.so.2' },
  { arch: 'riscv64', machine: 243, endianness: 'little', interp: '/lib/ld-linux-riscv64-lp64d.so.1' },
];

/** readelf's view (the reference implementation): class, data, machine number, flags, interpreter, NEEDED. */
async function readelf(file: string): Promise<{ class: 32 | 64; big: boolean; flags: number; interp?: string; needed: string[] }> {
  const { stdout } = await run('readelf', ['-h', '-l', '-d', '-W', file], { maxBuffer: 16 << 20, env: { LC_ALL: 'C', PATH: process.env.PATH } });
  return {
    class: /Class:\s+ELF(32|64)/.exec(stdout)![1] === '64' ? 64 : 32,
    big: /Data:.*big endian/.test(stdout),
    flags: Number(/Flags:\s+(0x[0-9a-f]+)/.exec(stdout)![1]),
    interp: /\[Requesting program interpreter: ([^\]]+)\]/.exec(stdout)?.[1],
    needed: [...stdout.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]!),
  };
}

for (const r of REAL) {
  test(`${r.arch}: Debian's dash, bash and busybox read as readelf reads them`, async (t) => {
    const root = await debianRootPath(r.arch);
    for (const f of ['usr/bin/dash', 'usr/bin/bash', 'usr/bin/busybox', 'usr/bin/ls']) {
      const file = join(root, f);
      const e = inspectElf(await readFile(file), file);
      const ref = await readelf(file);
      t.is(e.machine, r.machine, f);
      t.is(e.endianness, r.endianness, f);
      t.is(e.endianness === 'big', ref.big, f);
      t.is(e.class, ref.class, f);
      t.is(e.flags, ref.flags, f);
      t.is(e.interpreter, ref.interp, f);
      t.is(e.interpreter, r.interp, f);
      t.deepEqual(e.needed, ref.needed, f);
      t.is(e.linkage, 'dynamic', f);
      if (r.arch === 'riscv64') t.is(e.riscv?.floatAbi, 'double', `${f}: Debian riscv64 is lp64d`);
      if (r.arch === 'ppc64el') t.is(e.ppc64?.abiVersion, 2, `${f}: ppc64el is ELFv2`);
    }
  });

  test(`${r.arch}: every truncation and random corruption of dash's headers is a result or INVALID_ELF`, async (t) => {
    const buf = await readFile(join(await debianRootPath(r.arch), 'usr/bin/dash'));
    const ok = (b: Buffer | ReturnType<ElfCapture['bytes']>) => {
      try { inspectElf(b); return true; } catch (err) { if (err instanceof XbuildError && err.code === 'INVALID_ELF') return true; throw err; }
    };
    for (let n = 0; n < 4096; n += 5) t.true(ok(buf.subarray(0, n)));
    const edits = fc.array(fc.tuple(fc.integer({ min: 0, max: 8191 }), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 });
    fc.assert(fc.property(edits, (es) => {
      const copy = Buffer.from(buf);
      for (const [o, b] of es) copy[o] = b;
      const cap = new ElfCapture(copy.length, { wholeFileMax: 0, headBytes: 2048, segmentMax: 4096 });
      for (let o = 0; o < copy.length; o += 512) cap.push(copy.subarray(o, o + 512));
      return ok(copy) && ok(cap.bytes());
    }), { numRuns: 300 });
  });
}
