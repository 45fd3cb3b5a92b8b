// Helpers of the release tests: run `npm run release` into a directory of the
// test's own, an unprivileged user (created once, reused), and a PATH that
// holds every program of the host except the C compilers.
import { execFile } from 'node:child_process';
import { mkdir, readdir, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface Release { dir: string; cli: string; platform: string; log: string }

/** scripts/release.ts --out DIR (the same code as `npm run release`); throws with its output when it fails. */
export async function makeRelease(dir: string): Promise<Release> {
  try {
    const r = await run(process.execPath, ['--import', 'tsx', 'scripts/release.ts', '--out', dir], { maxBuffer: 1 << 26, timeout: 10 * 60_000 });
    const files = await readdir(dir);
    const cli = files.find((f) => /^xbuild-\d.*\.tgz$/.test(f));
    const platform = files.find((f) => /^xbuild-linux-x64-.*\.tgz$/.test(f));
    if (!cli || !platform) throw new Error(`release wrote ${files.join(', ')}`);
    return { dir, cli: join(dir, cli), platform: join(dir, platform), log: r.stdout + r.stderr };
  } catch (e) {
    const err = e as Error & { stderr?: string; stdout?: string };
    throw new Error(`scripts/release.ts failed: ${err.stderr || err.stdout || err.message}`);
  }
}

export const TEST_USER = 'xbuild-release-test';

/** uid/gid of an unprivileged system user (created once with no home and no shell; reused afterwards). */
export async function unprivilegedUser(): Promise<{ uid: number; gid: number }> {
  const id = async () => {
    const [u, g] = await Promise.all([run('id', ['-u', TEST_USER]), run('id', ['-g', TEST_USER])]);
    return { uid: Number(u.stdout.trim()), gid: Number(g.stdout.trim()) };
  };
  try {
    return await id();
  } catch {
    await run('useradd', ['--system', '--no-create-home', '--home-dir', '/nonexistent', '--shell', '/usr/sbin/nologin', TEST_USER]).catch(async (e) => {
      // a parallel test created it first
      await id().catch(() => { throw e; });
    });
    return id();
  }
}

/** Compiler names (gcc, cc, c++, clang, tcc, cpp, c89/c99, cross gccs like arm-linux-gnueabihf-gcc-12). */
export const COMPILER = /(^|-)(gcc|g\+\+|cc|c\+\+|clang|clang\+\+|tcc|cpp|c89|c99)(-[0-9.]+|-gcc)?$/;

/** A directory of symlinks to every program on the usual PATH except the C compilers. */
export async function compilerFreePath(dir: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  const seen = new Set<string>();
  for (const d of ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin']) {
    for (const name of await readdir(d).catch(() => [] as string[])) {
      if (seen.has(name) || COMPILER.test(name)) continue;
      seen.add(name);
      await symlink(join(d, name), join(dir, name));
    }
  }
  return dir;
}
