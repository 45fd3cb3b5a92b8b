// verify's streaming ELF capture (src/elf/bytes.ts) keeps the segments the
// inspector reads whatever the chunk boundaries of the tar stream: a note
// just past the kept head, in the chunk that completes the head, or one that
// straddles the head's end, is found as in the whole file.
import test from 'ava';
import { ElfCapture } from '../src/elf/bytes.ts';
import { findNote, inspectElf } from '../src/elf/inspect.ts';
import { NT_XBUILD_EXECVE, XBUILD_NOTE_NAME } from '../src/contract/in-image.ts';

const HEAD = 256 << 10;

/** A static ELF64 x86-64 ET_EXEC with one PT_NOTE (the xbuild execve note) at `noteOff`, `size` bytes long. */
function elfWithNoteAt(noteOff: number, size: number): Buffer {
  const b = Buffer.alloc(size);
  b.write('\x7fELF', 0, 'latin1'); b[4] = 2; b[5] = 1; b[6] = 1;
  b.writeUInt16LE(2, 16); b.writeUInt16LE(62, 18); b.writeUInt32LE(1, 20);
  b.writeBigUInt64LE(0x401000n, 24); b.writeBigUInt64LE(64n, 32); // e_entry, e_phoff
  b.writeUInt16LE(64, 52); b.writeUInt16LE(56, 54); b.writeUInt16LE(1, 56); // ehsize, phentsize, phnum
  const name = Buffer.from(`${XBUILD_NOTE_NAME}\0`);
  const namePad = (name.length + 3) & ~3;
  const desc = Buffer.from('series 3');
  const note = Buffer.alloc(12 + namePad + ((desc.length + 3) & ~3));
  note.writeUInt32LE(name.length, 0); note.writeUInt32LE(desc.length, 4); note.writeUInt32LE(NT_XBUILD_EXECVE, 8);
  name.copy(note, 12); desc.copy(note, 12 + namePad);
  note.copy(b, noteOff);
  const ph = 64;
  b.writeUInt32LE(4, ph); b.writeUInt32LE(4, ph + 4); // PT_NOTE, PF_R
  b.writeBigUInt64LE(BigInt(noteOff), ph + 8); b.writeBigUInt64LE(BigInt(noteOff), ph + 16); b.writeBigUInt64LE(BigInt(noteOff), ph + 24);
  b.writeBigUInt64LE(BigInt(note.length), ph + 32); b.writeBigUInt64LE(BigInt(note.length), ph + 40); b.writeBigUInt64LE(4n, ph + 48);
  return b;
}

const cases: [string, number][] = [['just past the head', HEAD + 40], ['straddling the end of the head', HEAD - 12], ['well past the head', HEAD + 300_000]];
for (const [where, off] of cases) {
  test(`an ELF note ${where}, read in misaligned chunks, is found as in the whole file`, (t) => {
    const file = elfWithNoteAt(off, 1 << 20);
    t.truthy(findNote(inspectElf(file), XBUILD_NOTE_NAME, NT_XBUILD_EXECVE), 'the whole file has the note');
    for (const chunk of [4096, 65_536, 100_003, 262_199, 262_144 + 777, 1 << 20]) {
      const cap = new ElfCapture(file.length, { wholeFileMax: 64 << 10, headBytes: HEAD, segmentMax: 64 << 10 });
      for (let o = 0; o < file.length; o += chunk) cap.push(file.subarray(o, o + chunk));
      t.truthy(findNote(inspectElf(cap.bytes()), XBUILD_NOTE_NAME, NT_XBUILD_EXECVE), `chunks of ${chunk} bytes`);
    }
  });
}
