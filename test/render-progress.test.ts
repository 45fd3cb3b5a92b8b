import test from 'ava';
import { PassThrough } from 'node:stream';
import { createProgressRenderer, formatBytes } from '../src/cli/render-progress.ts';

function sink() { const s = new PassThrough(); let t = ''; s.on('data', (d) => { t += d; }); return { s, text: () => t }; }

test('plain renderer writes steps and throttles byte progress to quarters', (t) => {
  const o = sink();
  const r = createProgressRenderer({ out: o.s, isTTY: false });
  r({ kind: 'step', message: 'pulling x' });
  for (let i = 0; i <= 100; i++) r({ kind: 'bytes', id: 'a', label: 'abc123', done: i * 10, total: 1000 });
  r({ kind: 'done', id: 'a', label: 'abc123', note: 'Pull complete' });
  const lines = o.text().trim().split('\n');
  t.is(lines[0], 'pulling x');
  t.is(lines.filter((l) => l.startsWith('abc123: ') && l.includes('/')).length, 3);
  t.is(lines.at(-1), 'abc123: Pull complete');
});

test('quiet renderer writes nothing', (t) => {
  const o = sink();
  createProgressRenderer({ out: o.s, isTTY: true, quiet: true })({ kind: 'step', message: 'x' });
  t.is(o.text(), '');
});

test('tty renderer redraws lines in place with cursor-up sequences', (t) => {
  const o = sink();
  const r = createProgressRenderer({ out: o.s, isTTY: true });
  r({ kind: 'bytes', id: 'a', label: 'aaa', done: 1, total: 2 });
  r({ kind: 'bytes', id: 'a', label: 'aaa', done: 2, total: 2 });
  t.regex(o.text(), /\x1b\[1A/);
  t.regex(o.text(), /\[=+\s*\]/);
});

test('formatBytes uses decimal units like docker', (t) => {
  t.is(formatBytes(999), '999 B');
  t.is(formatBytes(5_000_000), '5.00 MB');
  t.is(formatBytes(300_000_000), '300.0 MB');
});

test('prefix and byte-line options (xbuild qemu build: "xbuild: " lines, a line per 10% in CI logs)', (t) => {
  const o = sink();
  const r = createProgressRenderer({ out: o.s, isTTY: false, prefix: 'xbuild: ', byteLines: 10 });
  r({ kind: 'step', message: 'configuring QEMU' });
  for (let i = 0; i <= 100; i++) r({ kind: 'bytes', id: 'q', label: 'qemu.tar.xz', done: i * 10, total: 1000 });
  r({ kind: 'done', id: 'q', label: 'qemu.tar.xz', note: 'fetched' });
  const lines = o.text().trim().split('\n');
  t.is(lines[0], 'xbuild: configuring QEMU');
  t.is(lines.filter((l) => l.startsWith('qemu.tar.xz: ')).length, 9);
  t.is(lines.at(-1), 'xbuild: qemu.tar.xz: fetched');
  const tty = sink();
  createProgressRenderer({ out: tty.s, isTTY: true, prefix: 'xbuild: ' })({ kind: 'step', message: 'building' });
  t.regex(tty.text(), /xbuild: building\n/);
});
