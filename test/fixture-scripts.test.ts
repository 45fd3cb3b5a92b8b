// The fixture scripts' shared rules (scripts/fixtures/lib.sh): every cached
// fixture is built through xb_build_cached (keyed, locked, atomic) with a key
// that covers the exact package versions it downloads, and the Debian mirror
// comes from this machine's apt sources, never from a host name in the repo.
import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const DIR = 'scripts/fixtures';
const mirrorOf = (env: Record<string, string>) => run('bash', ['-c', `. ${DIR}/lib.sh; xb_debian_mirror`], { env: { PATH: process.env.PATH, ...env } });

test('xb_debian_mirror reads the first non-security URIs entry of debian.sources; XBUILD_DEBIAN_MIRROR overrides; none is exit 2 with the file named', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'xbuild-sources-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const src = join(dir, 'debian.sources');
  await writeFile(src, 'Types: deb\nURIs: http://security.example.invalid/debian-security\nSuites: x-security\n\nTypes: deb\nURIs: http://mirror.example.invalid/debian/\nSuites: x\n');
  t.is((await mirrorOf({ XB_DEBIAN_SOURCES: src })).stdout, 'http://mirror.example.invalid/debian\n');
  t.is((await mirrorOf({ XB_DEBIAN_SOURCES: src, XBUILD_DEBIAN_MIRROR: 'http://other.example.invalid/d' })).stdout, 'http://other.example.invalid/d\n');
  t.is((await run('bash', ['-c', `. ${DIR}/lib.sh; xb_debian_mirror security`], { env: { PATH: process.env.PATH, XB_DEBIAN_SOURCES: src } })).stdout, 'http://security.example.invalid/debian-security\n');
  await writeFile(src, 'Types: deb\n');
  const err = await t.throwsAsync(mirrorOf({ XB_DEBIAN_SOURCES: src })) as Error & { code?: number; stderr?: string };
  t.is(err.code, 2);
  t.regex(err.stderr ?? '', /no URIs line in .*debian\.sources/);
});

test('no fixture script names a Debian mirror host; the ones that need a mirror ask xb_debian_mirror', async (t) => {
  for (const f of await readdir(DIR)) {
    const text = await readFile(join(DIR, f), 'utf8');
    t.notRegex(text, /https?:\/\/[a-z0-9.-]+\.(debian\.org|debian\.net)\b/, f);
    if (/debootstrap --foreign|\$mirror/.test(text)) t.regex(text, /mirror=\$\(xb_debian_mirror\)/, f);
    if (f !== 'lib.sh') t.notRegex(text, /awk '\/\^URIs:/, `${f}: reads debian.sources itself instead of xb_debian_mirror`);
  }
});

test('package-based fixture scripts build through xb_build_cached with keys over their pinned package versions', async (t) => {
  for (const f of ['elf-samples.sh', 'small-images.sh', 'busybox-images.sh', 'debootstrap-foreign.sh', 'debian-images.sh']) {
    const text = await readFile(join(DIR, f), 'utf8');
    t.regex(text, /^path=\$\(xb_build_cached |^xb_build_cached /m, `${f} builds through xb_build_cached`);
    t.regex(text, /xb_pin_versions/, `${f} keys on exact package versions`);
    t.regex(text, /key=\$\([^\n]*\$\{pinned\[@\]\}/, `${f}: the pinned versions are in the key`);
  }
});

test('xb_build_cached: a failing step inside the build function fails the build (exit 2), nothing is left as a complete fixture', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'xbuild-fixture-cache-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const script = `set -euo pipefail; . ${DIR}/lib.sh; b() { false; echo reached > "$1/x"; }; xb_build_cached probe k1 b`;
  const err = await t.throwsAsync(run('bash', ['-c', script], { env: { PATH: process.env.PATH, XBUILD_CACHE_DIR: dir } })) as Error & { code?: number; stderr?: string };
  t.is(err.code, 2);
  t.regex(err.stderr ?? '', /building fixture probe failed \(exit 1\)/);
  t.deepEqual((await readdir(join(dir, 'fixtures'))).filter((n) => !n.startsWith('.')), []);
});

test('fixture scripts take the emulator from xb_emulator (the current series, as wrap finds it), never the newest cache entry; a missing one is exit 2', async (t) => {
  for (const f of await readdir(DIR)) {
    const text = await readFile(join(DIR, f), 'utf8');
    t.notRegex(text, /ls -t [^\n]*qemu/, `${f} picks an emulator by modification time`);
  }
  const err = await t.throwsAsync(run('bash', ['-c', `. ${DIR}/lib.sh; xb_emulator arm`], { env: { PATH: process.env.PATH, XBUILD_QEMU_DIR: '/nonexistent-xbuild-qemu' } })) as Error & { code?: number; stderr?: string };
  t.is(err.code, 2);
  t.regex(err.stderr ?? '', /no xbuild emulator qemu-arm-static for this series \(in XBUILD_QEMU_DIR=\/nonexistent-xbuild-qemu\)/);
});
