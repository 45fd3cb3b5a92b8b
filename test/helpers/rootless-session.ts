// The set-up of test/e2e-rootless.test.ts, as a user meets xbuild on a CI
// runner: root makes the release tarballs, the registry (htpasswd auth, on
// loopback) and the fixture bases in it; everything else runs as the
// unprivileged test user (helpers/rootless.ts) with an empty HOME outside the
// repository and no compiler on PATH: npm installs the release, xbuild wraps,
// buildah/podman/dockerd build, xbuild unwraps and verifies. The user cannot
// read /root or the repository: what it needs is copied into its own tree.
import { chmod, copyFile, cp, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runOk, step, type RunResult } from './e2e-exec.ts';
import { compilerFreePath, makeRelease } from './release.ts';
import { startRegistry, type TestRegistry } from './registry.ts';
import { asUser, cleanupUser, rootlessUser, type RootlessUser } from './rootless.ts';

const ROOT = new URL('../..', import.meta.url).pathname;

export interface RootlessSession {
  user: RootlessUser;
  registry: TestRegistry;
  /** the user's tree: home/ (HOME), xdg/ (XDG_RUNTIME_DIR), ctx/ (a copy of base-images/), dist/ (the tarballs), path/ */
  dir: string;
  home: string;
  ctx: string;
  version: string;
  /** the environment every user command gets (and nothing else) */
  env: NodeJS.ProcessEnv;
  /** Runs CMD as the user in ctx/ with env + EXTRA. */
  sh(script: string, extra?: NodeJS.ProcessEnv, timeoutMs?: number): Promise<RunResult>;
  stop(): Promise<void>;
}

export async function startRootlessSession(): Promise<RootlessSession> {
  const user = await step('creating the rootless test user', () => rootlessUser());
  const work = await mkdtemp(join(tmpdir(), 'xb-rootless-'));
  await chmod(work, 0o755); // mkdtemp gives 0700: the user must reach its tree
  let registry: TestRegistry | undefined;
  const dir = join(work, 'u');
  const home = join(dir, 'home');
  const stop = async () => {
    await cleanupUser(user, [work]);
    await registry?.stop();
  };
  try {
    const release = await step('npm run release', () => makeRelease(join(work, 'release')));
    registry = await step('starting the registry (htpasswd)', () => startRegistry({ auth: 'htpasswd' }));
    for (const d of ['home', 'xdg', 'dist', 'project']) await mkdir(join(dir, d), { recursive: true });
    const version = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')).version as string;
    await copyFile(release.cli, join(dir, 'dist', `xbuild-${version}.tgz`));
    await copyFile(release.platform, join(dir, 'dist', `xbuild-linux-x64-${version}.tgz`));
    const ctx = join(dir, 'project');
    await cp(join(ROOT, 'base-images'), ctx, { recursive: true });
    await runOk('generating ./configure of the autoconf demo', 'autoconf', [], { cwd: join(ctx, 'common/autoconf-demo') });
    await runOk('handing the tree to the test user', 'chown', ['-R', `${user.uid}:${user.gid}`, dir]);
    await chmod(join(dir, 'xdg'), 0o700);
    const env: NodeJS.ProcessEnv = {
      HOME: home, USER: user.name, LOGNAME: user.name, LANG: 'C.UTF-8', XDG_RUNTIME_DIR: join(dir, 'xdg'),
      PATH: await compilerFreePath(join(work, 'path')), npm_config_update_notifier: 'false',
    };
    const sh = (script: string, extra: NodeJS.ProcessEnv = {}, timeoutMs?: number) =>
      asUser(user, { ...env, ...extra }, ctx, ['/bin/sh', '-ec', script], timeoutMs);
    return { user, registry, dir, home, ctx, version, env, sh, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/**
 * The registry stands in for a CI registry with TLS: the user's
 * registries.conf marks it insecure (plain HTTP) for buildah and podman,
 * rootless dockerd gets --insecure-registry; xbuild speaks plain HTTP to
 * loopback by itself. Written after the install, so HOME was empty for it.
 */
export async function trustTestRegistry(s: RootlessSession): Promise<void> {
  const conf = join(s.home, '.config', 'containers');
  await mkdir(conf, { recursive: true });
  await writeFile(join(conf, 'registries.conf'), `unqualified-search-registries = []\n[[registry]]\nlocation = "${s.registry.host}"\ninsecure = true\n`);
  await runOk('chown the user config', 'chown', ['-R', `${s.user.uid}:${s.user.gid}`, join(s.home, '.config')]);
}

/** skopeo (as root) pushes a fixture OCI layout into the test registry with its credentials. */
export async function pushFixture(s: RootlessSession, layoutParent: string, name: string, ref: string): Promise<void> {
  await runOk(`pushing fixture ${name}`, '/usr/bin/skopeo', ['copy', '--quiet', '--dest-tls-verify=false',
    '--dest-creds', `${s.registry.username}:${s.registry.password}`, `oci:${join(layoutParent, name)}:${name}`, `docker://${ref}`],
  { timeoutMs: 10 * 60_000 });
}
