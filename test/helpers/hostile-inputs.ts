// Generator of malformed and hostile local inputs for `wrap` / `verify`:
// docker-archives and OCI layouts built from a small valid linux/arm/v7 image
// with one part broken (wrong JSON types, missing fields, corrupt or odd blobs,
// tar headers with absurd sizes). Everything is written into a directory the
// caller owns (a temp dir); nothing is committed as an opaque binary.
import { createHash } from 'node:crypto';
import { chmod, copyFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import tar from 'tar-stream';
import { NT_XBUILD_EXECVE, XBUILD_NOTE_NAME } from '../../src/contract/in-image.ts';

export const sha = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const json = (v: unknown) => Buffer.from(JSON.stringify(v));

/** A tar (uncompressed) of the given files, pinned mtime. */
export async function tarOf(files: Record<string, string | Buffer>): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c) => { chunks.push(c as Buffer); });
  const end = new Promise<void>((r) => { pack.on('end', () => r()); });
  for (const [name, data] of Object.entries(files)) pack.entry({ name, mtime: new Date(0), mode: 0o644 }, data);
  pack.finalize();
  await end;
  return Buffer.concat(chunks);
}

export interface BaseParts {
  layerTar: Buffer;
  layerGz: Buffer;
  config: Record<string, unknown>;
}

/** The valid starting point: one layer holding /etc/os-release, config linux/arm/v7. */
export async function baseParts(platform: { architecture: string; variant?: string } = { architecture: 'arm', variant: 'v7' }, files: Record<string, string | Buffer> = {}): Promise<BaseParts> {
  const layerTar = await tarOf({ 'etc/os-release': 'ID=hostile\n', ...files });
  const layerGz = gzipSync(layerTar, { level: 9 });
  const config = {
    architecture: platform.architecture, os: 'linux', ...(platform.variant ? { variant: platform.variant } : {}),
    config: { Env: ['PATH=/usr/bin:/bin'], Labels: { a: 'b' } },
    rootfs: { type: 'layers', diff_ids: [sha(layerTar)] },
    history: [{ created: '1970-01-01T00:00:00Z', created_by: 'hostile-inputs' }],
  };
  return { layerTar, layerGz, config };
}

/** docker-archive with manifest.json `manifest` (default: the valid one) and the config given (raw bytes or a value). */
export async function writeDockerArchive(file: string, opts: { config?: unknown; manifest?: (cfgName: string, layerName: string) => unknown; base?: BaseParts } = {}): Promise<void> {
  const base = opts.base ?? await baseParts();
  const cfg = Buffer.isBuffer(opts.config) ? opts.config : json(opts.config ?? base.config);
  const cfgName = `${sha(cfg).slice(7)}.json`;
  const layerName = 'layer1/layer.tar';
  const manifest = opts.manifest ? opts.manifest(cfgName, layerName) : [{ Config: cfgName, RepoTags: ['hostile:1'], Layers: [layerName] }];
  await writeFile(file, await tarOf({ [cfgName]: cfg, [layerName]: base.layerTar, 'manifest.json': json(manifest) }));
}

/** A content-addressed OCI layout being assembled. */
export class LayoutBuilder {
  constructor(readonly dir: string) {}
  async init(): Promise<this> {
    await mkdir(join(this.dir, 'blobs', 'sha256'), { recursive: true });
    await writeFile(join(this.dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    return this;
  }
  path(digest: string): string { return join(this.dir, 'blobs', 'sha256', digest.slice(7)); }
  async put(data: Buffer | unknown, mediaType: string): Promise<{ mediaType: string; digest: string; size: number }> {
    const b = Buffer.isBuffer(data) ? data : json(data);
    await writeFile(this.path(sha(b)), b);
    return { mediaType, digest: sha(b), size: b.length };
  }
  /** An image manifest over `config` (value or bytes) and the base layer; returns its descriptor. */
  async image(base: BaseParts, config: unknown = base.config, extra: Record<string, unknown> = {}): Promise<{ mediaType: string; digest: string; size: number }> {
    const c = await this.put(config, 'application/vnd.oci.image.config.v1+json');
    const l = await this.put(base.layerGz, 'application/vnd.oci.image.layer.v1.tar+gzip');
    return this.put({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: c, layers: [l], ...extra }, 'application/vnd.oci.image.manifest.v1+json');
  }
  async index(manifests: unknown[]): Promise<{ mediaType: string; digest: string; size: number }> {
    return this.put({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests }, 'application/vnd.oci.image.index.v1+json');
  }
  async tag(desc: Record<string, unknown>, tag = 'latest'): Promise<void> {
    await writeFile(join(this.dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ ...desc, annotations: { 'org.opencontainers.image.ref.name': tag } }] }));
  }
}

/** An OCI 1.1 artifact (SBOM) manifest: artifactType + the empty config. */
export async function sbomArtifact(l: LayoutBuilder, subject: { mediaType: string; digest: string; size: number }) {
  const empty = await l.put(Buffer.from('{}'), 'application/vnd.oci.empty.v1+json');
  const sbom = await l.put(json({ spdxVersion: 'SPDX-2.3', name: 'hostile' }), 'application/spdx+json');
  return l.put({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', artifactType: 'application/spdx+json',
    config: empty, layers: [sbom], subject,
  }, 'application/vnd.oci.image.manifest.v1+json');
}

/**
 * A ~2 KB tar whose first header is a PAX `x` (or GNU `L`) record claiming
 * `claim` bytes, or a regular file whose size field is base-256 `claim`.
 */
export function tarWithHugeHeader(kind: 'pax' | 'gnu-long-name' | 'base256', claim: number): Buffer {
  const h = Buffer.alloc(512);
  h.write(kind === 'base256' ? 'big.bin' : '././@LongLink', 0);
  h.write('0000644\0', 100); h.write('0000000\0', 108); h.write('0000000\0', 116);
  if (kind === 'base256') {
    h[124] = 0x80;
    let v = claim;
    for (let i = 135; i > 124; i--) { h[i] = v % 256; v = Math.floor(v / 256); }
  } else {
    h.write(`${claim.toString(8).padStart(11, '0')}\0`, 124);
  }
  h.write('00000000000\0', 136);
  h[156] = (kind === 'pax' ? 'x' : kind === 'gnu-long-name' ? 'L' : '0').charCodeAt(0);
  h.write('ustar\0', 257); h.write('00', 263);
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  return Buffer.concat([h, Buffer.alloc(1536, 0x61)]);
}

/**
 * --qemu-dir stand-in: a tiny static x86_64 program carrying xbuild's
 * execve-emulator note (what wrap's emulator check asks for); it only exits 0,
 * which is all wrap does with it (`--version`). Built with gcc, as the shim is.
 * `desc` is the note's description (a real emulator's: "execve-intercept series=<N> qemu=<version>").
 */
export async function standInQemuDir(dir: string, desc = 'hostile stand-in'): Promise<string> {
  await mkdir(dir, { recursive: true });
  const src = join(dir, 'stand-in.c');
  await writeFile(src, `__asm__(".pushsection .note.xbuild,\\"a\\",@note\\n.balign 4\\n.long 2f - 1f\\n.long 4f - 3f\\n.long ${NT_XBUILD_EXECVE}\\n"
  "1: .asciz \\"${XBUILD_NOTE_NAME}\\"\\n2: .balign 4\\n3: .ascii \\"${desc}\\"\\n4: .balign 4\\n.popsection\\n");
void _start(void) { __asm__ volatile("mov $60, %eax\\n xor %edi, %edi\\n syscall"); }
`);
  const bin = join(dir, 'stand-in');
  await promisify(execFile)('gcc', ['-static', '-nostdlib', '-O2', '-o', bin, src]);
  for (const a of ['arm', 'aarch64']) {
    await copyFile(bin, join(dir, `qemu-${a}-static`));
    await chmod(join(dir, `qemu-${a}-static`), 0o755);
  }
  return dir;
}
