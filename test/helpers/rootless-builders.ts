// The rootless builders of test/e2e-rootless.test.ts, as commands the
// unprivileged user runs (docs/builders.md "Rootless builders" lists the
// same commands and why each flag is there). Each containers/storage builder
// gets its own storage through a storage.conf of its own
// (CONTAINERS_STORAGE_CONF): containers/storage refuses to reopen a store
// with another driver. Rootless dockerd (BuildKit): helpers/rootless-dockerd.ts.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runOk } from './e2e-exec.ts';
import { DOCKER_CLIENT, rootlessDockerd } from './rootless-dockerd.ts';
import type { RootlessSession } from './rootless-session.ts';

export type RootlessBuilder = 'buildah-vfs' | 'buildah-overlay' | 'podman' | 'dockerd-buildkit';
export const ROOTLESS_BUILDERS: RootlessBuilder[] = ['buildah-vfs', 'buildah-overlay', 'podman', 'dockerd-buildkit'];

export interface RootlessBuild { dockerfile: string; base: string; platform: string; tag: string }
export interface RootlessBuildResult { output: string; buildMs: number; pushMs: number }

const DRIVER: Record<Exclude<RootlessBuilder, 'dockerd-buildkit'>, string> = { 'buildah-vfs': 'vfs', 'buildah-overlay': 'overlay', podman: 'overlay' };

/** A storage.conf for BUILDER under the user's HOME (graphroot in HOME, runroot in XDG_RUNTIME_DIR). */
async function storageConf(s: RootlessSession, builder: keyof typeof DRIVER): Promise<string> {
  const dir = join(s.home, '.config', 'containers');
  await mkdir(dir, { recursive: true });
  const file = join(dir, `storage-${builder}.conf`);
  await writeFile(file, [
    '[storage]', `driver = "${DRIVER[builder]}"`,
    `graphroot = "${join(s.home, '.local/share/containers', `storage-${builder}`)}"`,
    `runroot = "${join(s.env.XDG_RUNTIME_DIR!, `containers-${builder}`)}"`, '',
  ].join('\n'));
  await runOk('chown the user config', 'chown', ['-R', `${s.user.uid}:${s.user.gid}`, join(s.home, '.config')]);
  return file;
}

const q = (x: string) => `'${x.replace(/'/g, `'\\''`)}'`;

/** Builds and pushes as the user with one rootless builder; throws with the output's tail when a step fails. */
export async function runBuild(s: RootlessSession, builder: RootlessBuilder, req: RootlessBuild): Promise<RootlessBuildResult> {
  if (builder === 'dockerd-buildkit') return runDockerBuild(s, req);
  const tool = builder === 'podman' ? 'podman' : 'buildah';
  const env: NodeJS.ProcessEnv = { CONTAINERS_STORAGE_CONF: await storageConf(s, builder) };
  if (tool === 'buildah') env.BUILDAH_ISOLATION = 'chroot';
  const login = `${tool} login -u ${q(s.registry.username!)} -p ${q(s.registry.password!)} ${q(s.registry.host)}`;
  // rootless podman's RUN steps get a network namespace through slirp4netns, which needs /dev/net/tun
  // (docs/builders.md): --network host keeps the user's network; buildah's chroot isolation has no netns
  const net = tool === 'podman' ? '--network host ' : '';
  const build = `${tool} build ${net}--platform ${q(req.platform)} --build-arg BASE=${q(req.base)} -f ${q(req.dockerfile)} -t ${q(req.tag)} .`;
  const b = await s.sh(`${login} >/dev/null\n${build}`, env, 40 * 60_000);
  const output = `${b.stdout}\n${b.stderr}`;
  if (b.code !== 0) throw new Error(`${builder}: ${build} exited ${b.code}:\n${output.trimEnd().split('\n').slice(-30).join('\n')}`);
  const p = await s.sh(`${tool} push ${q(req.tag)}`, env, 10 * 60_000);
  if (p.code !== 0) throw new Error(`${builder}: push ${req.tag} exited ${p.code}: ${p.stdout}${p.stderr}`);
  return { output, buildMs: b.ms, pushMs: p.ms };
}

/** The same with the session's rootless dockerd: BuildKit (output on stderr with --progress=plain), host network. */
async function runDockerBuild(s: RootlessSession, req: RootlessBuild): Promise<RootlessBuildResult> {
  const env = { ...(await rootlessDockerd(s)).env, DOCKER_BUILDKIT: '1' };
  const login = `printf '%s' ${q(s.registry.password!)} | ${DOCKER_CLIENT} login -u ${q(s.registry.username!)} --password-stdin ${q(s.registry.host)}`;
  const build = `${DOCKER_CLIENT} build --progress=plain --network=host --platform ${q(req.platform)} --build-arg BASE=${q(req.base)} -f ${q(req.dockerfile)} -t ${q(req.tag)} .`;
  const b = await s.sh(`${login} >/dev/null\n${build}`, env, 40 * 60_000);
  const output = `${b.stdout}\n${b.stderr}`;
  if (b.code !== 0) throw new Error(`dockerd-buildkit: ${build} exited ${b.code}:\n${output.trimEnd().split('\n').slice(-30).join('\n')}`);
  const p = await s.sh(`${DOCKER_CLIENT} push ${q(req.tag)}`, env, 10 * 60_000);
  if (p.code !== 0) throw new Error(`dockerd-buildkit: push ${req.tag} exited ${p.code}: ${p.stdout}${p.stderr}`);
  return { output, buildMs: b.ms, pushMs: p.ms };
}
