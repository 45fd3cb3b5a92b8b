// The filesystem view on its own: whiteouts, opaque dirs, replacement, symlink resolution.
import test from 'ava';
import { FsView } from '../src/layer/fs-view.ts';
import { normaliseEntryPath } from '../src/layer/walk.ts';

const file = (layer: number) => ({ kind: 'file' as const, mode: 0o755, size: 1, layer });
const link = (layer: number, linkname: string) => ({ kind: 'symlink' as const, mode: 0o777, size: 0, layer, linkname });

test('entry names are normalised; absolute and .. are flagged', (t) => {
  t.deepEqual(normaliseEntryPath('./usr/bin/'), { path: 'usr/bin', absolute: false, parentRef: false });
  t.deepEqual(normaliseEntryPath('/etc/passwd'), { path: 'etc/passwd', absolute: true, parentRef: false });
  t.true(normaliseEntryPath('usr/../../x').parentRef);
});

test('whiteouts remove lower entries and their children; same-layer entries survive an opaque marker', (t) => {
  const v = new FsView<string>();
  v.set('usr/bin/a', file(0)); v.set('usr/bin/b', file(0)); v.set('usr/lib/x/y', file(0));
  t.true(v.applyWhiteout(1, 'usr/bin/.wh.a'));
  t.is(v.get('usr/bin/a'), undefined);
  t.truthy(v.get('usr/bin/b'));
  v.applyWhiteout(1, 'usr/.wh.lib');
  t.is(v.get('usr/lib/x/y'), undefined);
  v.set('usr/bin/c', file(2));
  v.applyWhiteout(2, 'usr/bin/.wh..wh..opq');
  t.is(v.get('usr/bin/b'), undefined);
  t.truthy(v.get('usr/bin/c'));
  t.false(v.applyWhiteout(3, 'usr/bin/normal'));
});

test('a file replacing a lower directory hides its children; a directory replaces a lower symlink', (t) => {
  const v = new FsView<string>();
  v.set('opt/d/f', file(0));
  v.set('opt/d', file(1));
  t.is(v.get('opt/d/f'), undefined);
  v.set('bin', link(0, 'usr/bin'));
  v.setDir('bin', 1);
  t.is(v.get('bin'), undefined);
});

test('lookup resolves relative and absolute symlinks in any component, with .. and a loop limit', (t) => {
  const v = new FsView<string>();
  v.set('bin', link(0, 'usr/bin'));
  v.set('usr/bin/dash', file(0));
  v.set('usr/bin/sh', link(0, 'dash'));
  v.set('usr/local/bin/sh2', link(0, '../../bin/sh'));
  v.set('etc/alt', link(0, '/usr/bin/sh'));
  for (const p of ['bin/sh', '/bin/sh', 'usr/local/bin/sh2', 'etc/alt', 'bin/../bin/dash']) {
    const l = v.lookup(p);
    t.true(l.found, p);
    t.is(l.path, 'usr/bin/dash', p);
  }
  const nofollow = v.lookup('bin/sh', false);
  t.true(nofollow.found && nofollow.node.kind === 'symlink');
  v.set('a', link(0, 'b')); v.set('b', link(0, 'a'));
  const loop = v.lookup('a');
  t.false(loop.found);
  t.is(!loop.found && loop.reason, 'loop');
  t.is(!v.lookup('usr/bin/dash/x').found && (v.lookup('usr/bin/dash/x') as { reason: string }).reason, 'not-a-directory');
  t.false(v.lookup('nope').found);
});

test('shadow: an entry verify does not keep still hides lower nodes, and stores nothing', (t) => {
  const v = new FsView<string>();
  v.set('lib', link(0, 'usr/lib'));
  v.set('opt/x/bin/tool', file(0));
  v.shadow('lib', 1);
  v.shadow('opt/x', 1);
  t.deepEqual([...v.paths()], []);
  v.set('usr/bin/a', file(0));
  v.shadow('usr/bin/a', 0);
  t.deepEqual([...v.paths()], [], 'same-layer replacement by an unkept entry');
});
