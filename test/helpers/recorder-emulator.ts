// A host-native stand-in for the emulator that carries xbuild's execve note
// (so cross-build-start accepts it) and prints the argv it got. Built with
// gcc into `dir`; for tests that need cross-build-start to run, not emulation.
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { EMULATOR_LEVERS } from '../../src/contract/in-image.ts';

/** How a recorder prints the start-up levers the shim passes when the environment sets none of their QEMU_* twins ('-flag|on|' each). */
export const LEVERS_ON = EMULATOR_LEVERS.map((l) => `${l.flag}|on|`).join('');

const SOURCE = String.raw`
static long sc(long n, long a, long b, long c) { long r; __asm__ volatile("syscall":"=a"(r):"a"(n),"D"(a),"S"(b),"d"(c):"rcx","r11","memory"); return r; }
static unsigned long len(const char *s) { unsigned long n = 0; while (s[n]) n++; return n; }
__attribute__((used)) int rec_main(long *sp) {
  int argc = (int)sp[0]; char **argv = (char **)(sp + 1);
  for (int i = 0; i < argc; i++) { sc(1, 1, (long)argv[i], (long)len(argv[i])); sc(1, 1, (long)"|", 1); }
  sc(1, 1, (long)"\n", 1); return 0;
}
__asm__(".text\n.global _start\n_start:\n mov %rsp,%rdi\n and $-16,%rsp\n call rec_main\n mov %eax,%edi\n mov $231,%eax\n syscall\n");
__asm__(".pushsection .note.xbuild,\"a\",@note\n.balign 4\n.long 7\n.long 4\n.long 1\n.asciz \"xbuild\"\n.balign 4\n.ascii \"test\"\n.popsection\n");
`;

export async function buildRecorderEmulator(dir: string): Promise<string> {
  const src = join(dir, 'rec.c');
  const out = join(dir, 'recorder');
  await writeFile(src, SOURCE);
  await promisify(execFile)('gcc', ['-static', '-nostdlib', '-ffreestanding', '-fno-builtin', '-fno-tree-loop-distribute-patterns', '-fno-pie', '-no-pie', '-Os', '-o', out, src]);
  return out;
}
