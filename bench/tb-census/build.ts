// bench/tb-census/build.ts: a census emulator, i.e. xbuild's patch series plus
// bench/tb-census/census.patch (a measurement patch, never shipped), built by
// `xbuild qemu build`'s own code from the same QEMU source as the current cached
// build, into its own cache root (<cache>/bench/tb-census) so that nothing
// resolving xbuild's real emulators can pick it up. Prints the emulator's path.
//   npx tsx bench/tb-census/build.ts [arch]   (default arm)
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cacheRoot } from '../../src/cache-root.ts';
import { readBuildRecord } from '../../src/qemu/cache.ts';
import { buildEmulators } from '../../src/qemu/build.ts';
import { defaultPatchesDir } from '../../src/qemu/series.ts';
import type { QemuArch } from '../../src/oci/platform.ts';
import { findEmulator } from '../../test/helpers/emulators.ts';

const HERE = dirname(fileURLToPath(import.meta.url));

export async function buildCensusEmulator(arch: QemuArch): Promise<string> {
  const current = await findEmulator(arch);
  const record = await readBuildRecord(dirname(current));
  if (!record) throw new Error(`${dirname(current)} has no build record: build xbuild's emulators first (scripts/build-emulators.sh)`);
  const patches = await mkdtemp(join(tmpdir(), 'xb-census-patches-'));
  try {
    await cp(defaultPatchesDir(), patches, { recursive: true });
    await cp(join(HERE, 'census.patch'), join(patches, 'census.patch'));
    await writeFile(join(patches, 'series'), `${await readFile(join(patches, 'series'), 'utf8')}census.patch\n`);
    const env = { ...process.env, XBUILD_CACHE_DIR: join(cacheRoot(process.env), 'bench', 'tb-census') };
    const r = await buildEmulators({ env, source: record.qemu.source.path, targets: [arch], patchesDir: patches, onProgress: (p) => { if (p.kind === 'step') console.error(p.message); } });
    return r.emulators[arch]!;
  } finally {
    await rm(patches, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(await buildCensusEmulator((process.argv[2] ?? 'arm') as QemuArch));
}
