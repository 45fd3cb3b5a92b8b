// Interoperability with skopeo (containers/image): images skopeo pushes are
// read by RegistryClient (every blob verified), and images RegistryClient
// pushes are inspected and copied by skopeo, in all three auth modes.
import test from 'ava';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync as mkdtempRaw, rmSync, mkdirSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync, gunzipSync } from 'node:zlib';
import { Readable } from 'node:stream';
import { pack } from 'tar-stream';
import { RegistryClient } from '../src/registry/client.ts';
import { OCI_IMAGE_MANIFEST } from '../src/oci/media-types.ts';
import { sha256Digest, digestStream } from '../src/oci/digest.ts';
import { parseRegistryReference } from '../src/oci/reference.ts';
import type { Descriptor, ImageManifest } from '../src/oci/model.ts';
import { startRegistry, type TestRegistry } from './helpers/registry.ts';

// Temp dirs made by this file, removed after its tests.
const tempDirs: string[] = [];
const mkdtempSync = (prefix: string) => { const d = mkdtempRaw(prefix); tempDirs.push(d); return d; };
test.after.always(() => { for (const d of tempDirs) rmSync(d, { recursive: true, force: true }); });

const run = promisify(execFile);

async function skopeo(args: string[]): Promise<string> {
  try {
    const { stdout } = await run('skopeo', ['--insecure-policy', ...args], { env: { PATH: '/usr/bin:/bin', HOME: tmpdir() } });
    return stdout;
  } catch (err) {
    const e = err as { code?: string; stderr?: string; message: string };
    if (e.code === 'ENOENT') throw new Error('skopeo is not installed (scripts/install-system-deps.sh installs it)');
    throw new Error(`skopeo ${args.join(' ')} failed: ${e.stderr ?? e.message}`);
  }
}

async function tarGz(files: Record<string, string>): Promise<Buffer> {
  const p = pack();
  for (const [name, content] of Object.entries(files)) p.entry({ name, mtime: new Date(0), uid: 0, gid: 0, mode: 0o644 }, content);
  p.finalize();
  const parts: Buffer[] = [];
  for await (const c of p) parts.push(c as Buffer);
  return gzipSync(Buffer.concat(parts));
}

/** A tiny OCI image layout (one layer) written the way the image-spec says. */
async function ociLayout(tag: string): Promise<{ dir: string; layer: Buffer; config: Buffer; manifest: Buffer }> {
  const dir = mkdtempSync(join(tmpdir(), 'xbuild-oci-'));
  mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
  const put = (b: Buffer) => { const d = sha256Digest(b); writeFileSync(join(dir, 'blobs', 'sha256', d.slice(7)), b); return d; };
  const tar = await tarGz({ 'etc/hello': `hello ${tag}\n` });
  const diffId = sha256Digest(gunzipSync(tar));
  const config = Buffer.from(JSON.stringify({ architecture: 'arm', variant: 'v7', os: 'linux', rootfs: { type: 'layers', diff_ids: [diffId] }, history: [{ created_by: 'test' }] }));
  const layerDesc: Descriptor = { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: put(tar), size: tar.length };
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_IMAGE_MANIFEST,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: put(config), size: config.length }, layers: [layerDesc] }));
  const md = put(manifest);
  writeFileSync(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  writeFileSync(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: OCI_IMAGE_MANIFEST, digest: md, size: manifest.length, annotations: { 'org.opencontainers.image.ref.name': tag } }] }));
  return { dir, layer: tar, config, manifest };
}

for (const auth of ['none', 'htpasswd', 'token'] as const) {
  let reg: TestRegistry;
  let creds: string[];
  test.before(async () => {
    reg = await startRegistry({ auth });
    creds = reg.username ? [`--creds=${reg.username}:${reg.password}`] : [];
  });
  test.after.always(async () => { await reg?.stop(); });

  test.serial(`[${auth}] pushed by skopeo, read by RegistryClient`, async (t) => {
    const src = await ociLayout('v1');
    await skopeo(['copy', '--dest-tls-verify=false', ...creds.map((c) => c.replace('--creds', '--dest-creds')), `oci:${src.dir}:v1`, `docker://${reg.host}/interop/from-skopeo:v1`]);
    const c = new RegistryClient({ env: { DOCKER_CONFIG: reg.dockerConfig() }, retry: { attempts: 1 } });
    t.teardown(() => c.close());
    const m = await c.getManifest(parseRegistryReference(`${reg.host}/interop/from-skopeo:v1`));
    const manifest = JSON.parse(m.body.toString()) as ImageManifest;
    const repo = { registry: reg.host, repository: 'interop/from-skopeo' };
    t.is(manifest.layers.length, 1);
    for (const d of [manifest.config, ...manifest.layers]) {
      const got = await digestStream(await c.getBlob(repo, d));
      t.deepEqual(got, { digest: d.digest, size: d.size });
    }
    t.is(manifest.layers[0]!.digest, sha256Digest(src.layer), 'the layer bytes are unchanged');
    const head = await c.headManifest(parseRegistryReference(`${reg.host}/interop/from-skopeo:v1`));
    t.is(head?.digest, m.digest);
  });

  test.serial(`[${auth}] pushed by RegistryClient, inspected and copied by skopeo`, async (t) => {
    const src = await ociLayout('v2');
    const c = new RegistryClient({ env: { DOCKER_CONFIG: reg.dockerConfig() }, retry: { attempts: 1 } });
    t.teardown(() => c.close());
    const repo = { registry: reg.host, repository: 'interop/from-xbuild' };
    const manifest = JSON.parse(src.manifest.toString()) as ImageManifest;
    await c.pushBlob(repo, manifest.layers[0]!, async () => Readable.from([src.layer]));
    await c.pushBlob(repo, manifest.config, async () => Readable.from([src.config]));
    const digest = await c.putManifest(parseRegistryReference(`${reg.host}/interop/from-xbuild:v2`), OCI_IMAGE_MANIFEST, src.manifest);
    const inspect = JSON.parse(await skopeo(['inspect', '--tls-verify=false', ...creds, `docker://${reg.host}/interop/from-xbuild:v2`])) as { Digest: string; Architecture: string; Layers: string[] };
    t.is(inspect.Digest, digest);
    t.is(inspect.Architecture, 'arm');
    t.deepEqual(inspect.Layers, [manifest.layers[0]!.digest]);
    const out = mkdtempSync(join(tmpdir(), 'xbuild-oci-out-'));
    await skopeo(['copy', '--src-tls-verify=false', ...creds.map((x) => x.replace('--creds', '--src-creds')), `docker://${reg.host}/interop/from-xbuild:v2`, `oci:${out}:copied`]);
    const copied = readFileSync(join(out, 'blobs', 'sha256', manifest.layers[0]!.digest.slice(7)));
    t.true(copied.equals(src.layer));
  });
}
