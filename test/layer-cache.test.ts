// The built-layer cache (src/layer/layer-cache.ts): a hit gives the bytes a fresh
// build gives, any change of an input is a miss, a damaged entry is ignored and
// rebuilt, an unwritable cache is not an error, concurrent writers agree.
import test from 'ava';
import { createReadStream } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { buildLayer } from '../src/layer/build.ts';
import { buildLayerCached, layerCacheKey } from '../src/layer/layer-cache.ts';
import type { LayerEntry } from '../src/layer/entry.ts';
import { readAll } from '../src/oci/digest.ts';

async function fixture(t: { teardown(f: () => Promise<void>): void }) {
  const dir = await mkdtemp(join(tmpdir(), 'xb-layer-cache-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const emulator = join(dir, 'qemu-arm-static');
  await writeFile(emulator, Buffer.concat([randomBytes(512 * 1024), Buffer.alloc(1024 * 1024, 7)]));
  const entries = async (): Promise<LayerEntry[]> => {
    const size = (await readFile(emulator)).length;
    return [
      { path: 'usr/bin/cross-build-start', type: 'file', mode: 0o755, content: Buffer.from('shim v1') },
      { path: 'usr/bin/qemu-arm-static', type: 'file', mode: 0o755, size, content: async () => createReadStream(emulator) },
    ];
  };
  return { dir, cache: join(dir, 'cache'), emulator, entries };
}

type Ev = { kind: string; reason?: string };
const recorder = () => { const evs: Ev[] = []; return { evs, onCache: (e: Ev) => evs.push(e) }; };

test('miss stores, hit returns the same layer as an uncached build (digest, diff_id, bytes)', async (t) => {
  const f = await fixture(t);
  const fresh = await buildLayer(await f.entries(), { sourceDateEpoch: 5 });
  const r1 = recorder(); const r2 = recorder();
  const miss = await buildLayerCached(await f.entries(), { sourceDateEpoch: 5, cacheDir: f.cache, onCache: r1.onCache });
  const hit = await buildLayerCached(await f.entries(), { sourceDateEpoch: 5, cacheDir: f.cache, onCache: r2.onCache });
  t.deepEqual(r1.evs.map((e) => e.kind), ['miss']);
  t.deepEqual(r2.evs.map((e) => e.kind), ['hit']);
  for (const l of [miss, hit]) {
    t.deepEqual(l.descriptor, fresh.descriptor);
    t.is(l.diffId, fresh.diffId);
    t.true((await readAll(await l.open(), 1 << 26)).equals(await readAll(await fresh.open(), 1 << 26)));
  }
  t.is((await readdir(f.cache)).length, 1, 'one entry, no temporary left behind');
});

test('any input change is a miss: emulator bytes, shim bytes, mode, SOURCE_DATE_EPOCH, compression', async (t) => {
  const f = await fixture(t);
  const base = await layerCacheKey(await f.entries(), {});
  const keys = new Set([base]);
  const changed = async (mut: (e: LayerEntry[]) => void, opts = {}) => { const e = await f.entries(); mut(e); keys.add(await layerCacheKey(e, opts)); };
  await changed((e) => { e[0]!.content = Buffer.from('shim v2'); });
  await changed((e) => { e[1]!.mode = 0o700; });
  await changed(() => {}, { sourceDateEpoch: 1 });
  await changed(() => {}, { compression: 'zstd', mediaType: 'application/vnd.oci.image.layer.v1.tar+zstd' });
  t.is(keys.size, 5);
  // stale input: the emulator file changes in place (same size) after a stored build
  const r = recorder();
  const before = await buildLayerCached(await f.entries(), { cacheDir: f.cache });
  const bytes = await readFile(f.emulator); bytes[100] = bytes[100]! ^ 0xff; await writeFile(f.emulator, bytes);
  const after = await buildLayerCached(await f.entries(), { cacheDir: f.cache, onCache: r.onCache });
  t.deepEqual(r.evs.map((e) => e.kind), ['miss']);
  t.not(after.descriptor.digest, before.descriptor.digest);
  t.deepEqual(after.descriptor, (await buildLayer(await f.entries())).descriptor);
});

test('a damaged entry (blob bytes, meta digest) is never used: rebuilt and replaced', async (t) => {
  const f = await fixture(t);
  const good = await buildLayerCached(await f.entries(), { cacheDir: f.cache });
  const key = await layerCacheKey(await f.entries(), {});
  const blob = join(f.cache, key, 'blob');
  const b = await readFile(blob); b[b.length - 20] = b[b.length - 20]! ^ 0x55; await writeFile(blob, b);
  const r = recorder();
  const again = await buildLayerCached(await f.entries(), { cacheDir: f.cache, onCache: r.onCache });
  t.deepEqual(r.evs.map((e) => e.kind), ['miss']);
  t.deepEqual(again.descriptor, good.descriptor);
  t.true((await readFile(blob)).equals(await readAll(await good.open(), 1 << 26)), 'the bad entry was replaced');
  // meta.json claiming another digest: ignored too
  const metaPath = join(f.cache, key, 'meta.json');
  const meta = JSON.parse(await readFile(metaPath, 'utf8')); meta.diffId = `sha256:${'0'.repeat(64)}`;
  await writeFile(metaPath, JSON.stringify(meta));
  const r2 = recorder();
  const third = await buildLayerCached(await f.entries(), { cacheDir: f.cache, onCache: r2.onCache });
  t.deepEqual(r2.evs.map((e) => e.kind), ['miss']);
  t.is(third.diffId, good.diffId);
});

test('an unwritable cache directory is not an error: the layer is built as without cache', async (t) => {
  const f = await fixture(t);
  await writeFile(join(f.dir, 'a-file'), 'x');
  const r = recorder();
  const l = await buildLayerCached(await f.entries(), { cacheDir: join(f.dir, 'a-file', 'cache'), onCache: r.onCache });
  t.is(r.evs.length, 1);
  t.is(r.evs[0]!.kind, 'bypass');
  t.regex(r.evs[0]!.reason!, /cache not written: .*ENOTDIR/);
  t.deepEqual(l.descriptor, (await buildLayer(await f.entries())).descriptor);
});

test('concurrent writers of the same key: all get the same layer, one entry, no temporaries', async (t) => {
  const f = await fixture(t);
  const layers = await Promise.all(Array.from({ length: 4 }, async () => buildLayerCached(await f.entries(), { cacheDir: f.cache })));
  for (const l of layers) t.deepEqual(l.descriptor, layers[0]!.descriptor);
  t.deepEqual((await readdir(f.cache)).filter((n) => !/^[a-f0-9]{64}$/.test(n)), []);
  t.is((await readdir(f.cache)).length, 1);
});

test('without a cache directory: plain buildLayer, nothing written', async (t) => {
  const f = await fixture(t);
  const r = recorder();
  const l = await buildLayerCached(await f.entries(), { onCache: r.onCache });
  t.deepEqual(r.evs, []);
  t.deepEqual(l.descriptor, (await buildLayer(await f.entries())).descriptor);
  t.false((await readdir(f.dir)).includes('cache'));
});
