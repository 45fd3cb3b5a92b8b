// Credentials as Docker finds them: $DOCKER_CONFIG/config.json (else
// $HOME/.docker/config.json) with `auths` (base64 `auth`, `username`/`password`,
// `identitytoken`), `credHelpers` (per registry) and `credsStore` (default),
// the helpers being `docker-credential-<name> get` with the server URL on stdin.
import { readFile } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { XbuildError } from '../errors.ts';

export type Credentials =
  | { kind: 'basic'; username: string; password: string }
  | { kind: 'identity-token'; username?: string; token: string };

export type Env = Record<string, string | undefined>;

interface DockerConfig {
  auths?: Record<string, { auth?: string; username?: string; password?: string; identitytoken?: string }>;
  credsStore?: string;
  credHelpers?: Record<string, string>;
}

/** Docker Hub's credentials live under this key (and its helpers are asked for it). */
export const DOCKER_HUB_AUTH_KEY = 'https://index.docker.io/v1/';

export function dockerConfigPath(env: Env): string | undefined {
  if (env.DOCKER_CONFIG) return join(env.DOCKER_CONFIG, 'config.json');
  if (env.HOME) return join(env.HOME, '.docker', 'config.json');
  return undefined;
}

async function readDockerConfig(env: Env): Promise<{ path: string; config: DockerConfig } | undefined> {
  const path = dockerConfigPath(env);
  if (!path) return undefined;
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new XbuildError('IO', `reading ${path}: ${(err as Error).message}`);
  }
  try {
    return { path, config: JSON.parse(text) as DockerConfig };
  } catch (err) {
    throw new XbuildError('IO', `${path} is not valid JSON: ${(err as Error).message}`);
  }
}

/** "https://host:5000/v2/" / "host:5000" / "http://host" -> "host:5000". */
export function normaliseAuthKey(key: string): string {
  let k = key.trim().replace(/^[a-z]+:\/\//i, '');
  k = k.split('/')[0] ?? k;
  k = k.toLowerCase();
  return k === 'index.docker.io' || k === 'registry-1.docker.io' ? 'docker.io' : k;
}

function serverUrlFor(registry: string): string {
  return registry === 'docker.io' ? DOCKER_HUB_AUTH_KEY : registry;
}

function fromAuthEntry(e: NonNullable<DockerConfig['auths']>[string], where: string): Credentials | undefined {
  if (e.identitytoken) return { kind: 'identity-token', token: e.identitytoken, username: e.username };
  if (e.auth) {
    const dec = Buffer.from(e.auth, 'base64').toString('utf8');
    const i = dec.indexOf(':');
    if (i === -1) throw new XbuildError('IO', `${where}: "auth" is not base64 of user:password`);
    return { kind: 'basic', username: dec.slice(0, i), password: dec.slice(i + 1) };
  }
  if (e.username !== undefined && e.password !== undefined) return { kind: 'basic', username: e.username, password: e.password };
  return undefined;
}

/** Run `docker-credential-<helper> get`; undefined when it has no entry for the server. */
export async function runCredentialHelper(helper: string, serverUrl: string, env: Env): Promise<Credentials | undefined> {
  const bin = `docker-credential-${helper}`;
  const { code, stdout, stderr, spawnError } = await new Promise<{ code: number | null; stdout: string; stderr: string; spawnError?: Error }>((resolve) => {
    let out = ''; let err = '';
    const child = spawn(bin, ['get'], { env: env as NodeJS.ProcessEnv, stdio: ['pipe', 'pipe', 'pipe'] });
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    child.on('error', (e) => resolve({ code: null, stdout: out, stderr: err, spawnError: e }));
    child.on('close', (c) => resolve({ code: c, stdout: out, stderr: err }));
    child.stdin.on('error', () => { /* helper exited early; reported via close */ });
    child.stdin.end(serverUrl);
  });
  if (spawnError) {
    throw new XbuildError('UNAUTHORIZED', `credential helper ${bin} for ${serverUrl} could not be run: ${spawnError.message}`, {
      hint: `install ${bin} on PATH or remove it from credsStore/credHelpers in the Docker config`,
    });
  }
  if (code !== 0) {
    const text = `${stdout} ${stderr}`.trim();
    if (/credentials not found/i.test(text)) return undefined;
    throw new XbuildError('UNAUTHORIZED', `credential helper ${bin} failed for ${serverUrl} (exit ${code}): ${text.split('\n')[0]}`);
  }
  let j: { Username?: string; Secret?: string };
  try { j = JSON.parse(stdout) as typeof j; } catch {
    throw new XbuildError('UNAUTHORIZED', `credential helper ${bin} printed no JSON for ${serverUrl}`);
  }
  if (!j.Secret) return undefined;
  if (j.Username === '<token>') return { kind: 'identity-token', token: j.Secret };
  return { kind: 'basic', username: j.Username ?? '', password: j.Secret };
}

/** Credentials Docker would use for `registry` ("docker.io", "localhost:5000"), or undefined (anonymous). */
export async function findCredentials(registry: string, env: Env): Promise<Credentials | undefined> {
  const found = await readDockerConfig(env);
  if (!found) return undefined;
  const { path, config } = found;
  const host = normaliseAuthKey(registry);
  const helper = Object.entries(config.credHelpers ?? {}).find(([k]) => normaliseAuthKey(k) === host)?.[1];
  if (helper) return runCredentialHelper(helper, serverUrlFor(host), env);
  if (config.credsStore) {
    // A default store whose helper is not installed (a config copied from
    // Docker Desktop: "desktop", "osxkeychain") must not block anonymous pulls:
    // fall back to `auths`, as if the store were empty. A credHelpers entry
    // naming this registry is explicit, and its failure is reported (above).
    const c = await runCredentialHelper(config.credsStore, serverUrlFor(host), env).catch((err: unknown) => {
      if (err instanceof XbuildError && /could not be run/.test(err.message)) return undefined;
      throw err;
    });
    if (c) return c;
  }
  for (const [k, e] of Object.entries(config.auths ?? {})) {
    if (normaliseAuthKey(k) === host && e) {
      const c = fromAuthEntry(e, `${path} auths["${k}"]`);
      if (c) return c;
    }
  }
  return undefined;
}
