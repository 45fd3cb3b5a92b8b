// The gcc profile of the emulators (src/qemu/pgo.ts): when a build uses it, when it
// does not and says why, and that the shipped profile fits the shipped series and
// was used by the emulators the tests run.
import test from 'ava';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { XbuildError } from '../src/errors.ts';
import { readBuildRecord } from '../src/qemu/cache.ts';
import { CONFIGURE_FLAGS } from '../src/qemu/build-options.ts';
import { buildKey } from '../src/qemu/key.ts';
import {
  countProfileWarnings, planProfile, PROFILE_ARCHIVE, PROFILE_DIR, PROFILE_MANIFEST, PROFILE_USE_CONFIGURE, describePlan, profileUse,
  readProfile, type ProfileInputs, type ProfileManifest,
} from '../src/qemu/pgo.ts';
import { defaultPatchesDir, readSeries } from '../src/qemu/series.ts';
import { findEmulator } from './helpers/emulators.ts';

const sha = (b: string | Buffer) => createHash('sha256').update(b).digest('hex');

const inputs: ProfileInputs = {
  qemuVersion: '10.2.2', sourceSha256: 'a'.repeat(64), seriesHash: 'b'.repeat(64), configure: [...CONFIGURE_FLAGS], compiler: 'gcc (Debian 12.2.0-14+deb12u1) 12.2.0',
};

/** A patches dir whose pgo/ holds `archive` and a manifest made for `inputs` (changed by `edit`). */
async function patchesWithProfile(archive: string, edit: Partial<ProfileManifest> = {}): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'xbuild-pgo-test-'));
  const pgo = join(dir, PROFILE_DIR);
  await mkdir(pgo);
  await writeFile(join(pgo, PROFILE_ARCHIVE), archive);
  const m: ProfileManifest = {
    schema: 1, qemuVersion: inputs.qemuVersion, sourceSha256: inputs.sourceSha256, seriesHash: inputs.seriesHash,
    configure: [...inputs.configure], compiler: inputs.compiler, targets: ['aarch64', 'arm'],
    trained: [{ arch: 'arm', tree: 't', runs: 3, seconds: [1, 1, 1] }], trainingScriptSha256: '0'.repeat(64),
    archiveSha256: sha(archive), files: 1, madeAt: '2026-12-01T00:00:00.000Z', ...edit,
  };
  await writeFile(join(pgo, PROFILE_MANIFEST), JSON.stringify(m));
  return dir;
}

test('a fitting profile is used: its configure flag, its archive in the plan', async (t) => {
  const dir = await patchesWithProfile('pretend archive');
  try {
    const plan = await planProfile({}, dir, inputs);
    t.deepEqual(plan.configure, PROFILE_USE_CONFIGURE);
    t.is(plan.profile?.archive, join(dir, PROFILE_DIR, PROFILE_ARCHIVE));
    const log = 'a.c:1: warning: the control flow of function f does not match its profile data (counter arcs) [-Wcoverage-mismatch]\nother line\n';
    t.deepEqual(profileUse(plan, log, '/objects'), { used: true, archiveSha256: sha('pretend archive'), trained: ['arm'], mismatchWarnings: 1 });
    t.regex(describePlan(plan), /^gcc profile: .*profile\.tar\.xz \(trained on arm\)$/);
    const instrumented = await planProfile({ instrument: true }, dir, inputs);
    t.is(instrumented.instrument, true);
    t.is(instrumented.profile, undefined, 'a training build never uses a profile');
    t.true(instrumented.configure.some((f) => f.includes('-fprofile-generate')));
    t.deepEqual(profileUse(instrumented, log, '/objects'), { instrumented: true, objectDir: '/objects' });
    t.is(describePlan(instrumented), 'gcc profile: instrumented training build');
    const off = await planProfile({ profile: false }, dir, inputs);
    t.deepEqual(off, { configure: [], reason: 'turned off (--no-profile)' });
    t.deepEqual(profileUse(off, log, '/objects'), { used: false, reason: 'turned off (--no-profile)' });
    t.is(describePlan(off), 'gcc profile: not used: turned off (--no-profile)');
  } finally { await rm(dir, { recursive: true, force: true }); }
});

test('a profile of another source, series, configure or compiler is not used, and the reason names which', async (t) => {
  const dir = await patchesWithProfile('x');
  try {
    const cases: [Partial<ProfileInputs>, RegExp][] = [
      [{ qemuVersion: '10.0.13' }, /made from QEMU 10\.2\.2 .* this build is of 10\.0\.13/],
      [{ sourceSha256: 'c'.repeat(64) }, /source sha256 aaaaaaaaaaaa.*\(cccccccccccc\)/],
      [{ seriesHash: 'd'.repeat(64) }, /patch series bbbbbbbbbbbb, this build applies dddddddddddd/],
      [{ configure: [...CONFIGURE_FLAGS, '--enable-debug'] }, /other configure flags/],
      [{ compiler: 'gcc (Ubuntu 13.2.0) 13.2.0' }, /made with 'gcc \(Debian 12\.2\.0-14\+deb12u1\) 12\.2\.0', this machine's cc is 'gcc \(Ubuntu 13\.2\.0\) 13\.2\.0'/],
    ];
    for (const [change, why] of cases) {
      const plan = await planProfile({}, dir, { ...inputs, ...change });
      t.deepEqual(plan.configure, [], JSON.stringify(change));
      t.is(plan.profile, undefined);
      t.regex(plan.reason!, why);
      t.true(plan.reason!.startsWith(`the profile in ${join(dir, PROFILE_DIR)} does not fit: `));
    }
    const none = await planProfile({}, tmpdir(), inputs);
    t.is(none.reason, `${tmpdir()} has no ${PROFILE_DIR}/${PROFILE_MANIFEST}`);
  } finally { await rm(dir, { recursive: true, force: true }); }
});

test('a damaged profile is an error naming the file and the fix, never a silent build without it', async (t) => {
  const bad = await patchesWithProfile('archive', { archiveSha256: '1'.repeat(64) });
  const json = await patchesWithProfile('archive');
  const schema = await patchesWithProfile('archive', { schema: 2 as 1 });
  try {
    await writeFile(join(json, PROFILE_DIR, PROFILE_MANIFEST), '{ not json');
    const cases: [string, RegExp][] = [
      [bad, /profile\.tar\.xz: sha256 [0-9a-f]{64} is not the 1{64} of profile\.json; regenerate it with npm run pgo:train/],
      [json, /profile\.json: not JSON .*; regenerate it with npm run pgo:train/],
      [schema, /profile\.json: unknown schema 2; regenerate/],
    ];
    for (const [dir, msg] of cases) {
      const e = await t.throwsAsync(readProfile(dir));
      t.true(e instanceof XbuildError && e.code === 'QEMU_SOURCE');
      t.regex(e!.message, msg);
    }
    await rm(join(bad, PROFILE_DIR, PROFILE_ARCHIVE));
    t.regex((await t.throwsAsync(readProfile(bad)))!.message, /profile\.tar\.xz: missing next to profile\.json/);
  } finally { for (const d of [bad, json, schema]) await rm(d, { recursive: true, force: true }); }
});

test('the profile is part of the cache key; gcc mismatch warnings are counted per line', (t) => {
  const base = { qemuVersion: '10.2.2', sourceSha256: 'a'.repeat(64), seriesHash: 'b'.repeat(64), targets: ['arm' as const], buildOptions: { configure: [...CONFIGURE_FLAGS], strip: true } };
  const k = buildKey(base);
  const withProfile = buildKey({ ...base, buildOptions: { ...base.buildOptions, profileSha256: 'e'.repeat(64) } });
  const otherProfile = buildKey({ ...base, buildOptions: { ...base.buildOptions, profileSha256: 'f'.repeat(64) } });
  t.is(new Set([k, withProfile, otherProfile]).size, 3);
  t.is(countProfileWarnings(''), 0);
  t.is(countProfileWarnings('x [-Wcoverage-mismatch]\ny [-Wcoverage-mismatch]\nz [-Wmissing-profile]\n'), 2);
});

test('the shipped profile fits the shipped series, and the emulators under test were compiled with it', async (t) => {
  const patches = defaultPatchesDir();
  const profile = await readProfile(patches);
  t.truthy(profile, 'patches/pgo/ holds a profile (npm run pgo:train)');
  const series = await readSeries(patches);
  t.is(profile!.manifest.seriesHash, series.hash, 'the series changed since the profile was made: run npm run pgo:train');
  t.deepEqual(profile!.manifest.configure, [...CONFIGURE_FLAGS], 'the configure flags changed since the profile was made: run npm run pgo:train');
  t.deepEqual(profile!.manifest.trained.map((x) => x.arch), ['arm', 'aarch64']);
  t.is(sha(await readFile(join(patches, PROFILE_DIR, 'train.sh'))), profile!.manifest.trainingScriptSha256, 'train.sh changed since the profile was made');
  // the cache entry wrap resolves (XBUILD_QEMU_DIR, when set, names files without a record)
  const { XBUILD_QEMU_DIR: _ignored, ...env } = process.env;
  for (const arch of ['arm', 'aarch64'] as const) {
    const rec = await readBuildRecord(dirname(await findEmulator(arch, env)));
    t.truthy(rec?.profile, `${arch}: the build record says nothing about the profile`);
    t.like(rec!.profile, { used: true, archiveSha256: profile!.manifest.archiveSha256 }, `${arch}: ${JSON.stringify(rec!.profile)}`);
  }
});
