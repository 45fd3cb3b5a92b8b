/**
 * A real registry for tests: Debian's `docker-registry` (CNCF distribution 2.8)
 * on 127.0.0.1 with filesystem storage in a temp dir.
 *
 *   const reg = await startRegistry({ auth: 'none' | 'htpasswd' | 'token' });
 *   reg.host      // '127.0.0.1:PORT'  (use as the registry part of a reference)
 *   reg.url       // 'http://127.0.0.1:PORT' ('https://...' with { tls: true }: self-signed certificate)
 *   reg.caFile    // with { tls: true }: that certificate (PEM), e.g. for NODE_EXTRA_CA_CERTS
 *   reg.username, reg.password   // for 'htpasswd' and 'token'
 *   reg.storageDir               // <dir>/docker/registry/v2/... (tests may corrupt blobs there)
 *   reg.tokenServer              // for 'token': see token-server.ts (requests log)
 *   reg.dockerConfig()           // a temp DOCKER_CONFIG dir holding these credentials; pass as env.DOCKER_CONFIG
 *   await reg.stop();            // always, e.g. in t.teardown / test.after.always
 *
 * Fails (throws) with a clear message when docker-registry / htpasswd are missing:
 * scripts/install-system-deps.sh installs them.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import http from 'node:http';
import https from 'node:https';
import { startTokenServer, type TokenServer, type TokenServerOptions } from './token-server.ts';

export const REGISTRY_BIN = '/usr/bin/docker-registry';

export interface TestRegistry {
  host: string;
  url: string;
  port: number;
  storageDir: string;
  /** The self-signed certificate (PEM) of a { tls: true } registry. */
  caFile?: string;
  username?: string;
  password?: string;
  tokenServer?: TokenServer;
  /** A fresh DOCKER_CONFIG directory with `auths` for this registry (given or own credentials). */
  dockerConfig(creds?: { username: string; password: string }): string;
  /** Path of blob data in storage (to corrupt it in tests). */
  blobDataPath(digest: string): string;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

function probe(url: string): Promise<number | undefined> {
  return new Promise((resolve) => {
    const get = url.startsWith('https:') ? (u: string, cb: (res: http.IncomingMessage) => void) => https.get(u, { rejectUnauthorized: false }, cb) : http.get;
    const req = get(url, (res) => { res.resume(); resolve(res.statusCode); });
    req.on('error', () => resolve(undefined));
    req.setTimeout(1000, () => { req.destroy(); resolve(undefined); });
  });
}

const running = new Set<ChildProcess>();
process.on('exit', () => { for (const c of running) c.kill('SIGKILL'); });

export interface StartRegistryOptions {
  auth?: 'none' | 'htpasswd' | 'token';
  /** Extra token server options (auth: 'token'); users always include username/password. */
  token?: Omit<TokenServerOptions, 'users'>;
  /** Serve HTTPS with a self-signed certificate (url becomes https://). */
  tls?: boolean;
}

export async function startRegistry(o: StartRegistryOptions = {}): Promise<TestRegistry> {
  const auth = o.auth ?? 'none';
  if (!existsSync(REGISTRY_BIN)) {
    throw new Error(`${REGISTRY_BIN} is missing: install Debian's docker-registry (scripts/install-system-deps.sh)`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'xbuild-registry-'));
  const storageDir = join(dir, 'storage');
  mkdirSync(storageDir);
  const username = auth === 'none' ? undefined : 'xbuild-tester';
  const password = auth === 'none' ? undefined : `pw-${Math.random().toString(36).slice(2)}`;
  let tokenServer: TokenServer | undefined;
  let authYaml = '';
  if (auth === 'htpasswd') {
    let line: string;
    try {
      line = execFileSync('htpasswd', ['-Bbn', username!, password!], { encoding: 'utf8' }).trim();
    } catch (err) {
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`htpasswd failed (install apache2-utils via scripts/install-system-deps.sh): ${(err as Error).message}`);
    }
    writeFileSync(join(dir, 'htpasswd'), line + '\n');
    authYaml = `auth:\n  htpasswd:\n    realm: xbuild-test\n    path: ${join(dir, 'htpasswd')}\n`;
  } else if (auth === 'token') {
    tokenServer = await startTokenServer({ ...o.token, users: { [username!]: password! } });
    authYaml = `auth:\n  token:\n    realm: ${tokenServer.realm}\n    service: ${tokenServer.service}\n    issuer: ${tokenServer.issuer}\n    rootcertbundle: ${tokenServer.certPath}\n`;
  }

  let tlsYaml = '';
  if (o.tls) {
    try {
      execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
        '-keyout', join(dir, 'tls.key'), '-out', join(dir, 'tls.crt'), '-days', '2', '-subj', '/CN=127.0.0.1',
        '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { stdio: 'pipe' });
    } catch (err) {
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`openssl could not make a TLS certificate: ${(err as Error).message}`);
    }
    tlsYaml = `  tls:\n    certificate: ${join(dir, 'tls.crt')}\n    key: ${join(dir, 'tls.key')}\n`;
  }

  let lastErr = '';
  for (let tries = 0; tries < 3; tries++) {
    const port = await freePort();
    const config = join(dir, 'config.yml');
    writeFileSync(config, [
      'version: 0.1',
      'log:',
      '  level: warn',
      '  accesslog:',
      '    disabled: true',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${storageDir}`,
      '  delete:',
      '    enabled: true',
      '  maintenance:',
      '    uploadpurging:',
      '      enabled: false',
      'http:',
      `  addr: 127.0.0.1:${port}`,
      `  secret: xbuild-test-${Math.random().toString(36).slice(2)}`,
      tlsYaml,
      authYaml,
    ].join('\n'));
    const child = spawn(REGISTRY_BIN, ['serve', config], { stdio: ['ignore', 'ignore', 'pipe'], env: { PATH: '/usr/bin:/bin' } });
    running.add(child);
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-4000); });
    let exited = false;
    child.on('exit', () => { exited = true; running.delete(child); });
    const url = `${o.tls ? 'https' : 'http'}://127.0.0.1:${port}`;
    const deadline = Date.now() + 20_000;
    let up = false;
    while (!exited && Date.now() < deadline) {
      if (await probe(`${url}/v2/`) !== undefined) { up = true; break; }
      await new Promise((r) => setTimeout(r, 100));
    }
    if (!up) {
      child.kill('SIGKILL');
      lastErr = stderr.trim().split('\n').slice(-3).join(' | ');
      continue;
    }
    const stop = async () => {
      if (!exited) {
        const gone = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 3000);
        await gone;
        clearTimeout(t);
      }
      await tokenServer?.stop();
      rmSync(dir, { recursive: true, force: true });
    };
    const host = `127.0.0.1:${port}`;
    return {
      host, url, port, storageDir, username, password, tokenServer, caFile: o.tls ? join(dir, 'tls.crt') : undefined,
      dockerConfig(creds) {
        const c = creds ?? (username ? { username, password: password! } : undefined);
        const cfgDir = mkdtempSync(join(dir, 'docker-config-'));
        const auths = c ? { [host]: { auth: Buffer.from(`${c.username}:${c.password}`).toString('base64') } } : {};
        writeFileSync(join(cfgDir, 'config.json'), JSON.stringify({ auths }, null, 2));
        return cfgDir;
      },
      blobDataPath(digest) {
        const hex = digest.replace(/^sha256:/, '');
        return join(storageDir, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data');
      },
      stop,
    };
  }
  await tokenServer?.stop();
  rmSync(dir, { recursive: true, force: true });
  throw new Error(`docker-registry did not start: ${lastErr || 'no output'}`);
}
