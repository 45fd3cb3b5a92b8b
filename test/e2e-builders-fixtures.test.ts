// The fixture images the end-to-end tests feed to the builders are what they
// claim to be: read through xbuild's own OCI layout reader and ELF inspector
// (not through the scripts that made them).
import test from 'ava';
import { createGunzip } from 'node:zlib';
import { mkdtemp, mkdir, readFile, rm, writeFile, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tar from 'tar-stream';
import { readOciLayout } from '../src/layout/oci-layout.ts';
import { inspectElf } from '../src/elf/inspect.ts';
import { busyboxImages } from './helpers/e2e-fixtures.ts';
import { runOk } from './helpers/e2e-exec.ts';
import type { Image } from '../src/oci/model.ts';

const EM_ARM = 40;
const EM_AARCH64 = 183;
const EM_X86_64 = 62;

interface Entry { type: string; linkname?: string; data?: Buffer }

/** Reads a one-layer image's files (contents only for `want`). */
async function readLayer(img: Image, want: Set<string>): Promise<Map<string, Entry>> {
  const [layer] = await img.layers();
  const out = new Map<string, Entry>();
  const extract = tar.extract();
  extract.on('entry', (h, stream, next) => {
    const name = h.name.replace(/^\.\//, '').replace(/\/$/, '');
    const chunks: Buffer[] = [];
    stream.on('data', (c: unknown) => { if (want.has(name)) chunks.push(c as Buffer); });
    stream.on('end', () => {
      out.set(name, { type: h.type ?? 'file', linkname: h.linkname ?? undefined, data: want.has(name) ? Buffer.concat(chunks) : undefined });
      next();
    });
    stream.resume();
  });
  const done = new Promise<void>((res, rej) => { extract.on('finish', res); extract.on('error', rej); });
  (await layer!.open()).pipe(createGunzip()).pipe(extract);
  await done;
  return out;
}

const BUSYBOX = [
  { name: 'busybox-armv5', arch: 'arm', variant: 'v5', machine: EM_ARM, float: 'soft', fixtureArch: 'armel' },
  { name: 'busybox-armv7', arch: 'arm', variant: 'v7', machine: EM_ARM, float: 'hard', fixtureArch: 'armhf' },
  { name: 'busybox-arm64', arch: 'arm64', variant: 'v8', machine: EM_AARCH64, float: undefined, fixtureArch: 'arm64' },
  { name: 'busybox-amd64', arch: 'amd64', variant: undefined, machine: EM_X86_64, float: undefined, fixtureArch: 'amd64' },
] as const;

let dir = '';
test.before(async (t) => {
  t.timeout(15 * 60_000, 'building busybox fixtures');
  dir = await busyboxImages();
});

for (const b of BUSYBOX) {
  test(`${b.name}: config platform, Alpine layout and a static busybox of the right machine`, async (t) => {
    const img = await readOciLayout(join(dir, b.name), b.name);
    if (img.kind !== 'image') return t.fail('expected an image');
    const cfg = await img.config();
    t.is(cfg.os, 'linux');
    t.is(cfg.architecture, b.arch);
    t.is(cfg.variant, b.variant);
    const files = await readLayer(img, new Set(['bin/busybox', 'etc/xbuild-fixture-arch']));
    t.is(files.get('bin/sh')?.linkname, '/bin/busybox');
    t.is(files.get('usr/bin/env')?.linkname, '/bin/busybox');
    t.is(files.get('etc/xbuild-fixture-arch')?.data?.toString().trim(), b.fixtureArch);
    const elf = inspectElf(files.get('bin/busybox')!.data!, 'bin/busybox');
    t.is(elf.machine, b.machine);
    t.is(elf.linkage, 'static');
    if (b.float) t.is(elf.arm?.floatAbi, b.float);
  });
}

test('oci-from-tree.sh is deterministic: the same tree gives the same manifest digest', async (t) => {
  const work = await mkdtemp(join(tmpdir(), 'xb-pack-'));
  try {
    const tree = join(work, 'tree');
    await mkdir(join(tree, 'bin'), { recursive: true });
    await writeFile(join(tree, 'bin/hello'), 'hello\n');
    await symlink('hello', join(tree, 'bin/hi'));
    const script = new URL('../scripts/fixtures/oci-from-tree.sh', import.meta.url).pathname;
    const digests: string[] = [];
    for (const out of ['a', 'b']) {
      await runOk('packing a tree', 'bash', [script, tree, join(work, out), 'linux/arm/v7', 'x']);
      const idx = JSON.parse(await readFile(join(work, out, 'index.json'), 'utf8'));
      digests.push(idx.manifests[0].digest);
      t.deepEqual(idx.manifests[0].platform, { architecture: 'arm', os: 'linux', variant: 'v7' });
    }
    t.is(digests[0], digests[1]);
    const img = await readOciLayout(join(work, 'a'), 'x');
    if (img.kind !== 'image') return t.fail('expected an image');
    const files = await readLayer(img, new Set(['bin/hello']));
    t.is(files.get('bin/hello')?.data?.toString(), 'hello\n');
    t.is(files.get('bin/hi')?.linkname, 'hello');
  } finally {
    await rm(work, { recursive: true, force: true });
  }
});
