// Every test that claims "works without binfmt_misc" calls assertNoArmBinfmt
// first: if the host kernel could run ARM binaries by itself, the test proves
// nothing. The handler list is only trusted when binfmt_misc is mounted and
// readable here; inside a container it usually is not mounted, yet the host's
// handlers still apply to this kernel -- so then the proof is by experiment: a
// direct execve of static ARM and AArch64 programs must fail with ENOEXEC.
import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { testProgramsPath } from './arm-root.ts';

const BINFMT_DIR = '/proc/sys/fs/binfmt_misc';

export type BinfmtState =
  | { kind: 'listed'; armHandlers: string[] }
  | { kind: 'unknown'; reason: string };

/** What binfmt_misc says about ARM / AArch64 handlers, or why it cannot say. */
export async function readArmBinfmt(dir = BINFMT_DIR): Promise<BinfmtState> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    return { kind: 'unknown', reason: `${dir} is not readable (${(err as NodeJS.ErrnoException).code ?? String(err)})` };
  }
  // the mounted filesystem always has these two; an empty directory is the unmounted mount point
  if (!names.includes('status') || !names.includes('register')) return { kind: 'unknown', reason: `binfmt_misc is not mounted at ${dir}` };
  const found: string[] = [];
  for (const n of names) {
    if (n === 'register' || n === 'status') continue;
    let text: string;
    try {
      text = await readFile(join(dir, n), 'utf8');
    } catch (err) {
      return { kind: 'unknown', reason: `handler ${n} in ${dir} is not readable (${(err as NodeJS.ErrnoException).code ?? String(err)})` };
    }
    if (!/^enabled/m.test(text)) continue;
    // magic of ELF32 LE EM_ARM (0x28) / ELF64 LE EM_AARCH64 (0xb7), EM_RISCV (0xf3), EM_PPC64 (0x15) at
    // offset 18, or ELF64 BE EM_S390 (0x0016): every target xbuild emulates
    const magic = text.split('\n').find((l) => l.startsWith('magic')) ?? '';
    if ((/magic 7f454c46(01|02)01/.test(magic) && /(2800|b700|f300|1500)$/.test(magic.slice(0, 46))) || /magic 7f454c460202.{26}0016/.test(magic)
      || /qemu-(arm|aarch64|riscv64|ppc64le|s390x)\b/.test(text)) found.push(n);
  }
  return { kind: 'listed', armHandlers: found };
}

export interface NoArmBinfmtOptions {
  dir?: string;
  /** The experiment run when the list cannot be read; default: execve of static armhf and arm64 programs. */
  proveByExec?: () => Promise<void>;
}

let defaultProof: Promise<void> | undefined;

/** The default experiment, once per process: the kernel must refuse static armhf and arm64 programs. */
export function proveHostCannotExecArm(): Promise<void> {
  defaultProof ??= (async () => {
    for (const arch of ['armhf', 'arm64'] as const) await assertHostCannotExecArm(join(await testProgramsPath(arch), 'argv-static'));
  })();
  return defaultProof;
}

/** Throws unless the host kernel cannot run ARM binaries by itself (see the file comment). */
export async function assertNoArmBinfmt(opts: NoArmBinfmtOptions = {}): Promise<void> {
  const state = await readArmBinfmt(opts.dir);
  if (state.kind === 'listed') {
    if (state.armHandlers.length > 0) {
      throw new Error(`binfmt_misc has ARM handlers registered (${state.armHandlers.join(', ')}): tests that claim to work without binfmt would prove nothing`);
    }
    return;
  }
  try {
    await (opts.proveByExec ?? proveHostCannotExecArm)();
  } catch (err) {
    throw new Error(`${state.reason}, and the direct execve proof failed: ${(err as Error).message}`);
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
  const exectest = join(await testProgramsPath('amd64'), 'exectest-static');
  const out = await new Promise<string>((resolve) => {
    execFile(exectest, ['execve', binary], (err, stdout) => resolve(`${String(stdout).trim()} (exit ${err ? err.code : 0})`));
  });
  if (out !== 'exectest: FAIL ENOEXEC (exit 100)') {
    throw new Error(`execve of ARM binary ${binary} on the host gave "${out}", expected ENOEXEC: something (binfmt_misc?) runs ARM binaries here`);
  }
}
