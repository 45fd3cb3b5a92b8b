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
  let config: unknown;
  try {
    config = JSON.parse(text);
  } catch (err) {
    // V8's message quotes the text around the error (part of a password): name the position only.
    throw new XbuildError('IO', `${path} is not valid JSON${jsonErrorPosition(text, err)}`, { hint: 'fix the file (its contents are not shown: they may hold credentials)' });
  }
  checkDockerConfig(config, path);
  return { path, config };
}

/** " (line L, column C)" from V8's "at position N", else "". */
export function jsonErrorPosition(text: string, err: unknown): string {
  const m = /at position (\d+)/.exec(err instanceof Error ? err.message : '');
  if (!m) return '';
  const before = text.slice(0, Number(m[1]));
  const line = before.split('\n').length;
  return ` (line ${line}, column ${before.length - before.lastIndexOf('\n')})`;
}

/** The fields xbuild reads have the JSON types Docker writes (messages name the field, never its value). */
function checkDockerConfig(v: unknown, path: string): asserts v is DockerConfig {
  const bad = (field: string) => new XbuildError('IO', `${path}: ${field} has the wrong JSON type`, { hint: 'fix the file (its contents are not shown: they may hold credentials)' });
  const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
  if (!isObj(v)) throw bad('the document');
  if (v.credsStore !== undefined && typeof v.credsStore !== 'string') throw bad('credsStore');
  if (v.credHelpers !== undefined) {
    if (!isObj(v.credHelpers)) throw bad('credHelpers');
    for (const [k, h] of Object.entries(v.credHelpers)) if (typeof h !== 'string') throw bad(`credHelpers["${k}"]`);
  }
  if (v.auths !== undefined) {
    if (!isObj(v.auths)) throw bad('auths');
    for (const [k, e] of Object.entries(v.auths)) {
      if (!isObj(e)) throw bad(`auths["${k}"]`);
      for (const f of ['auth', 'username', 'password', 'identitytoken']) if (e[f] !== undefined && typeof e[f] !== 'string') throw bad(`auths["${k}"].${f}`);
    }
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
    // Its output is never echoed: a helper may print a secret on failure.
    throw new XbuildError('UNAUTHORIZED', `credential helper ${bin} failed for ${serverUrl} (exit ${code}; its output is not shown, it may hold credentials)`, {
      hint: `run \`echo ${serverUrl} | ${bin} get\` yourself to see what it says`,
    });
  }
  let j: { Username?: unknown; Secret?: unknown };
  try { j = JSON.parse(stdout) as typeof j; } catch {
    throw new XbuildError('UNAUTHORIZED', `credential helper ${bin} printed no JSON for ${serverUrl}`);
  }
  if (typeof j !== 'object' || j === null || (j.Username !== undefined && typeof j.Username !== 'string') || (j.Secret !== undefined && typeof j.Secret !== 'string')) {
    throw new XbuildError('UNAUTHORIZED', `credential helper ${bin} printed JSON of the wrong shape for ${serverUrl} (Username and Secret must be strings)`);
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
