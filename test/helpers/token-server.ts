/**
 * Test-only token server for Distribution's `auth: token` mode (test use only).
 *
 *   const ts = await startTokenServer({ users: { alice: 'secret' } });
 *   // registry config: auth.token.{realm: ts.realm, service: ts.service, issuer: ts.issuer, rootcertbundle: ts.certPath}
 *   ts.requests   // [{ account, scopes, granted }] every token request seen
 *   await ts.stop();
 *
 * Policy: valid Basic credentials get every action they ask for; anonymous
 * requests get `pull` only (when anonymousPull, the default) and nothing else;
 * wrong credentials get 401. POST /token takes the OAuth2 form
 * (grant_type=refresh_token with one of `refreshTokens`). Tokens are ES256 JWTs whose header carries the
 * self-signed certificate in `x5c` (distribution 2.8 checks that chain against
 * rootcertbundle) and its libtrust `kid`.
 */
import http from 'node:http';
import { createHash, createPrivateKey, createPublicKey, randomUUID, sign, type KeyObject } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';

export interface TokenServer {
  realm: string;
  service: string;
  issuer: string;
  certPath: string;
  requests: Array<{ account?: string; scopes: string[]; granted: string[] }>;
  /** Tokens issued by this server expire after this many seconds (default 300). */
  stop(): Promise<void>;
}

export interface TokenServerOptions {
  users?: Record<string, string>;
  anonymousPull?: boolean;
  service?: string;
  issuer?: string;
  expiresIn?: number;
  /** Answer the token as `access_token` instead of `token` (both are allowed by the spec). */
  useAccessTokenField?: boolean;
  /** Identify the signing key by its libtrust `kid` only (no x5c chain in the JWT header). */
  kidOnly?: boolean;
  /** OAuth2 refresh tokens (Docker's `identitytoken`) accepted by POST /token, mapped to account names. */
  refreshTokens?: Record<string, string>;
}

const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');

/** libtrust key id: base32 of the first 240 bits of sha256(DER SPKI), in 12 groups of 4. */
export function libtrustKeyId(pub: KeyObject): string {
  const der = pub.export({ type: 'spki', format: 'der' });
  const h = createHash('sha256').update(der).digest().subarray(0, 30);
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0; let value = 0; let out = '';
  for (const byte of h) {
    value = (value << 8) | byte; bits += 8;
    while (bits >= 5) { out += alphabet[(value >>> (bits - 5)) & 31]; bits -= 5; }
  }
  return out.match(/.{4}/g)!.join(':');
}

export async function startTokenServer(o: TokenServerOptions = {}): Promise<TokenServer> {
  const dir = mkdtempSync(join(tmpdir(), 'xbuild-token-'));
  const keyPath = join(dir, 'key.pem');
  const certPath = join(dir, 'cert.pem');
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
      '-keyout', keyPath, '-out', certPath, '-days', '2', '-subj', '/CN=xbuild-test-token-issuer'], { stdio: 'pipe' });
  } catch (err) {
    throw new Error(`token-server: openssl could not make a key and certificate (is openssl installed?): ${(err as Error).message}`);
  }
  const key = createPrivateKey(readFileSync(keyPath));
  const kid = libtrustKeyId(createPublicKey(key));
  const certDer = Buffer.from(readFileSync(certPath, 'utf8').replace(/-----[^-]+-----|\s/g, ''), 'base64');
  const service = o.service ?? 'xbuild-test-registry';
  const issuer = o.issuer ?? 'xbuild-test-issuer';
  const users = o.users ?? {};
  const anonymousPull = o.anonymousPull ?? true;
  const requests: TokenServer['requests'] = [];

  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => { body += d.toString(); });
    req.on('end', () => answer(req, res, body));
  });
  const answer = (req: http.IncomingMessage, res: http.ServerResponse, body: string) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const form = new URLSearchParams(req.method === 'POST' ? body : '');
    const params = req.method === 'POST' ? form : url.searchParams;
    const scopes = params.getAll('scope').flatMap((s) => s.split(' ')).filter(Boolean);
    let account: string | undefined;
    const authz = req.headers.authorization;
    if (req.method === 'POST') {
      const rt = form.get('refresh_token') ?? '';
      account = form.get('grant_type') === 'refresh_token' ? o.refreshTokens?.[rt] : undefined;
      if (!account) {
        requests.push({ scopes, granted: [] });
        res.writeHead(401, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ error: 'invalid_grant' }));
        return;
      }
    } else if (authz?.startsWith('Basic ')) {
      const dec = Buffer.from(authz.slice(6), 'base64').toString();
      const i = dec.indexOf(':');
      const [u, p] = [dec.slice(0, i), dec.slice(i + 1)];
      if (i === -1 || users[u] === undefined || users[u] !== p) {
        requests.push({ account: u, scopes, granted: [] });
        res.writeHead(401, { 'Content-Type': 'application/json', 'WWW-Authenticate': 'Basic realm="xbuild-test-token"' });
        res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'wrong credentials' }] }));
        return;
      }
      account = u;
    }
    const access: Array<{ type: string; name: string; actions: string[] }> = [];
    const granted: string[] = [];
    for (const s of scopes) {
      const m = /^([a-z]+):(.+):([a-z,*]+)$/.exec(s);
      if (!m) continue;
      const asked = m[3]!.split(',');
      const actions = account ? asked : (anonymousPull ? asked.filter((a) => a === 'pull') : []);
      access.push({ type: m[1]!, name: m[2]!, actions });
      granted.push(`${m[1]}:${m[2]}:${actions.join(',')}`);
    }
    requests.push({ account, scopes, granted });
    const now = Math.floor(Date.now() / 1000);
    const expiresIn = o.expiresIn ?? 300;
    const header = { typ: 'JWT', alg: 'ES256', kid, ...(o.kidOnly ? {} : { x5c: [certDer.toString('base64')] }) };
    const claims = { iss: issuer, sub: account ?? '', aud: service, exp: now + expiresIn, nbf: now - 10, iat: now, jti: randomUUID(), access };
    const signingInput = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const sig = sign('sha256', Buffer.from(signingInput), { key, dsaEncoding: 'ieee-p1363' });
    const token = `${signingInput}.${b64url(sig)}`;
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(o.useAccessTokenField
      ? { access_token: token, expires_in: expiresIn, issued_at: new Date(now * 1000).toISOString() }
      : { token, expires_in: expiresIn, issued_at: new Date(now * 1000).toISOString() }));
  };
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    realm: `http://127.0.0.1:${port}/token`,
    service, issuer, certPath, requests,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
