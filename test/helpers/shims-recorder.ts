// Host-native helper programs for the shim tests, compiled with the host's gcc
// into a test's temporary directory (never committed binaries):
//   recorder    stands in for the emulator: carries the xbuild execve note, so
//               cross-build-start accepts it, and prints what the shim gave it:
//               `argv[0]|argv[1]|...|` then `euid=<n>` then every QEMU_* variable
//   execveat    `execveat fd PATH ARGV...` runs PATH through a descriptor
//               (fexecve: AT_EXECFN /dev/fd/N); `execveat dirfd DIR REL ARGV...`
//               runs DIR/REL as execveat(open(DIR), REL) (AT_EXECFN /dev/fd/N/REL)
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

const RECORDER = String.raw`
static long sc(long n, long a, long b, long c) { long r; __asm__ volatile("syscall":"=a"(r):"a"(n),"D"(a),"S"(b),"d"(c):"rcx","r11","memory"); return r; }
static unsigned long len(const char *s) { unsigned long n = 0; while (s[n]) n++; return n; }
static void out(const char *s) { sc(1, 1, (long)s, (long)len(s)); }
__attribute__((used)) int rec_main(long *sp) {
  int argc = (int)sp[0]; char **argv = (char **)(sp + 1);
  for (int i = 0; i < argc; i++) { out(argv[i]); out("|"); }
  long euid = sc(107, 0, 0, 0); char num[24]; int k = 23; num[k] = 0;
  do { num[--k] = (char)('0' + euid % 10); euid /= 10; } while (euid);
  out("\neuid="); out(num + k); out("\n");
  for (char **e = argv + argc + 1; *e; e++)
    if (e[0][0] == 'Q' && e[0][1] == 'E' && e[0][2] == 'M' && e[0][3] == 'U' && e[0][4] == '_') { out(*e); out("\n"); }
  return 0;
}
__asm__(".text\n.global _start\n_start:\n mov %rsp,%rdi\n and $-16,%rsp\n call rec_main\n mov %eax,%edi\n mov $231,%eax\n syscall\n");
__asm__(".pushsection .note.xbuild,\"a\",@note\n.balign 4\n.long 7\n.long 4\n.long 1\n.asciz \"xbuild\"\n.balign 4\n.ascii \"test\"\n.popsection\n");
`;

const EXECVEAT = String.raw`
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
extern char **environ;
int main(int argc, char **argv) {
  if (argc < 4) { fprintf(stderr, "usage: execveat fd PATH ARGV... | dirfd DIR REL ARGV...\n"); return 2; }
  if (strcmp(argv[1], "fd") == 0) {
    int fd = open(argv[2], O_RDONLY);
    if (fd < 0) { perror(argv[2]); return 2; }
    syscall(SYS_execveat, fd, "", argv + 3, environ, AT_EMPTY_PATH);
  } else {
    int dfd = open(argv[2], O_RDONLY | O_DIRECTORY);
    if (dfd < 0) { perror(argv[2]); return 2; }
    syscall(SYS_execveat, dfd, argv[3], argv + 4, environ, 0);
  }
  perror("execveat");
  return 126;
}
`;

/** Compiles the recording emulator into `dir`; returns its path. */
export async function buildRecorder(dir: string): Promise<string> {
  const src = join(dir, 'recorder.c');
  await writeFile(src, RECORDER);
  const out = join(dir, 'recorder');
  await run('gcc', ['-static', '-nostdlib', '-ffreestanding', '-fno-builtin', '-fno-tree-loop-distribute-patterns', '-fno-pie', '-no-pie', '-Os', '-o', out, src]);
  return out;
}

/** Compiles the execveat helper (static, glibc) to `out`. */
export async function buildExecveat(out: string): Promise<string> {
  const src = `${out}.c`;
  await writeFile(src, EXECVEAT);
  await run('gcc', ['-static', '-O2', '-o', out, src]);
  return out;
}
