// Credentials as Docker finds them ($DOCKER_CONFIG / ~/.docker/config.json:
// auths, credsStore, credHelpers with a test-only helper script on PATH), the
// challenge parser, and those credentials used against real registries.
import test from 'ava';
import { mkdtempSync as mkdtempRaw, rmSync, writeFileSync, mkdirSync, chmodSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { findCredentials, normaliseAuthKey, DOCKER_HUB_AUTH_KEY } from '../src/registry/credentials.ts';
import { parseChallenge } from '../src/registry/auth.ts';
import { RegistryClient } from '../src/registry/client.ts';
import { sha256Digest } from '../src/oci/digest.ts';
import { XbuildError } from '../src/errors.ts';
import { startRegistry, type TestRegistry } from './helpers/registry.ts';

// Temp dirs made by this file, removed after its tests.
const tempDirs: string[] = [];
const mkdtempSync = (prefix: string) => { const d = mkdtempRaw(prefix); tempDirs.push(d); return d; };
test.after.always(() => { for (const d of tempDirs) rmSync(d, { recursive: true, force: true }); });

const b64 = (s: string) => Buffer.from(s).toString('base64');

function configDir(config: unknown): string {
  const d = mkdtempSync(join(tmpdir(), 'xbuild-dockercfg-'));
  writeFileSync(join(d, 'config.json'), JSON.stringify(config));
  return d;
}

/**
 * A docker-credential-<name> helper (test only): answers `get` from a JSON map
 * server URL -> {Username, Secret}, logs every server URL it was asked about.
 */
function credentialHelper(name: string, entries: Record<string, { Username: string; Secret: string }>): { binDir: string; log: () => string[] } {
  const binDir = mkdtempSync(join(tmpdir(), 'xbuild-credhelper-'));
  const store = join(binDir, 'store.json');
  const logFile = join(binDir, 'asked.log');
  writeFileSync(store, JSON.stringify(entries));
  const script = `#!/bin/sh
[ "$1" = get ] || { echo "unsupported action $1" >&2; exit 1; }
read -r server
echo "$server" >> '${logFile}'
entry=$(jq -c --arg s "$server" '.[$s] // empty' '${store}')
if [ -z "$entry" ]; then echo "credentials not found in native keychain"; exit 1; fi
echo "$entry" | jq -c --arg s "$server" '{ServerURL: $s, Username: .Username, Secret: .Secret}'
`;
  const bin = join(binDir, `docker-credential-${name}`);
  writeFileSync(bin, script);
  chmodSync(bin, 0o755);
  return { binDir, log: () => existsSync(logFile) ? readFileSync(logFile, 'utf8').trim().split('\n') : [] };
}

test('normaliseAuthKey maps config keys to registry hosts', (t) => {
  t.is(normaliseAuthKey('https://index.docker.io/v1/'), 'docker.io');
  t.is(normaliseAuthKey('registry-1.docker.io'), 'docker.io');
  t.is(normaliseAuthKey('http://LOCALHOST:5000/v2/'), 'localhost:5000');
  t.is(normaliseAuthKey('ghcr.io'), 'ghcr.io');
});

test('auths: base64 auth, username/password, identitytoken; DOCKER_CONFIG wins over HOME', async (t) => {
  const dir = configDir({ auths: {
    'https://index.docker.io/v1/': { auth: b64('hubuser:hub:pass') },
    'https://reg.example.com': { username: 'u2', password: 'p2' },
    'tok.example.com': { identitytoken: 'refresh-123' },
  } });
  const env = { DOCKER_CONFIG: dir, HOME: '/nonexistent' };
  t.deepEqual(await findCredentials('docker.io', env), { kind: 'basic', username: 'hubuser', password: 'hub:pass' });
  t.deepEqual(await findCredentials('reg.example.com', env), { kind: 'basic', username: 'u2', password: 'p2' });
  t.deepEqual(await findCredentials('tok.example.com', env), { kind: 'identity-token', token: 'refresh-123', username: undefined });
  t.is(await findCredentials('other.example.com', env), undefined);
  const home = mkdtempSync(join(tmpdir(), 'xbuild-home-'));
  mkdirSync(join(home, '.docker'));
  writeFileSync(join(home, '.docker', 'config.json'), JSON.stringify({ auths: { 'h.example.com': { auth: b64('a:b') } } }));
  t.deepEqual(await findCredentials('h.example.com', { HOME: home }), { kind: 'basic', username: 'a', password: 'b' });
  t.is(await findCredentials('h.example.com', { HOME: home, DOCKER_CONFIG: dir }), undefined);
  t.is(await findCredentials('h.example.com', {}), undefined);
});

test('a broken config file is a one-line IO error naming the file', async (t) => {
  const d = mkdtempSync(join(tmpdir(), 'xbuild-dockercfg-'));
  writeFileSync(join(d, 'config.json'), '{ not json');
  const err = await t.throwsAsync(findCredentials('x.example.com', { DOCKER_CONFIG: d }), { instanceOf: XbuildError });
  t.is(err!.code, 'IO');
  t.true(err!.message.includes(join(d, 'config.json')));
});

test('credHelpers and credsStore run docker-credential-<name> get with the server URL on stdin', async (t) => {
  const h = credentialHelper('xbtest', {
    'helped.example.com:5000': { Username: 'helper-user', Secret: 'helper-secret' },
    [DOCKER_HUB_AUTH_KEY]: { Username: '<token>', Secret: 'hub-identity-token' },
  });
  const dir = configDir({
    credsStore: 'xbtest',
    credHelpers: { 'only-helper.example.com': 'missinghelper' },
    auths: { 'fallback.example.com': { auth: b64('fb:pw') } },
  });
  const env = { DOCKER_CONFIG: dir, PATH: `${h.binDir}:/usr/bin:/bin` };
  t.deepEqual(await findCredentials('helped.example.com:5000', env), { kind: 'basic', username: 'helper-user', password: 'helper-secret' });
  t.deepEqual(await findCredentials('docker.io', env), { kind: 'identity-token', token: 'hub-identity-token' });
  // the store has no entry: fall back to auths
  t.deepEqual(await findCredentials('fallback.example.com', env), { kind: 'basic', username: 'fb', password: 'pw' });
  t.deepEqual(h.log(), ['helped.example.com:5000', DOCKER_HUB_AUTH_KEY, 'fallback.example.com']);
  const err = await t.throwsAsync(findCredentials('only-helper.example.com', env), { instanceOf: XbuildError });
  t.is(err!.code, 'UNAUTHORIZED');
  t.regex(err!.message, /credential helper docker-credential-missinghelper .* could not be run/);
});

test('a credsStore whose helper is not installed falls back to auths (does not block anonymous pulls)', async (t) => {
  const dir = configDir({ credsStore: 'desktop-not-installed', auths: { 'a.example.com': { auth: b64('u:p') } } });
  const env = { DOCKER_CONFIG: dir, PATH: '/nonexistent' };
  t.deepEqual(await findCredentials('a.example.com', env), { kind: 'basic', username: 'u', password: 'p' });
  t.is(await findCredentials('b.example.com', env), undefined);
});

test('a credential helper that fails for another reason is a one-line UNAUTHORIZED error', async (t) => {
  const binDir = mkdtempSync(join(tmpdir(), 'xbuild-credhelper-'));
  writeFileSync(join(binDir, 'docker-credential-broken'), '#!/bin/sh\necho "keychain locked" >&2\nexit 3\n');
  chmodSync(join(binDir, 'docker-credential-broken'), 0o755);
  const env = { DOCKER_CONFIG: configDir({ credsStore: 'broken' }), PATH: `${binDir}:/usr/bin:/bin` };
  const err = await t.throwsAsync(findCredentials('x.example.com', env), { instanceOf: XbuildError });
  t.is(err!.code, 'UNAUTHORIZED');
  t.is(err!.message, 'credential helper docker-credential-broken failed for x.example.com (exit 3; its output is not shown, it may hold credentials)');
});

test('parseChallenge', (t) => {
  t.deepEqual(parseChallenge('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/debian:pull"'), {
    scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/debian:pull' },
  });
  t.deepEqual(parseChallenge('Basic realm="Registry Realm"'), { scheme: 'basic', params: { realm: 'Registry Realm' } });
  t.deepEqual(parseChallenge('Bearer realm="x",error="insufficient_scope"')?.params.error, 'insufficient_scope');
  t.is(parseChallenge('Negotiate abc'), undefined);
  t.is(parseChallenge(undefined), undefined);
});

for (const auth of ['htpasswd', 'token'] as const) {
  let reg: TestRegistry;
  test.before(async () => { reg = await startRegistry({ auth }); });
  test.after.always(async () => { await reg?.stop(); });

  test.serial(`[${auth}] credentials from a credential helper authenticate pushes and pulls`, async (t) => {
    const h = credentialHelper('xbreg', { [reg.host]: { Username: reg.username!, Secret: reg.password! } });
    const env = { DOCKER_CONFIG: configDir({ credHelpers: { [reg.host]: 'xbreg' } }), PATH: `${h.binDir}:/usr/bin:/bin` };
    const c = new RegistryClient({ env, retry: { attempts: 1 } });
    t.teardown(() => c.close());
    const data = Buffer.from(`helper-${auth}`);
    const desc = { mediaType: 'application/octet-stream', digest: sha256Digest(data), size: data.length };
    const repo = { registry: reg.host, repository: 'helper/test' };
    t.is(await c.pushBlob(repo, desc, async () => Readable.from([data])), 'uploaded');
    t.true(await c.hasBlob(repo, desc.digest));
    t.deepEqual(h.log(), [reg.host], 'the helper is asked once per client and registry');
  });

  test.serial(`[${auth}] credentials for another registry are not used`, async (t) => {
    const env = { DOCKER_CONFIG: configDir({ auths: { 'other.example.com': { auth: b64(`${reg.username}:${reg.password}`) } } }) };
    const c = new RegistryClient({ env, retry: { attempts: 1 } });
    t.teardown(() => c.close());
    const data = Buffer.from('x');
    const err = await t.throwsAsync(c.pushBlob({ registry: reg.host, repository: 'helper/x' }, { mediaType: 'x', digest: sha256Digest(data), size: 1 }, async () => Readable.from([data])), { instanceOf: XbuildError });
    t.is(err!.code, 'UNAUTHORIZED');
  });
}

test('token mode: token cached per scope set; access_token field and anonymous pull accepted', async (t) => {
  const reg = await startRegistry({ auth: 'token', token: { useAccessTokenField: true } });
  t.teardown(() => reg.stop());
  const c = new RegistryClient({ env: { DOCKER_CONFIG: reg.dockerConfig() }, retry: { attempts: 1 } });
  t.teardown(() => c.close());
  const data = Buffer.from('cached token');
  const desc = { mediaType: 'x', digest: sha256Digest(data), size: data.length };
  const repo = { registry: reg.host, repository: 'cache/test' };
  await c.pushBlob(repo, desc, async () => Readable.from([data]));
  for (let i = 0; i < 3; i++) t.true(await c.hasBlob(repo, desc.digest));
  const asked = reg.tokenServer!.requests.map((r) => r.scopes.join(' '));
  t.deepEqual(asked, ['repository:cache/test:pull', 'repository:cache/test:pull,push'], 'one token per scope set');
  // anonymous clients get a pull token and can read
  const anon = new RegistryClient({ env: {}, retry: { attempts: 1 } });
  t.teardown(() => anon.close());
  t.true(await anon.hasBlob(repo, desc.digest));
  t.is(reg.tokenServer!.requests.at(-1)!.account, undefined);
});

test('token mode: an identitytoken is exchanged with the OAuth2 refresh_token grant (POST)', async (t) => {
  const reg = await startRegistry({ auth: 'token', token: { refreshTokens: { 'refresh-abc': 'xbuild-tester' } } });
  t.teardown(() => reg.stop());
  const data = Buffer.from('identity token');
  const desc = { mediaType: 'x', digest: sha256Digest(data), size: data.length };
  const good = new RegistryClient({ env: { DOCKER_CONFIG: configDir({ auths: { [reg.host]: { identitytoken: 'refresh-abc' } } }) }, retry: { attempts: 1 } });
  t.teardown(() => good.close());
  t.is(await good.pushBlob({ registry: reg.host, repository: 'idtok/x' }, desc, async () => Readable.from([data])), 'uploaded');
  t.is(reg.tokenServer!.requests.at(-1)!.account, 'xbuild-tester');
  const bad = new RegistryClient({ env: { DOCKER_CONFIG: configDir({ auths: { [reg.host]: { identitytoken: 'stale' } } }) }, retry: { attempts: 1 } });
  t.teardown(() => bad.close());
  const err = await t.throwsAsync(bad.hasBlob({ registry: reg.host, repository: 'idtok/x' }, desc.digest), { instanceOf: XbuildError });
  t.is(err!.code, 'UNAUTHORIZED');
  t.regex(err!.message, /rejected the identity token/);
  t.false(err!.message.includes('stale'));
});

test('token mode: distribution accepts tokens whose key is named by libtrust kid only (token server self-check)', async (t) => {
  const reg = await startRegistry({ auth: 'token', token: { kidOnly: true } });
  t.teardown(() => reg.stop());
  const c = new RegistryClient({ env: { DOCKER_CONFIG: reg.dockerConfig() }, retry: { attempts: 1 } });
  t.teardown(() => c.close());
  const data = Buffer.from('kid only');
  const desc = { mediaType: 'x', digest: sha256Digest(data), size: data.length };
  t.is(await c.pushBlob({ registry: reg.host, repository: 'kid/x' }, desc, async () => Readable.from([data])), 'uploaded');
});
