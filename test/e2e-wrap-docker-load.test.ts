// oci -> docker-archive, then `docker load` into a real dockerd (Debian's
// docker.io) started by the test. The added layer is a STAND-IN (Debian's
// qemu-*-static + placeholder shims) until the patched emulator and shims land.
import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runWrap } from '../src/wrap/run-wrap.ts';
import { smallImages, standInLayerSource, run } from './helpers/small-images.ts';
import { startDockerd } from './helpers/dockerd.ts';

test('e2e (stand-in layer): wrapped docker-archives load into dockerd with the base architecture and the added layer; a real `docker save` archive is a valid source', async (t) => {
  const f = await smallImages();
  const d = await mkdtemp(join(tmpdir(), 'xbuild-e2e-docker-'));
  t.teardown(() => rm(d, { recursive: true, force: true }));
  const cases = [
    { src: 'armhf', tag: 'xbuild-test/busybox-xbuild:armhf', arch: 'arm', variant: 'v7' },
    { src: 'arm64', tag: 'xbuild-test/busybox-xbuild:arm64', arch: 'arm64', variant: 'v8' },
    { src: 'armhf-docker', tag: 'xbuild-test/busybox-xbuild:armhf-docker', arch: 'arm', variant: 'v7' },
  ];
  for (const c of cases) {
    await runWrap({ image: `oci:${f}/${c.src}`, tags: [c.tag], output: { type: 'docker', dest: join(d, `${c.src}.tar`) }, env: {}, xbuildVersion: '9.9.9-test' },
      { layerSource: standInLayerSource(join(f, 'qemu')) });
  }
  const dockerd = await startDockerd();
  t.teardown(() => dockerd.stop());
  for (const c of cases) {
    const load = await dockerd.docker(['load', '-i', join(d, `${c.src}.tar`)]);
    t.is(load.code, 0, load.stderr);
    t.regex(load.stdout, new RegExp(`Loaded image: ${c.tag}`));
    const insp = await dockerd.docker(['image', 'inspect', c.tag]);
    t.is(insp.code, 0, insp.stderr);
    const info = JSON.parse(insp.stdout)[0];
    t.is(info.Architecture, c.arch, c.src);
    if (c.variant !== 'v8') t.is(info.Variant, c.variant, c.src);
    t.is(info.RootFS.Layers.length, 2, c.src);
    t.is(info.Config.Labels['io.xbuild.version'], '9.9.9-test');
  }
  // a real `docker save` archive (legacy layout: <id>/layer.tar, symlinked duplicates) as the source
  await run('skopeo', ['copy', '-q', `oci:${f}/armel`, `docker-archive:${join(d, 'armel-base.tar')}:xbuild-test/armel-base:1`]);
  t.is((await dockerd.docker(['load', '-i', join(d, 'armel-base.tar')])).code, 0);
  const save = await dockerd.docker(['save', '-o', join(d, 'saved.tar'), 'xbuild-test/armel-base:1']);
  t.is(save.code, 0, save.stderr);
  await runWrap({ image: `docker-archive:${join(d, 'saved.tar')}`, tags: ['xbuild-test/armel-base:xbuild'], output: { type: 'docker', dest: join(d, 'saved-xbuild.tar') }, env: {}, xbuildVersion: '9.9.9-test' },
    { layerSource: standInLayerSource(join(f, 'qemu')) });
  const load = await dockerd.docker(['load', '-i', join(d, 'saved-xbuild.tar')]);
  t.is(load.code, 0, load.stderr);
  const info = JSON.parse((await dockerd.docker(['image', 'inspect', 'xbuild-test/armel-base:xbuild'])).stdout)[0];
  t.is(info.Architecture, 'arm'); t.is(info.Variant, 'v5'); t.is(info.RootFS.Layers.length, 2);
  const baseInfo = JSON.parse((await dockerd.docker(['image', 'inspect', 'xbuild-test/armel-base:1'])).stdout)[0];
  t.is(info.RootFS.Layers[0], baseInfo.RootFS.Layers[0]);
});
