// `wrap --start` against the real thing: on real armhf trees (Debian packages),
// the file system of the --start image equals, file by file (type, mode,
// owner, content, link target), the tree after running the real
// cross-build-start in a chroot on the base plus the normal xbuild layer.
// cross-build-start needs no emulation (it is the x86_64 shim); the emulator
// is a host-native recorder that carries xbuild's note.
import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { pipeline } from 'node:stream/promises';
import { spawn } from 'node:child_process';
import { ensureShim } from '../src/shims/build.ts';
import { xbuildLayerEntries } from '../src/shims/layer.ts';
import { installLayerEntries } from './helpers/install-layer.ts';
import { wrapImage } from '../src/wrap/wrap.ts';
import type { Image } from '../src/oci/model.ts';
import { assertNoArmBinfmt } from './helpers/binfmt.ts';
import { cacheRoot, copyRoot, type RootFlavor } from './helpers/shims-roots.ts';
import { chrootRun, diffSnapshots, snapshotTree } from './helpers/shims-chroot.ts';
import { memImage } from './helpers/mem-image.ts';
import { withHistory } from './helpers/built-image.ts';
import { buildRecorderEmulator } from './helpers/recorder-emulator.ts';

const run = promisify(execFile);

async function extractInto(dir: string, img: Image): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const l of await img.layers()) {
    const tar = spawn('tar', ['-C', dir, '-xzpf', '-', '--numeric-owner'], { stdio: ['pipe', 'inherit', 'inherit'] });
    const done = new Promise<void>((res, rej) => tar.on('close', (c) => (c === 0 ? res() : rej(new Error(`tar -x exited ${c}`)))));
    await pipeline(await l.open(), tar.stdin);
    await done;
  }
}

for (const flavor of ['busybox', 'debian-dash', 'debian-dpkg'] as RootFlavor[]) {
  test(`wrap --start on armhf ${flavor} = base + xbuild layer + the real cross-build-start, file by file`, async (t) => {
    await assertNoArmBinfmt();
    const d = await mkdtemp(join(tmpdir(), 'xbuild-start-'));
    t.teardown(() => rm(d, { recursive: true, force: true }));
    const root = await copyRoot('armhf', flavor, d);
    const emulatorPath = await buildRecorderEmulator(d);
    const shimPath = await ensureShim({ cacheRoot: cacheRoot() });
    const { stdout } = await run('tar', ['-C', root, '--numeric-owner', '-cf', '-', '.'], { encoding: 'buffer', maxBuffer: 1 << 28 });
    const base = await withHistory(memImage(`armhf-${flavor}`, { architecture: 'arm', variant: 'v7' }, [{ tar: stdout }]));
    const entries = await xbuildLayerEntries({ arch: 'arm', emulatorPath, shimPath });

    await installLayerEntries(root, entries);
    const r = await chrootRun(root, ['/usr/bin/cross-build-start']);
    t.is(r.code, 0, r.stderr);
    const want = await snapshotTree(root);

    const wrapped = await wrapImage(base, { baseName: 'fixture', layerSource: async () => ({ entries, qemuVersion: 'test' }), xbuildVersion: '0', start: true });
    const out = join(d, 'from-image');
    await extractInto(out, wrapped.image as Image);
    const got = await snapshotTree(out);
    t.deepEqual(diffSnapshots(want, got), []);
    t.true([...got.keys()].some((p) => p.endsWith('.xbuild-orig')), 'something was swapped');
  });
}
