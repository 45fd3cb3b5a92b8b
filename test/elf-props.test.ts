// Property-based: truncated, corrupted and random bytes make the inspector
// return an INVALID_ELF error or a result, never throw anything else, never hang.
import test from 'ava';
import fc from 'fast-check';
import { readFile } from 'node:fs/promises';
import { inspectElf } from '../src/elf/inspect.ts';
import { ElfCapture } from '../src/elf/bytes.ts';
import { XbuildError } from '../src/errors.ts';
import { elfSample } from './helpers/elf-samples.ts';

function inspectsOrRejects(buf: Buffer | ReturnType<ElfCapture['bytes']>): boolean {
  try {
    inspectElf(buf);
    return true;
  } catch (err) {
    if (err instanceof XbuildError && err.code === 'INVALID_ELF') return true;
    throw err;
  }
}

const samples = ['armhf/dash', 'arm64/dash', 'armel/busybox', 'stripped/busybox-armhf-noshdr'];

// A hang would block the worker: ava's timeout then fails the run.
test('random bytes (with and without an ELF ident) never throw anything but INVALID_ELF', (t) => {
  t.timeout(300_000);
  const ident = fc.tuple(fc.constantFrom(1, 2, 0, 3), fc.constantFrom(1, 2, 0)).map(([c, d]) => Buffer.from([0x7f, 0x45, 0x4c, 0x46, c, d, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]));
  fc.assert(fc.property(fc.option(ident), fc.uint8Array({ maxLength: 4096 }), (head, body) => {
    const buf = head ? Buffer.concat([head, Buffer.from(body)]) : Buffer.from(body);
    return inspectsOrRejects(buf);
  }), { numRuns: 2000, interruptAfterTimeLimit: 60_000 });
  t.pass();
});

for (const s of samples) {
  test(`${s}: every truncation and random byte corruption of the headers is a result or INVALID_ELF`, async (t) => {
    t.timeout(300_000);
    const buf = await readFile(await elfSample(s));
    const truncateAt = fc.integer({ min: 0, max: buf.length });
    fc.assert(fc.property(truncateAt, (n) => inspectsOrRejects(buf.subarray(0, n))), { numRuns: 300 });
    // truncations right inside the program header table and the notes
    for (let n = 0; n < 4096; n += 7) t.true(inspectsOrRejects(buf.subarray(0, n)));
    // corrupt bytes in the ELF header, program headers and first segment
    const edits = fc.array(fc.tuple(fc.integer({ min: 0, max: Math.min(buf.length, 8192) - 1 }), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 });
    fc.assert(fc.property(edits, (es) => {
      const copy = Buffer.from(buf);
      for (const [o, b] of es) copy[o] = b;
      if (!inspectsOrRejects(copy)) return false;
      // the same bytes through verify's sparse streaming capture
      const cap = new ElfCapture(copy.length, { wholeFileMax: 0, headBytes: 2048, segmentMax: 4096 });
      for (let o = 0; o < copy.length; o += 65_536) cap.push(copy.subarray(o, o + 65_536));
      return inspectsOrRejects(cap.bytes());
    }), { numRuns: 400 });
    // corrupt section header table fields (elfy adapter input)
    const shoffField = buf[4] === 2 ? Number(buf.readBigUInt64LE(40)) : buf.readUInt32LE(32);
    if (shoffField > 0) {
      const shEdits = fc.array(fc.tuple(fc.integer({ min: shoffField, max: buf.length - 1 }), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 });
      fc.assert(fc.property(shEdits, (es) => {
        const copy = Buffer.from(buf);
        for (const [o, b] of es) copy[o] = b;
        return inspectsOrRejects(copy);
      }), { numRuns: 300 });
    }
  });
}
