// `xbuild verify` CLI in-process: rendering and exit codes.
import test from 'ava';
import { runCli } from '../src/cli/run.ts';
import { renderReport } from '../src/cli/verify.ts';
import { verify } from '../src/verify/verify.ts';
import { capture } from './helpers/capture.ts';
import { memImage, tarOf } from './helpers/mem-image.ts';
import { debianLikeRoot } from './helpers/verify-images.ts';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeLayout } from './helpers/umoci-diff.ts';

test('verify without a usable image source exits 2 (could not run) and prints one error line', async (t) => {
  const c = capture();
  t.is(await runCli(['verify', 'oci:/nonexistent/xbuild-layout'], c.ctx), 2);
  t.regex(c.stderr(), /^xbuild: /);
  t.notRegex(c.stderr(), /\n\s+at /);
  t.is(c.stdout(), '');
});

test('verify --platform: a malformed platform is a usage error (exit 2) before any image is opened', async (t) => {
  for (const bad of ['linux//arm', 'linux/arm/v7/extra', 'linux/arm v7']) {
    const c = capture();
    t.is(await runCli(['verify', 'oci:/nonexistent/xbuild-layout', '--platform', bad], c.ctx), 2, bad);
    t.regex(c.stderr(), /^xbuild: malformed platform/, bad);
    t.regex(c.stderr(), /hint: write platforms as os\/arch\[\/variant\]/, bad);
  }
});

test('verify --shim with a missing file exits 2', async (t) => {
  const c = capture();
  t.is(await runCli(['verify', 'oci:/x', '--shim', '/nonexistent/shim'], c.ctx), 2);
  t.regex(c.stderr(), /reading --shim \/nonexistent\/shim/);
});

test('the human report has one line per finding: severity, id, path, message and fix', async (t) => {
  const img = memImage('t/bare', { architecture: 'arm', variant: 'v7' }, [{ tar: await tarOf(await debianLikeRoot('armhf')) }]);
  const report = await verify(img);
  const text = renderReport(report);
  const lines = text.trimEnd().split('\n');
  t.regex(lines[0]!, /^t\/bare \(image sha256:[0-9a-f]{12}\): FAIL$/);
  t.regex(lines[1]!, /^linux\/arm\/v7 {2}FAIL {2}3 error\(s\), 0 warning\(s\), 1 info/);
  const findingLines = lines.slice(2);
  t.is(findingLines.length, report.platforms[0]!.findings.length);
  t.true(findingLines.some((l) => /^ {2}error +emulator-missing +\/usr\/bin\/qemu-arm-static +\/usr\/bin\/qemu-arm-static is missing \(fix: wrap/.test(l)));
});

test('verify checks a zstd:chunked table of contents against its annotations (containers/storage refuses a layer whose TOC checksum is wrong): exit 2, one line', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'xbuild-toc-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const tar = await tarOf(await debianLikeRoot('armhf'));
  await writeLayout(dir, { layers: [{ tar, zstd: true, annotations: {
    'io.containers.zstd-chunked.manifest-position': '0:16:16:1', 'io.containers.zstd-chunked.manifest-checksum': `sha256:${'0'.repeat(64)}`,
  } }] });
  const c = capture();
  t.is(await runCli(['verify', `oci:${dir}:t`], c.ctx), 2, c.stdout() + c.stderr());
  t.regex(c.stderr(), /^xbuild: reading layer 1\/1 sha256:[0-9a-f]{12}: .*zstd:chunked table of contents \(bytes 0-16\) is sha256:[0-9a-f]{64}, but io\.containers\.zstd-chunked\.manifest-checksum says sha256:0{64}$/m);
  t.is(c.stdout(), '');
});
