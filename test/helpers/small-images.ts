// Fixture base images built by scripts/fixtures/small-images.sh (cached), and
// a stand-in xbuild layer (Debian's qemu-*-static + placeholder shim scripts)
// for tests that run before the real patched emulator and shims exist.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { LayerEntry } from '../../src/layer/entry.ts';
import type { LayerSource } from '../../src/wrap/wrap.ts';
import { emulatorVersion } from '../../src/wrap/layer-source.ts';
import { CROSS_BUILD_END, CROSS_BUILD_START, emulatorInImage } from '../../src/contract/in-image.ts';

let cached: Promise<string> | undefined;

/** Directory with armhf/ armel/ arm64/ amd64/ armhf-docker/ multi/ (OCI layouts) and qemu/. */
export function smallImages(): Promise<string> {
  return (cached ??= (async () => {
    try {
      const { stdout } = await promisify(execFile)('bash', ['scripts/fixtures/small-images.sh'], { maxBuffer: 1 << 24 });
      return stdout.trim().split('\n').pop()!;
    } catch (e) {
      const err = e as Error & { stderr?: string };
      throw new Error(`scripts/fixtures/small-images.sh failed (needs apt access to Debian, jq, dpkg-deb): ${err.stderr ?? err.message}`);
    }
  })());
}

/** Stand-in layer: Debian's static emulator + shell placeholders for cross-build-start/end. */
export function standInLayerSource(qemuDir: string): LayerSource {
  return async (arch) => {
    const emu = join(qemuDir, `qemu-${arch}-static`);
    const size = (await stat(emu)).size;
    const entries: LayerEntry[] = [
      { path: emulatorInImage(arch), type: 'file', mode: 0o755, size, content: async () => createReadStream(emu) },
      { path: CROSS_BUILD_START, type: 'file', mode: 0o755, content: Buffer.from('#!/bin/sh\necho stand-in cross-build-start\n') },
      { path: CROSS_BUILD_END, type: 'file', mode: 0o755, content: Buffer.from('#!/bin/sh\necho stand-in cross-build-end\n') },
    ];
    return { entries, qemuVersion: await emulatorVersion(emu) };
  };
}

export async function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv } = {}): Promise<{ stdout: string; stderr: string }> {
  return promisify(execFile)(cmd, args, { maxBuffer: 1 << 26, ...opts });
}
