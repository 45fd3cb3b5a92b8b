import test from 'ava';
import { PassThrough } from 'node:stream';
import { runCli } from '../src/cli/run.ts';
import { XBUILD_VERSION } from '../src/version.ts';

export function capture() {
  const out = new PassThrough(); const err = new PassThrough();
  let o = ''; let e = '';
  out.on('data', (d) => { o += d; }); err.on('data', (d) => { e += d; });
  return { ctx: { stdout: out, stderr: err, env: {}, isTTY: false }, stdout: () => o, stderr: () => e };
}

test('--version prints the version and exits 0', async (t) => {
  const c = capture();
  t.is(await runCli(['--version'], c.ctx), 0);
  t.is(c.stdout().trim(), XBUILD_VERSION);
});

test('an unknown command is a usage error with exit code 2', async (t) => {
  const c = capture();
  t.is(await runCli(['frobnicate'], c.ctx), 2);
  t.regex(c.stderr(), /unknown command 'frobnicate'/);
});

test('wrap and verify --help say which layer formats and transports are read', async (t) => {
  for (const cmd of ['wrap', 'verify']) {
    const c = capture();
    t.is(await runCli([cmd, '--help'], c.ctx), 0);
    const help = c.stdout();
    t.regex(help, /Layers read: tar, tar\+gzip and tar\+zstd \(zstd:chunked included\), OCI and Docker media types/, cmd);
    t.regex(help, /NODE_EXTRA_CA_CERTS/, cmd);
    t.regex(help, /HTTPS first, plain\s+HTTP when the registry has\s+no TLS/, cmd);
    t.regex(help, /oci:DIR\[:TAG\]/, cmd);
  }
});
