import test from 'ava';
import { emulationFor, formatPlatform, matchPlatform, normalizePlatform, parsePlatform, parsePlatformList } from '../src/oci/platform.ts';
import { parseOutputSpec, resolveOutputs } from '../src/open/output.ts';
import { XbuildError } from '../src/errors.ts';

test('parse / format / normalise platforms as containerd does', (t) => {
  t.deepEqual(parsePlatform('linux/arm/v7'), { os: 'linux', architecture: 'arm', variant: 'v7' });
  t.deepEqual(parsePlatform('linux/arm'), { os: 'linux', architecture: 'arm', variant: 'v7' });
  t.deepEqual(parsePlatform('linux/arm64/v8'), { os: 'linux', architecture: 'arm64' });
  t.deepEqual(parsePlatform('linux/aarch64'), { os: 'linux', architecture: 'arm64' });
  t.deepEqual(parsePlatform('arm64'), { os: 'linux', architecture: 'arm64' });
  t.deepEqual(parsePlatform('linux/x86_64'), { os: 'linux', architecture: 'amd64' });
  t.deepEqual(normalizePlatform({ os: 'linux', architecture: 'armhf' }), { os: 'linux', architecture: 'arm', variant: 'v7' });
  t.deepEqual(normalizePlatform({ os: 'linux', architecture: 'arm', variant: '6' }), { os: 'linux', architecture: 'arm', variant: 'v6' });
  t.is(formatPlatform({ os: 'linux', architecture: 'arm64', variant: 'v8' }), 'linux/arm64');
  t.is(formatPlatform({ os: 'linux', architecture: 'arm', variant: 'v5' }), 'linux/arm/v5');
  t.deepEqual(parsePlatformList('linux/arm/v7, linux/arm64'), [{ os: 'linux', architecture: 'arm', variant: 'v7' }, { os: 'linux', architecture: 'arm64' }]);
  for (const bad of ['linux//arm', '/arm', 'linux/arm/v7/x', 'linux/a b']) t.throws(() => parsePlatform(bad), { instanceOf: XbuildError });
});

test('match platforms after normalisation', (t) => {
  t.true(matchPlatform(parsePlatform('linux/arm64'), { os: 'linux', architecture: 'arm64', variant: 'v8' }));
  t.true(matchPlatform(parsePlatform('linux/arm/v7'), { os: 'linux', architecture: 'arm' }));
  t.false(matchPlatform(parsePlatform('linux/arm/v7'), { os: 'linux', architecture: 'arm', variant: 'v5' }));
  t.false(matchPlatform(parsePlatform('linux/arm64'), { os: 'linux', architecture: 'amd64' }));
});

test('which platforms need emulation on an x86_64 host', (t) => {
  for (const p of ['linux/arm/v5', 'linux/arm/v6', 'linux/arm/v7', 'linux/arm64']) t.is(emulationFor(parsePlatform(p)).kind, 'emulated', p);
  t.deepEqual(emulationFor(parsePlatform('linux/arm/v7')), { kind: 'emulated', qemuArch: 'arm' });
  t.deepEqual(emulationFor(parsePlatform('linux/arm64')), { kind: 'emulated', qemuArch: 'aarch64' });
  t.is(emulationFor(parsePlatform('linux/amd64')).kind, 'native');
  t.is(emulationFor(parsePlatform('linux/386')).kind, 'native');
  t.deepEqual(emulationFor(parsePlatform('linux/riscv64')), { kind: 'emulated', qemuArch: 'riscv64' });
  t.deepEqual(emulationFor(parsePlatform('linux/ppc64le')), { kind: 'emulated', qemuArch: 'ppc64le' });
  t.deepEqual(emulationFor(parsePlatform('linux/ppc64el')), { kind: 'emulated', qemuArch: 'ppc64le' }, 'Debian\'s name');
  t.deepEqual(emulationFor(parsePlatform('linux/s390x')), { kind: 'emulated', qemuArch: 's390x' });
  t.is(emulationFor(parsePlatform('linux/i386')).kind, 'native');
  t.is(emulationFor(parsePlatform('linux/x86_64')).kind, 'native');
  // what xbuild has no emulator for is refused with a reason, never guessed
  for (const p of ['linux/ppc64', 'linux/s390', 'linux/mips64le', 'linux/riscv32', 'linux/loong64', 'linux/riscv64/rva23']) {
    const e = emulationFor(parsePlatform(p));
    t.is(e.kind, 'unsupported', p);
    if (e.kind === 'unsupported') t.regex(e.reason, /linux\/riscv64|variant/, p);
  }
  t.is(emulationFor(parsePlatform('linux/arm/v8')).kind, 'unsupported');
  t.is(emulationFor({ os: 'windows', architecture: 'arm64' }).kind, 'unsupported');
  t.is(emulationFor(parsePlatform('linux/arm64'), 'arm64').kind, 'native');
});

test('--output parsing and the destination default', (t) => {
  t.deepEqual(parseOutputSpec('type=oci,dest=./x'), { type: 'oci', dest: './x' });
  t.deepEqual(parseOutputSpec('docker,dest=a.tar'), { type: 'docker', dest: 'a.tar' });
  t.throws(() => parseOutputSpec('dest=x'), { message: /no type/ });
  t.throws(() => parseOutputSpec('type=oci,foo=1'), { message: /not known/ });
  const e = t.throws(() => resolveOutputs([], undefined), { instanceOf: XbuildError });
  t.is(e!.code, 'USAGE'); t.regex(e!.hint ?? '', /-t .*--output type=oci/);
  t.is(resolveOutputs(['localhost:5000/a:b'], undefined).type, 'registry');
  t.throws(() => resolveOutputs(['localhost:5000/a@sha256:' + 'a'.repeat(64)], undefined), { message: /digest/ });
  t.deepEqual(resolveOutputs(['x/y:1'], { type: 'oci', dest: 'd' }).tags.map((r) => r.tag), ['1']);
});
