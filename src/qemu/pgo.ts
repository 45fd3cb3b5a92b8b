// Profile-guided optimisation of the emulators. The profile is gcc's .gcda files
// from one instrumented build's training run (bench/pgo/train.ts), packed in
// patches/pgo/ next to the series it was made from. `xbuild qemu build` compiles
// with it when it was made from the same QEMU source, series, configure flags and
// compiler; otherwise it builds without it and says why (build.json `profile`).
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { XbuildError } from '../errors.ts';
import type { QemuArch } from '../oci/platform.ts';

/** Folder of the patches dir holding the profile. */
export const PROFILE_DIR = 'pgo';
export const PROFILE_MANIFEST = 'profile.json';
export const PROFILE_ARCHIVE = 'profile.tar.xz';
/** The guest-side training script (run by bench/pgo/train.ts in each workload tree). */
export const TRAINING_SCRIPT = 'train.sh';

/** configure flags of an instrumented (training) build. `--enable-gcov` makes QEMU's exit path write the counters. */
export const INSTRUMENT_CONFIGURE: readonly string[] = [
  '--enable-gcov',
  '--extra-cflags=-fprofile-generate -fprofile-update=prefer-atomic',
  '--extra-ldflags=-fprofile-generate',
];

/**
 * configure flag of a build that uses the profile. Code the training never ran is
 * optimised as without a profile (`-fprofile-partial-training`): the targets that
 * were not trained keep their usual code. A function whose profile does not match
 * is compiled without one and counted (gcc's `-Wcoverage-mismatch`, see PROFILE_WARNING).
 */
export const PROFILE_USE_CONFIGURE: readonly string[] = [
  '--extra-cflags=-fprofile-use -fprofile-partial-training -fprofile-correction -Wno-missing-profile -Wno-error=coverage-mismatch',
];

/** How gcc tags a function compiled without its profile, or one whose source lines moved (its profile still used). */
export const PROFILE_WARNING = '[-Wcoverage-mismatch]';

/** patches/pgo/profile.json */
export interface ProfileManifest {
  schema: 1;
  qemuVersion: string;
  sourceSha256: string;
  seriesHash: string;
  /** CONFIGURE_FLAGS of the instrumented build (without INSTRUMENT_CONFIGURE). */
  configure: string[];
  /** First line of `cc --version` of the machine that made it. */
  compiler: string;
  /** Targets of the instrumented build. */
  targets: QemuArch[];
  /** Which emulators ran the training, on which tree, how often. */
  trained: { arch: QemuArch; tree: string; runs: number; seconds: number[] }[];
  trainingScriptSha256: string;
  archiveSha256: string;
  files: number;
  madeAt: string;
}

export interface Profile { dir: string; manifest: ProfileManifest; archive: string }

/** The profile of a patches dir, or undefined when it has none. A damaged one is an error. */
export async function readProfile(patchesDir: string): Promise<Profile | undefined> {
  const dir = join(patchesDir, PROFILE_DIR);
  const manifestPath = join(dir, PROFILE_MANIFEST);
  if (!existsSync(manifestPath)) return undefined;
  let manifest: ProfileManifest;
  try {
    manifest = JSON.parse(await readFile(manifestPath, 'utf8')) as ProfileManifest;
  } catch (err) {
    throw new XbuildError('QEMU_SOURCE', `${manifestPath}: not JSON (${(err as Error).message}); regenerate it with npm run pgo:train`);
  }
  if (manifest.schema !== 1) throw new XbuildError('QEMU_SOURCE', `${manifestPath}: unknown schema ${String(manifest.schema)}; regenerate it with npm run pgo:train`);
  const archive = join(dir, PROFILE_ARCHIVE);
  const bytes = await readFile(archive).catch(() => {
    throw new XbuildError('QEMU_SOURCE', `${archive}: missing next to ${PROFILE_MANIFEST}; regenerate it with npm run pgo:train`);
  });
  const sha = createHash('sha256').update(bytes).digest('hex');
  if (sha !== manifest.archiveSha256) {
    throw new XbuildError('QEMU_SOURCE', `${archive}: sha256 ${sha} is not the ${manifest.archiveSha256} of ${PROFILE_MANIFEST}; regenerate it with npm run pgo:train`);
  }
  return { dir, manifest, archive };
}

export interface ProfileInputs {
  qemuVersion: string;
  sourceSha256: string;
  seriesHash: string;
  configure: readonly string[];
  compiler: string;
}

/** Why the profile does not fit this build, or undefined when it does. */
export function profileMismatch(m: ProfileManifest, b: ProfileInputs): string | undefined {
  if (m.qemuVersion !== b.qemuVersion || m.sourceSha256 !== b.sourceSha256) {
    return `it was made from QEMU ${m.qemuVersion} (source sha256 ${m.sourceSha256.slice(0, 12)}), this build is of ${b.qemuVersion} (${b.sourceSha256.slice(0, 12)})`;
  }
  if (m.seriesHash !== b.seriesHash) return `it was made from patch series ${m.seriesHash.slice(0, 12)}, this build applies ${b.seriesHash.slice(0, 12)}`;
  if (JSON.stringify(m.configure) !== JSON.stringify(b.configure)) return 'it was made with other configure flags';
  if (m.compiler !== b.compiler) return `it was made with '${m.compiler}', this machine's cc is '${b.compiler}'`;
  return undefined;
}

/** build.json `profile`: how a build used the profile. */
export type ProfileUse =
  | { used: true; archiveSha256: string; trained: QemuArch[]; mismatchWarnings: number }
  | { used: false; reason: string }
  | { instrumented: true; objectDir: string };

/** Lines of the build log carrying PROFILE_WARNING: a function compiled without its profile (gcc prints one line per counter), or one whose source lines moved (its profile is still used). */
export function countProfileWarnings(log: string): number {
  let n = 0;
  for (const line of log.split('\n')) if (line.includes(PROFILE_WARNING)) n++;
  return n;
}

/** What a build does about the profile: the configure flags it adds, and the profile or why there is none. */
export interface ProfilePlan { configure: readonly string[]; instrument?: true; profile?: Profile; reason?: string }

/** The plan of a build from patchesDir: instrumented (training), turned off, or the profile when it fits. */
export async function planProfile(o: { instrument?: boolean; profile?: boolean }, patchesDir: string, inputs: ProfileInputs): Promise<ProfilePlan> {
  if (o.instrument) return { configure: INSTRUMENT_CONFIGURE, instrument: true };
  if (o.profile === false) return { configure: [], reason: 'turned off (--no-profile)' };
  const profile = await readProfile(patchesDir);
  if (!profile) return { configure: [], reason: `${patchesDir} has no ${PROFILE_DIR}/${PROFILE_MANIFEST}` };
  const why = profileMismatch(profile.manifest, inputs);
  if (why) return { configure: [], reason: `the profile in ${profile.dir} does not fit: ${why}` };
  return { configure: PROFILE_USE_CONFIGURE, profile };
}

/** The build's progress line about the profile. */
export function describePlan(plan: ProfilePlan): string {
  if (plan.instrument) return 'gcc profile: instrumented training build';
  if (!plan.profile) return `gcc profile: not used: ${plan.reason!}`;
  return `gcc profile: ${plan.profile.archive} (trained on ${plan.profile.manifest.trained.map((t) => t.arch).join(', ')})`;
}

/** build.json `profile` of a finished build: from its plan, its log and (for a training build) where its objects are. */
export function profileUse(plan: ProfilePlan, log: string, objectDir: string): ProfileUse {
  if (plan.instrument) return { instrumented: true, objectDir };
  if (!plan.profile) return { used: false, reason: plan.reason! };
  const m = plan.profile.manifest;
  return { used: true, archiveSha256: m.archiveSha256, trained: m.trained.map((t) => t.arch), mismatchWarnings: countProfileWarnings(log) };
}
