// Cache key of one emulator build: every input that changes the binaries.
import { createHash } from 'node:crypto';
import type { QemuArch } from '../oci/platform.ts';

export interface BuildInputs {
  qemuVersion: string;
  /** sha256 of the source tarball, or of the tree's file contents for a directory. */
  sourceSha256: string;
  seriesHash: string;
  targets: QemuArch[];
  buildOptions: EmulatorBuildOptions;
}

/** configure flags, post-processing (strip) and the gcc profile (src/qemu/pgo.ts) that shape the output. */
export interface EmulatorBuildOptions {
  configure: string[];
  strip: boolean;
  /** sha256 of the profile archive compiled with, when one was. */
  profileSha256?: string;
}

/** 20 hex digits of sha256 over a canonical rendering of the inputs (targets sorted). */
export function buildKey(inputs: BuildInputs): string {
  const canonical = JSON.stringify({
    qemuVersion: inputs.qemuVersion,
    sourceSha256: inputs.sourceSha256,
    seriesHash: inputs.seriesHash,
    targets: [...inputs.targets].sort(),
    configure: inputs.buildOptions.configure,
    strip: inputs.buildOptions.strip,
    profile: inputs.buildOptions.profileSha256 ?? null,
  });
  return createHash('sha256').update(canonical).digest('hex').slice(0, 20);
}
