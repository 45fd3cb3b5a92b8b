// The QEMU patch series shipped in patches/: its files, its version and its hash.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { XbuildError } from '../errors.ts';

/**
 * Behaviour version of the series; equals XBUILD_SERIES in
 * patches/0003-linux-user-xbuild-marker.patch (a test keeps them equal) and
 * appears in the emulator's ELF note ("execve-intercept series=<N> ...").
 */
export const SERIES_VERSION = 10;

export interface SeriesPatch { name: string; sha256: string; text: string }
export interface Series {
  dir: string;
  version: number;
  /** sha256 over the series file order and every patch's bytes. */
  hash: string;
  patches: SeriesPatch[];
}

/** Patch names listed in a quilt-style `series` file (comments, blank lines and `-pN` options dropped). */
export function parseSeriesFile(text: string): string[] {
  const names: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*$/, '').trim();
    if (!line) continue;
    const [name = '', ...opts] = line.split(/\s+/);
    if (opts.some((o) => o !== '-p1')) {
      throw new XbuildError('QEMU_SOURCE', `patch series: unsupported option for ${name}: ${opts.join(' ')} (only -p1 is used)`);
    }
    if (name.includes('/') || name.startsWith('.')) {
      throw new XbuildError('QEMU_SOURCE', `patch series: ${name} must be a plain file name in patches/`);
    }
    names.push(name);
  }
  return names;
}

/** The patches/ directory of this installation (source tree or bundle), found by walking up from this module. */
export function defaultPatchesDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'patches', 'series'))) return join(dir, 'patches');
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  throw new XbuildError('QEMU_SOURCE', 'cannot find the patches/ directory of this xbuild installation');
}

export async function readSeries(dir: string = defaultPatchesDir()): Promise<Series> {
  const seriesText = await readFile(join(dir, 'series'), 'utf8').catch((err) => {
    throw new XbuildError('QEMU_SOURCE', `reading ${join(dir, 'series')}: ${(err as Error).message}`);
  });
  const names = parseSeriesFile(seriesText);
  if (names.length === 0) throw new XbuildError('QEMU_SOURCE', `${join(dir, 'series')} lists no patches`);
  const all = createHash('sha256');
  const patches: SeriesPatch[] = [];
  for (const name of names) {
    const text = await readFile(join(dir, name), 'utf8').catch((err) => {
      throw new XbuildError('QEMU_SOURCE', `patch series lists ${name}, but reading it failed: ${(err as Error).message}`);
    });
    const sha256 = createHash('sha256').update(text).digest('hex');
    all.update(`${name}\0${sha256}\n`);
    patches.push({ name, sha256, text });
  }
  return { dir, version: SERIES_VERSION, hash: all.digest('hex'), patches };
}
