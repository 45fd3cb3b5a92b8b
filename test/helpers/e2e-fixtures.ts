// Runs the committed fixture scripts (cached by their inputs) and pushes
// their OCI layouts to a test registry with skopeo.
import { join } from 'node:path';
import { runOk, requireTool } from './e2e-exec.ts';

const ROOT = new URL('../..', import.meta.url).pathname;

/** Directory holding busybox-{armv6,armv7,arm64,amd64} OCI layouts (tag = name). */
export async function busyboxImages(): Promise<string> {
  const r = await runOk('building busybox fixture images (scripts/fixtures/busybox-images.sh)', 'bash',
    [join(ROOT, 'scripts/fixtures/busybox-images.sh')], { timeoutMs: 15 * 60_000 });
  return r.stdout.trim().split('\n').pop()!;
}

/** Directory holding the debian-bookworm-<arch> OCI layout (tag = that name). */
export async function debianImage(arch: 'armhf' | 'arm64'): Promise<string> {
  const r = await runOk(`building the Debian ${arch} fixture image (scripts/fixtures/debian-images.sh ${arch})`, 'bash',
    [join(ROOT, 'scripts/fixtures/debian-images.sh'), arch], { timeoutMs: 40 * 60_000 });
  return r.stdout.trim().split('\n').pop()!;
}

/** skopeo copy oci:DIR/NAME:NAME docker://HOST/REPO (plain HTTP to loopback). */
export async function pushLayout(layoutParent: string, name: string, ref: string): Promise<void> {
  await requireTool('/usr/bin/skopeo', 'skopeo');
  await runOk(`pushing fixture ${name} to ${ref}`, '/usr/bin/skopeo',
    ['copy', '--quiet', '--dest-tls-verify=false', `oci:${join(layoutParent, name)}:${name}`, `docker://${ref}`],
    { timeoutMs: 10 * 60_000 });
}
