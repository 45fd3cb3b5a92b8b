// The file system view on its own: entries applied as umoci/containerd apply
// them (the differential tests in layer-umoci-*.test.ts hold it to umoci).
import test from 'ava';
import { ApplyError, FsView, MAX_SYMLINK_HOPS, cleanComponents, type ApplyInput } from '../src/layer/fs-view.ts';

const f = (name: string, size = 1): ApplyInput => ({ name, kind: 'file', mode: 0o755, size });
const d = (name: string): ApplyInput => ({ name, kind: 'dir', mode: 0o755, size: 0 });
const l = (name: string, linkname: string): ApplyInput => ({ name, kind: 'symlink', mode: 0o777, size: 0, linkname });
const h = (name: string, linkname: string): ApplyInput => ({ name, kind: 'hardlink', mode: 0o644, size: 0, linkname });

function viewOf(layers: ApplyInput[][]): FsView<string> {
  const v = new FsView<string>();
  layers.forEach((entries, i) => { v.beginLayer(i); for (const e of entries) v.apply(e); });
  return v;
}
const paths = (v: FsView<string>) => [...v.paths()].sort();

test('names are cleaned and .. is clamped at the root', (t) => {
  t.deepEqual(cleanComponents('./usr//bin/'), ['usr', 'bin']);
  t.deepEqual(cleanComponents('/../../etc/passwd'), ['etc', 'passwd']);
  t.deepEqual(cleanComponents('usr/../../x'), ['x']);
});

test('writes through a symlinked parent land in its target (merged /usr)', (t) => {
  const v = viewOf([[d('usr/'), d('usr/bin/'), l('bin', 'usr/bin'), l('qb', '/usr/bin'), f('usr/bin/qemu-arm-static')], [f('bin/sh'), f('qb/.wh.qemu-arm-static')]]);
  t.deepEqual(paths(v), ['bin', 'qb', 'usr', 'usr/bin', 'usr/bin/sh']);
});

test('whiteouts and opaque markers spare what the same layer wrote', (t) => {
  const v = viewOf([[f('a/x'), f('a/y'), f('b/k')], [f('a/z'), f('a/.wh..wh..opq'), f('a/w'), f('b/n'), f('.wh.b')]]);
  t.deepEqual(paths(v), ['a', 'a/w', 'a/z', 'b', 'b/n']);
});

test('a file replaces a lower directory and its children; a directory replaces a symlink', (t) => {
  const v = viewOf([[f('opt/d/f'), l('bin', 'usr/bin'), d('usr/bin/')], [f('opt/d'), d('bin/')]]);
  t.is(v.get('opt/d')?.kind, 'file');
  t.is(v.get('bin')?.kind, 'dir');
  t.deepEqual(paths(v), ['bin', 'opt', 'opt/d', 'usr', 'usr/bin']);
});

test('runtime failures: file as parent, missing or directory hard link target, empty or long symlink target, root type change, link loop', (t) => {
  for (const bad of [
    [f('a'), f('a/b')], [h('x', 'nope')], [d('dir/'), h('x', 'dir')], [l('e', '')], [l('e', 'x'.repeat(4096))], [f('./')],
    [l('a', 'b'), l('b', 'a'), f('a/x')], [f(`${'n'.repeat(256)}`)],
  ]) t.throws(() => viewOf([bad]), { instanceOf: ApplyError }, JSON.stringify(bad.map((e) => e.name)));
});

test('hard links keep the target node; their parent is resolved, their last component is not', (t) => {
  const v = viewOf([[d('usr/bin/'), l('bin', 'usr/bin'), f('usr/bin/dash', 7), l('usr/bin/sh', 'dash')], [h('x', 'bin/dash'), h('y', 'bin/sh')]]);
  t.is(v.get('x')?.size, 7);
  t.is(v.get('y')?.kind, 'symlink');
});

test('lookup resolves like the kernel: relative and absolute links, .., a loop limit', (t) => {
  const v = viewOf([[l('bin', 'usr/bin'), f('usr/bin/dash'), l('usr/bin/sh', 'dash'), l('usr/local/bin/sh2', '../../bin/sh'), l('etc/alt', '/usr/bin/sh')]]);
  for (const p of ['bin/sh', '/bin/sh', 'usr/local/bin/sh2', 'etc/alt', 'bin/../bin/dash']) {
    const r = v.lookup(p);
    t.true(r.found, p);
    t.is(r.path, 'usr/bin/dash', p);
  }
  const nofollow = v.lookup('bin/sh', false);
  t.true(nofollow.found && nofollow.node.kind === 'symlink');
  const loops = viewOf([[l('a', 'b'), l('b', 'a')]]);
  const loop = loops.lookup('a');
  t.is(!loop.found && loop.reason, 'loop');
  t.is((v.lookup('usr/bin/dash/x') as { reason: string }).reason, 'not-a-directory');
  t.false(v.lookup('nope').found);
  t.true(MAX_SYMLINK_HOPS === 40);
});

test('opaque markers and whiteouts are linear: 20,000 entries and as many markers in one layer', (t) => {
  const v = new FsView<string>();
  v.beginLayer(0);
  for (let i = 0; i < 20_000; i++) v.apply(f(`d/f${i}`));
  v.beginLayer(1);
  const start = process.hrtime.bigint();
  for (let i = 0; i < 20_000; i++) { v.apply(f(`d/g${i}`)); v.apply(f('d/.wh..wh..opq')); v.apply(f('.wh..wh..opq')); }
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  t.is(paths(v).length, 20_001);
  t.true(ms < 3000, `${ms} ms`);
});
