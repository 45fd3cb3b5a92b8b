// The default source: the pinned upstream tarball, downloaded once and checked.
import { createHash } from 'node:crypto';
import { mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { XbuildError } from '../errors.ts';
import type { OnProgress } from '../progress.ts';
import { PINNED_QEMU } from './pinned.ts';
import { sha256File } from './source.ts';

export type FetchLike = (url: string) => Promise<Response>;

export interface PinnedTarball { url: string; version: string; sha256: string }

/** Downloads `pin` into dir (kept between runs) and returns the checked file's path. */
export async function fetchPinnedTarball(dir: string, opts: { pin?: PinnedTarball; fetchImpl?: FetchLike; onProgress?: OnProgress } = {}): Promise<string> {
  const pin = opts.pin ?? PINNED_QEMU;
  const file = join(dir, pin.url.slice(pin.url.lastIndexOf('/') + 1));
  if (await stat(file).then(() => true, () => false)) {
    if ((await sha256File(file)) === pin.sha256) return file;
    await rm(file, { force: true });
  }
  const noSource = 'pass --source DIR|TARBALL (a QEMU tree, a qemu-X.Y.Z.tar.xz, or Debian\'s source package: apt-get source --download-only qemu, then --source qemu_*.dsc)';
  let res: Response;
  try {
    res = await (opts.fetchImpl ?? fetch)(pin.url);
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    const why = cause?.code ?? cause?.message ?? (err as Error).message;
    throw new XbuildError('NETWORK', `cannot download QEMU ${pin.version} from ${pin.url} (${why}); ${noSource}`);
  }
  if (!res.ok || !res.body) {
    throw new XbuildError('NETWORK', `cannot download QEMU ${pin.version} from ${pin.url} (HTTP ${res.status}); ${noSource}`);
  }
  const total = Number(res.headers.get('content-length')) || undefined;
  const h = createHash('sha256');
  const chunks: Uint8Array[] = [];
  let done = 0;
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    h.update(chunk); chunks.push(chunk); done += chunk.length;
    opts.onProgress?.({ kind: 'bytes', id: 'qemu-tarball', label: `qemu-${pin.version}.tar.xz`, done, total });
  }
  const got = h.digest('hex');
  if (got !== pin.sha256) {
    throw new XbuildError('DIGEST_MISMATCH', `${pin.url}: sha256 ${got}, expected ${pin.sha256}; ${noSource}`);
  }
  await mkdir(dir, { recursive: true });
  await writeFile(`${file}.part`, Buffer.concat(chunks));
  await rename(`${file}.part`, file);
  opts.onProgress?.({ kind: 'done', id: 'qemu-tarball', label: `qemu-${pin.version}.tar.xz` });
  return file;
}
