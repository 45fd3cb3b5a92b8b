// Typed access to the fixture scripts under scripts/fixtures/ (real ARM trees from
// Debian packages, the debootstrap first stage, cross-compiled test programs).
// The scripts cache their results under $XBUILD_CACHE_DIR/fixtures; the *Path
// functions return those cached trees, which callers must treat as read-only.
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { QemuArch } from '../../src/oci/platform.ts';

export type DebArch = 'armhf' | 'arm64' | 'armel';
export type RootFlavor = 'debian-dash' | 'debian-bash' | 'busybox';

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const FIXTURE_SCRIPTS = join(REPO_ROOT, 'scripts', 'fixtures');

export function qemuArchOf(arch: DebArch): QemuArch {
  return arch === 'arm64' ? 'aarch64' : 'arm';
}

/** Runs scripts/fixtures/<script> and returns its last stdout line (the path it printed). */
export function runFixtureScript(script: string, args: string[], env: NodeJS.ProcessEnv = process.env, timeoutMs = 20 * 60_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('bash', [join(FIXTURE_SCRIPTS, script), ...args], { env, maxBuffer: 64 << 20, timeout: timeoutMs }, (err, stdout, stderr) => {
      if (err) {
        const tail = String(stderr).trim().split('\n').slice(-15).join('\n');
        reject(new Error(`scripts/fixtures/${script} ${args.join(' ')} failed (${err.message.split('\n')[0]}):\n${tail}`));
        return;
      }
      const lines = String(stdout).trim().split('\n');
      resolve(lines[lines.length - 1]!);
    });
  });
}

/** Cached (read-only) ARM root tree; see scripts/fixtures/arm-rootfs.sh for the flavors. */
export function armRootPath(arch: DebArch, flavor: RootFlavor): Promise<string> {
  return runFixtureScript('arm-rootfs.sh', [arch, flavor, '--print-path']);
}

/** A fresh, writable copy of an ARM root tree in a new temporary directory (remove it with removeTree). */
export async function armRoot(arch: DebArch, flavor: RootFlavor): Promise<string> {
  return copyTree(await armRootPath(arch, flavor), `xbuild-root-${arch}-${flavor}-`);
}

/** Directory of the cross-compiled test programs (test/fixtures/c): <name> (dynamic) and <name>-static. */
export function testProgramsPath(arch: DebArch | 'amd64'): Promise<string> {
  return runFixtureScript('test-programs.sh', [arch, '--print-path']);
}

/** Host-native (x86_64) static busybox from Debian's busybox-static:amd64. */
export function hostBusyboxPath(): Promise<string> {
  return runFixtureScript('host-busybox.sh', ['--print-path']);
}

/** Cached (read-only) first stage of `debootstrap --foreign --variant=minbase`. */
export function debootstrapForeignPath(arch: 'armhf' | 'arm64', suite = 'bookworm'): Promise<string> {
  return runFixtureScript('debootstrap-foreign.sh', [arch, suite, '--print-path']);
}

/** Copies a cached tree (preserving owners, modes, symlinks, device nodes) into a new temp dir. */
export async function copyTree(src: string, prefix: string): Promise<string> {
  const dest = await mkdtemp(join(tmpdir(), prefix));
  await new Promise<void>((resolve, reject) => {
    execFile('cp', ['-a', `${src}/.`, `${dest}/`], (err, _o, stderr) => (err ? reject(new Error(`cp -a ${src} ${dest}: ${stderr}`)) : resolve()));
  });
  await rm(join(dest, '.complete'), { force: true });
  return dest;
}

export async function removeTree(path: string): Promise<void> {
  await rm(path, { recursive: true, force: true });
}

