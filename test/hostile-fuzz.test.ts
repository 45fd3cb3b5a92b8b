// Issue 18 property test: generated docker-archives, OCI layouts and registry
// documents (the same layouts served by a loopback registry,
// test/helpers/layout-registry.ts), each a valid linux/arm/v7 image with one
// field of one document (manifest.json, config, manifest, index) replaced by
// a random JSON value, deleted, or made huge, are fed to the built bundle's
// `wrap`, `verify` and `unwrap` (of the source, and of wrap's result when
// there is one) under a 256 MB heap. The only allowed outcomes: exit 0 with a
// result skopeo reads (wrap, unwrap), exit 1 with findings (verify), or exit
// 2 with exactly one `xbuild:` line. Never 70, never a signal, never a hang.
//
// CI runs a fixed-seed slice (a few runs, each transport at least once); a longer campaign:
//   HOSTILE_FUZZ_RUNS=300 HOSTILE_FUZZ_SEED=$RANDOM npx ava test/hostile-fuzz.test.ts
import test from 'ava';
import fc from 'fast-check';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REAL_CACHE, xbuildBin, type CliResult } from './helpers/hostile-cli.ts';
import { baseParts, LayoutBuilder, standInQemuDir, writeDockerArchive, type BaseParts } from './helpers/hostile-inputs.ts';
import { serveLayouts, type LayoutRegistry } from './helpers/layout-registry.ts';

const RUNS = Number(process.env.HOSTILE_FUZZ_RUNS ?? 5);
const SEED = Number(process.env.HOSTILE_FUZZ_SEED ?? 1818);

let tmp: string;
let qemu: string;
let base: BaseParts;
let registry: LayoutRegistry;
test.before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'xbuild-hostile-fuzz-'));
  qemu = await standInQemuDir(join(tmp, 'qemu'));
  base = await baseParts();
  registry = await serveLayouts(tmp);
});
test.after.always(async () => { await registry?.stop(); await rm(tmp, { recursive: true, force: true }); });

type Doc = 'archive' | 'config' | 'manifest' | 'index';
const PATHS: Record<Doc, string[]> = {
  archive: ['', '0', '0.Config', '0.Layers', '0.Layers.0', '0.RepoTags', '0.RepoTags.0'],
  config: ['architecture', 'os', 'variant', 'os.version', 'config', 'config.Labels', 'config.Labels.a', 'config.Env', 'config.Env.0', 'history', 'history.0', 'history.0.created_by', 'history.0.empty_layer', 'rootfs', 'rootfs.type', 'rootfs.diff_ids', 'rootfs.diff_ids.0'],
  manifest: ['schemaVersion', 'mediaType', 'artifactType', 'config', 'config.mediaType', 'config.size', 'layers', 'layers.0', 'layers.0.mediaType', 'layers.0.size', 'layers.0.digest', 'annotations', 'subject'],
  index: ['schemaVersion', 'manifests', 'manifests.0', 'manifests.0.platform', 'manifests.0.platform.os', 'manifests.0.platform.architecture', 'manifests.0.platform.variant', 'manifests.0.platform.os.features', 'manifests.0.size', 'manifests.0.mediaType', 'manifests.0.artifactType', 'manifests.0.annotations', 'annotations'],
};

const DELETE = Symbol('delete');
const valueArb = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.constant(DELETE),
  fc.constantFrom(-1, 2 ** 53, 3 * 2 ** 30, 1e308, '', 'sha256:' + '0'.repeat(64), 'application/vnd.oci.empty.v1+json'),
  fc.integer({ min: 1, max: 3 * 2 ** 20 }).map((n) => 'x'.repeat(n)),
);
const caseArb = fc.record({
  transport: fc.constantFrom('oci', 'docker-archive', 'registry'),
  doc: fc.constantFrom<Doc>('archive', 'config', 'manifest', 'index'),
  pathIndex: fc.nat(),
  value: valueArb,
});

function setPath(root: unknown, path: string, value: unknown): unknown {
  if (path === '') return value === DELETE ? {} : value;
  const keys = path.split('.');
  let o = root as Record<string, unknown>;
  for (const k of keys.slice(0, -1)) {
    if (typeof o[k] !== 'object' || o[k] === null) o[k] = {};
    o = o[k] as Record<string, unknown>;
  }
  const last = keys.at(-1)!;
  if (value === DELETE) delete o[last]; else o[last] = value;
  return root;
}

let n = 0;
type Case = typeof caseArb extends fc.Arbitrary<infer T> ? T : never;
async function generate(c: Case): Promise<string> {
  const dir = join(tmp, `case${++n}`);
  if (c.transport === 'docker-archive' && c.doc === 'index') c.doc = 'archive';
  const mutate = (doc: Doc, v: unknown) => (c.doc === doc ? setPath(structuredClone(v), PATHS[doc][c.pathIndex % PATHS[doc].length]!, c.value) : v);
  const config = mutate('config', base.config);
  if (c.transport === 'docker-archive') {
    await writeDockerArchive(`${dir}.tar`, {
      base, config,
      manifest: (cfg, layer) => mutate('archive', [{ Config: cfg, RepoTags: ['fuzz:1'], Layers: [layer] }]),
    });
    return `docker-archive:${dir}.tar`;
  }
  const l = await new LayoutBuilder(dir).init();
  const cd = await l.put(config, 'application/vnd.oci.image.config.v1+json');
  const ld = await l.put(base.layerGz, 'application/vnd.oci.image.layer.v1.tar+gzip');
  const md = await l.put(mutate('manifest', { schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: cd, layers: [ld] }), 'application/vnd.oci.image.manifest.v1+json');
  const id = await l.put(mutate('index', { schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [{ ...md, platform: { os: 'linux', architecture: 'arm', variant: 'v7' } }] }), 'application/vnd.oci.image.index.v1+json');
  await l.tag(id);
  return c.transport === 'registry' ? `${registry.host}/case${n}:latest` : `oci:${dir}`;
}

function check(r: CliResult, allowed: number[], what: string): string | undefined {
  if (r.signal) return `${what}: killed by ${r.signal}`;
  if (r.code === null || !allowed.includes(r.code)) return `${what}: exit ${r.code}: ${r.stderr.slice(0, 1500)}`;
  if (r.code === 2) {
    const lines = r.stderr.split('\n').filter((x) => x.startsWith('xbuild:'));
    if (lines.length !== 1 || /\n\s+at |internal error/.test(r.stderr)) return `${what}: exit 2 without exactly one clean line: ${r.stderr.slice(0, 1500)}`;
  }
  return undefined;
}

const heap = ['--max-old-space-size=256'];
// Every transport at least once: a valid image from the registry (wrap succeeds, its result is unwrapped), and hostile registry documents.
const EXAMPLES: [Case][] = [
  [{ transport: 'registry', doc: 'config', pathIndex: 6, value: 'a label' }],
  [{ transport: 'registry', doc: 'manifest', pathIndex: 6, value: 7 }],
  [{ transport: 'registry', doc: 'index', pathIndex: 3, value: { os: 'linux', architecture: 'arm64' } }],
  [{ transport: 'docker-archive', doc: 'config', pathIndex: 2, value: 7 }],
  // found by seed 5901: a manifest whose mediaType is a number was wrapped (exit 0) into a layout skopeo refuses
  [{ transport: 'registry', doc: 'manifest', pathIndex: 1, value: 3221225472 }],
  [{ transport: 'oci', doc: 'manifest', pathIndex: 1, value: 3221225472 }],
];
const insecure = (src: string) => (src.startsWith(registry.host) ? ['--insecure-registry', registry.host] : []);

const seen = new Set<string>();
test(`fuzz (seed ${SEED}, ${RUNS} runs + fixed examples): wrap, verify and unwrap give exit 0/1 or one line with exit 2, never 70, a signal or a hang`, async (t) => {
  await fc.assert(fc.asyncProperty(caseArb, async (c) => {
    const src = await generate(c);
    const dest = join(tmp, `out${n}`);
    const w = await xbuildBin(['wrap', src, ...insecure(src), '--qemu-dir', qemu, '--output', `type=oci,dest=${dest}`, '-q'], { env: { HOME: tmp, XBUILD_CACHE_DIR: REAL_CACHE }, nodeArgs: heap, timeoutMs: 60_000 });
    const bad = check(w, [0, 2], `wrap ${JSON.stringify(c).slice(0, 300)}`);
    seen.add(`wrap ${c.transport} ${w.code}`);
    if (bad) throw new Error(bad);
    if (w.code === 0) {
      // exit 0 means a valid result: skopeo reads every blob and checks every digest
      await promisify(execFile)('skopeo', ['copy', '-q', '--all', `oci:${dest}`, `oci:${dest}-copy`]).catch((e: Error & { stderr?: string }) => {
        throw new Error(`wrap exit 0 but skopeo refuses the result (${JSON.stringify(c).slice(0, 300)}): ${e.stderr ?? e.message}`);
      });
    }
    const env = { HOME: tmp, XBUILD_CACHE_DIR: REAL_CACHE };
    const v = await xbuildBin(['verify', src, ...insecure(src)], { env, nodeArgs: heap, timeoutMs: 60_000 });
    const badV = check(v, [0, 1, 2], `verify ${JSON.stringify(c).slice(0, 300)}`);
    if (badV) throw new Error(badV);
    for (const [what, from] of [['unwrap', src], ...(w.code === 0 ? [['unwrap of the wrapped result', `oci:${dest}`]] : [])] as const) {
      const udest = join(tmp, `unwrapped${n}-${what.length}`);
      const u = await xbuildBin(['unwrap', from, ...insecure(from), '--output', `type=oci,dest=${udest}`, '-q'], { env, nodeArgs: heap, timeoutMs: 60_000 });
      const badU = check(u, [0, 2], `${what} ${JSON.stringify(c).slice(0, 300)}`);
      seen.add(`${what} ${c.transport} ${u.code}`);
      if (badU) throw new Error(badU);
      if (u.code === 0) {
        await promisify(execFile)('skopeo', ['copy', '-q', '--all', `oci:${udest}`, `oci:${udest}-copy`]).catch((e: Error & { stderr?: string }) => {
          throw new Error(`${what} exit 0 but skopeo refuses the result (${JSON.stringify(c).slice(0, 300)}): ${e.stderr ?? e.message}`);
        });
      }
    }
  }), { seed: SEED, numRuns: RUNS, endOnFailure: true, examples: EXAMPLES });
  // the campaign reached the paths it claims to: a registry source wrapped, its result unwrapped, a bad registry document refused
  for (const k of ['wrap registry 0', 'unwrap of the wrapped result registry 0', 'wrap registry 2', 'unwrap registry 2']) t.true(seen.has(k), `${k} (seen: ${[...seen].join(', ')})`);
});
