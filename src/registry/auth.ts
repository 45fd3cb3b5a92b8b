// Registry authentication: the WWW-Authenticate challenge (Basic or Bearer),
// the token flow of the Distribution token spec (realm/service/scope, token or
// access_token, identity tokens via OAuth2 refresh_token), and a token cache
// keyed by registry and scope set.
import { XbuildError } from '../errors.ts';
import { findCredentials, dockerConfigPath, type Credentials, type Env } from './credentials.ts';
import { RegistryError, httpError, networkError, redactUrl } from './errors.ts';
import { readBody, type Transport } from './transport.ts';

export interface Challenge {
  scheme: 'none' | 'basic' | 'bearer';
  params: Record<string, string>;
}

/** Parse `Bearer realm="...",service="...",scope="..."` (first challenge wins). */
export function parseChallenge(header: string | string[] | undefined): Challenge | undefined {
  const h = Array.isArray(header) ? header[0] : header;
  if (!h) return undefined;
  const m = /^\s*(\w+)\s*(.*)$/s.exec(h);
  if (!m) return undefined;
  const scheme = m[1]!.toLowerCase();
  if (scheme !== 'basic' && scheme !== 'bearer') return undefined;
  const params: Record<string, string> = {};
  const re = /(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g;
  for (let p = re.exec(m[2]!); p; p = re.exec(m[2]!)) {
    params[p[1]!.toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : (p[3] ?? '');
  }
  return { scheme, params };
}

export const pullScope = (repository: string) => `repository:${repository}:pull`;
export const pushScope = (repository: string) => `repository:${repository}:pull,push`;

interface CachedToken { token: string; expiresAt: number }

export interface AuthDeps {
  env: Env;
  transport: Transport;
  insecureTls: (registry: string) => boolean;
}

export class Authenticator {
  private readonly creds = new Map<string, Promise<Credentials | undefined>>();
  private readonly challenges = new Map<string, Challenge>();
  private readonly tokens = new Map<string, Promise<CachedToken>>();
  constructor(private readonly d: AuthDeps) {}

  credentials(registry: string): Promise<Credentials | undefined> {
    let p = this.creds.get(registry);
    if (!p) {
      p = findCredentials(registry, this.d.env);
      this.creds.set(registry, p);
      p.catch(() => this.creds.delete(registry));
    }
    return p;
  }

  setChallenge(registry: string, c: Challenge): void {
    this.challenges.set(registry, c);
  }

  challenge(registry: string): Challenge | undefined {
    return this.challenges.get(registry);
  }

  /** The Authorization header for a request needing `scopes`, or undefined (anonymous). */
  async header(registry: string, scopes: string[], fresh = false): Promise<string | undefined> {
    const ch = this.challenges.get(registry);
    if (!ch || ch.scheme === 'none') return undefined;
    const cred = await this.credentials(registry);
    if (ch.scheme === 'basic') {
      if (!cred) return undefined;
      if (cred.kind !== 'basic') throw new XbuildError('UNAUTHORIZED', `${registry} asks for Basic auth but the Docker config holds only an identity token for it`);
      return `Basic ${Buffer.from(`${cred.username}:${cred.password}`).toString('base64')}`;
    }
    const want = [...new Set(scopes)].sort();
    const key = `${registry}\n${ch.params.realm}\n${ch.params.service ?? ''}\n${want.join(' ')}`;
    const now = Date.now();
    let entry = fresh ? undefined : this.tokens.get(key);
    if (entry) {
      const t = await entry.catch(() => undefined);
      if (!t || t.expiresAt <= now) entry = undefined;
    }
    if (!entry) {
      entry = this.fetchToken(registry, ch, want, cred);
      this.tokens.set(key, entry);
      entry.catch(() => this.tokens.delete(key));
    }
    return `Bearer ${(await entry).token}`;
  }

  private async fetchToken(registry: string, ch: Challenge, scopes: string[], cred: Credentials | undefined): Promise<CachedToken> {
    const realm = ch.params.realm;
    if (!realm) throw new XbuildError('REGISTRY', `${registry} asks for a Bearer token but names no realm`);
    let url: URL;
    try { url = new URL(realm); } catch { throw new XbuildError('REGISTRY', `${registry} names an invalid token realm "${realm}"`); }
    const what = `getting a token for ${registry} from ${url.host}`;
    const headers: Record<string, string> = { Accept: 'application/json' };
    let method = 'GET';
    let body: Buffer | undefined;
    if (cred?.kind === 'identity-token') {
      method = 'POST';
      const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: cred.token, client_id: 'xbuild', access_type: 'offline' });
      if (ch.params.service) form.set('service', ch.params.service);
      if (scopes.length) form.set('scope', scopes.join(' '));
      body = Buffer.from(form.toString());
      headers['Content-Type'] = 'application/x-www-form-urlencoded';
    } else {
      if (ch.params.service) url.searchParams.set('service', ch.params.service);
      for (const s of scopes) url.searchParams.append('scope', s);
      if (cred?.kind === 'basic') {
        headers.Authorization = `Basic ${Buffer.from(`${cred.username}:${cred.password}`).toString('base64')}`;
        url.searchParams.set('account', cred.username);
      }
    }
    let res;
    try {
      res = await this.d.transport.send({ method, url, headers, body, insecureTls: this.d.insecureTls(url.host) });
    } catch (err) {
      throw networkError(what, method, url, url.host, err);
    }
    const text = await readBody(res, 1024 * 1024).catch((err) => { throw networkError(what, method, url, url.host, err); });
    if (res.status === 401 || res.status === 403) {
      const who = cred ? (cred.kind === 'basic' ? `user "${cred.username}"` : 'the identity token') : 'anonymous access';
      throw new RegistryError('UNAUTHORIZED', `${what}: the token server rejected ${who} (${res.status}) [${method} ${redactUrl(url)}]`,
        { status: res.status, method, url: redactUrl(url), ociErrors: [] },
        { hint: cred ? `check the credentials for ${registry} in ${this.where()}` : `log in to ${registry} (docker login ${registry}) or add credentials to ${this.where()}` });
    }
    if (res.status !== 200) throw httpError(what, method, url, res.status, res.headers, text);
    let j: { token?: string; access_token?: string; expires_in?: number; issued_at?: string };
    try { j = JSON.parse(text.toString()) as typeof j; } catch {
      throw new XbuildError('REGISTRY', `${what}: the token server answered no JSON`);
    }
    const token = j.token ?? j.access_token;
    if (!token) throw new XbuildError('REGISTRY', `${what}: the token server answered no token`);
    const ttl = Math.max(60, Number(j.expires_in) || 60) * 1000;
    return { token, expiresAt: Date.now() + ttl - 10_000 };
  }

  where(): string {
    return dockerConfigPath(this.d.env) ?? '~/.docker/config.json';
  }
}
