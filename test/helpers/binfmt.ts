// Every test that claims "works without binfmt_misc" calls this first:
// if the host kernel could run ARM binaries by itself, the test proves nothing.
import { readdir, readFile } from 'node:fs/promises';

const BINFMT_DIR = '/proc/sys/fs/binfmt_misc';

/** Names of registered binfmt_misc handlers that would run ARM / AArch64 ELF files. */
export async function armBinfmtHandlers(): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(BINFMT_DIR);
  } catch {
    return []; // not mounted in this namespace: nothing can be registered here
  }
  const found: string[] = [];
  for (const n of names) {
    if (n === 'register' || n === 'status') continue;
    const text = await readFile(`${BINFMT_DIR}/${n}`, 'utf8').catch(() => '');
    // magic of ELF32 LE EM_ARM (0x28) / ELF64 LE EM_AARCH64 (0xb7) at offset 18
    if (/^enabled/m.test(text) && /magic 7f454c46(01|02)01/.test(text) && /(2800|b700)/.test(text.split('\n').find((l) => l.startsWith('magic')) ?? '')) {
      found.push(n);
    }
    else if (/^enabled/m.test(text) && /qemu-(arm|aarch64)/.test(text)) found.push(n);
  }
  return found;
}

/** Throws unless no ARM handler is registered on the host. */
export async function assertNoArmBinfmt(): Promise<void> {
  const h = await armBinfmtHandlers();
  if (h.length > 0) {
    throw new Error(`binfmt_misc has ARM handlers registered (${h.join(', ')}): tests that claim to work without binfmt would prove nothing`);
  }
}

/**
 * Proof by experiment: asks the host kernel to execve() an ARM/AArch64 static
 * binary directly (through the host-native exectest program of
 * test/fixtures/c, since libc's execvp and so node's spawn retry ENOEXEC files
 * as shell scripts). Without a binfmt_misc handler the kernel refuses with
 * ENOEXEC; throws if the binary ran or failed otherwise.
 */
export async function assertHostCannotExecArm(binary: string): Promise<void> {
  const { execFile } = await import('node:child_process');
  const { join } = await import('node:path');
  const { testProgramsPath } = await import('./arm-root.ts');
  const exectest = join(await testProgramsPath('amd64'), 'exectest-static');
  const out = await new Promise<string>((resolve) => {
    execFile(exectest, ['execve', binary], (err, stdout) => resolve(`${String(stdout).trim()} (exit ${err ? err.code : 0})`));
  });
  if (out !== 'exectest: FAIL ENOEXEC (exit 100)') {
    throw new Error(`execve of ARM binary ${binary} on the host gave "${out}", expected ENOEXEC: something (binfmt_misc?) runs ARM binaries here`);
  }
}
