// The swap contract (contract/in-image.ts): verify checks exactly the shells
// cross-build-start can swap, resolved through every link; the shim reached
// from any of them is an error, and so is anything there that is not an ELF
// of the image's machine. The host-native check wants ELF64 LE x86-64
// ET_EXEC/ET_DYN. Each case failed (passed or only warned) before.
import test from 'ava';
import { verifyImage, type PlatformReport } from '../src/verify/verify.ts';
import { swappableShells } from '../src/contract/in-image.ts';
import { memImage, tarOf, type TarSpec } from './helpers/mem-image.ts';
import { debianLikeRoot, xbuildLayer, xbuildParts } from './helpers/verify-images.ts';
import { END, entryBytes } from './helpers/tar-forge.ts';

const errors = (r: PlatformReport) => r.findings.filter((f) => f.severity === 'error').map((f) => `${f.id}:${f.path ?? ''}`).sort();

async function image(extra: (TarSpec[] | Buffer)[], emulatorPatch?: (b: Buffer) => Buffer) {
  const parts = await xbuildParts('arm');
  const layers = [await tarOf(await debianLikeRoot('armhf')), await tarOf(await xbuildLayer(parts))];
  if (emulatorPatch) layers.push(await tarOf([{ name: 'usr/bin/qemu-arm-static', content: emulatorPatch(Buffer.from(parts.emulator)), mode: 0o755 }]));
  for (const e of extra) layers.push(Buffer.isBuffer(e) ? e : await tarOf(e));
  return { img: memImage('test/shells', { architecture: 'arm', variant: 'v7' }, layers.map((tar) => ({ tar }))), parts };
}

test('the shell list is the swap contract: /bin/sh, /etc/shells lines (64 KiB, trimmed), the usual shells, 64 at most', (t) => {
  t.deepEqual(swappableShells(undefined), ['bin/sh', 'bin/bash', 'bin/dash', 'bin/ash', 'bin/zsh', 'bin/ksh', 'bin/mksh']);
  t.deepEqual(swappableShells(' \t/opt/a \r\n# c\n/bin/sh\n/x # comment\n').slice(0, 3), ['bin/sh', 'opt/a', 'x # comment']);
  t.false(swappableShells(`${'#'.repeat(70_000)}\n/opt/late\n`).includes('opt/late'));
  t.is(swappableShells(Array.from({ length: 100 }, (_, i) => `/s${i}`).join('\n')).length, 64);
});

test('the shim reached from /bin/sh by a symlink, a hard link or a #! line is an error', async (t) => {
  const { parts } = await image([]);
  const copy: TarSpec = { name: 'opt/x/tool', content: parts.shim, mode: 0o755 };
  for (const [how, extra] of [
    ['symlink', [copy, { name: 'usr/bin/sh', type: 'symlink', linkname: '/opt/x/tool' }]],
    ['hard link', [copy, { name: 'usr/bin/sh', type: 'link', linkname: 'opt/x/tool' }]],
    ['#!', [copy, { name: 'usr/bin/sh', content: '#!/opt/x/tool\n', mode: 0o755 }]],
  ] as const) {
    const { img } = await image([[...extra]]);
    const r = await verifyImage(img);
    t.true(errors(r).includes('shell-is-shim:bin/sh'), `${how}: ${errors(r).join(', ')}`);
  }
});

test('a FIFO, a script, a dangling link at /bin/sh are errors; so is the shim at /bin/bash (a usual shell)', async (t) => {
  const fifo = Buffer.concat([entryBytes({ name: 'usr/bin/sh', typeflag: '6' }), END]);
  const { img } = await image([fifo]);
  t.true(errors(await verifyImage(img)).includes('shell-not-elf:bin/sh'));
  const { img: script } = await image([[{ name: 'usr/bin/sh', content: '#!/usr/bin/busybox sh\n', mode: 0o755 }]]);
  t.true(errors(await verifyImage(script)).includes('shell-not-elf:bin/sh'));
  const { img: dangling } = await image([[{ name: 'usr/bin/sh', type: 'symlink', linkname: 'nowhere' }]]);
  t.true(errors(await verifyImage(dangling)).includes('shell-unresolvable:bin/sh'));
  const { parts } = await image([]);
  const { img: bash } = await image([[{ name: 'usr/bin/bash', content: parts.shim, mode: 0o755 }]]);
  t.true(errors(await verifyImage(bash)).includes('shell-is-shim:bin/bash'));
});

test('/etc/shells reached through a symlink lists a shell outside the kept directories: checked', async (t) => {
  const { parts } = await image([]);
  const { img } = await image([[
    { name: 'etc/shells', type: 'symlink', linkname: '../opt/shells-list' },
    { name: 'opt/shells-list', content: '/opt/mysh   # my shell\n/opt/mysh\n' },
    { name: 'opt/mysh', content: parts.shim, mode: 0o755 },
  ]]);
  t.true(errors(await verifyImage(img)).includes('shell-is-shim:opt/mysh'));
});

test('host-native check: ET_REL or ET_CORE x86-64 with the note, or a big-endian header, is not host-native', async (t) => {
  for (const [what, patch] of [
    ['ET_REL', (b: Buffer) => { b.writeUInt16LE(1, 16); return b; }],
    ['ET_CORE', (b: Buffer) => { b.writeUInt16LE(4, 16); return b; }],
    ['big-endian', (b: Buffer) => { b[5] = 2; return b; }],
  ] as const) {
    const { img } = await image([], patch);
    const r = await verifyImage(img);
    t.false(r.passed, what);
    t.true(errors(r).some((e) => e.startsWith('emulator-')), `${what}: ${errors(r).join(', ')}`);
  }
});

test('no false failure: an emulator that is a symlink into /opt is read there and proven', async (t) => {
  const { parts } = await image([]);
  const { img } = await image([[
    { name: 'opt/q/qemu-arm-static', content: parts.emulator, mode: 0o755 },
    { name: 'usr/bin/qemu-arm-static', type: 'symlink', linkname: '/opt/q/qemu-arm-static' },
  ]]);
  const r = await verifyImage(img);
  t.deepEqual(errors(r), []);
});

test('the shim source swaps the same usual shells, cap and /etc/shells size as the contract says', async (t) => {
  const { readFile } = await import('node:fs/promises');
  const c = await readFile(new URL('../shims/xbuild-shim.c', import.meta.url), 'utf8');
  const usual = /usual\[\]\s*=\s*\{([^}]*)\}/.exec(c)?.[1] ?? '';
  t.deepEqual([...usual.matchAll(/"\/([^"]+)"/g)].map((m) => m[1]), swappableShells(undefined));
  t.regex(c, /#define MAX_ENTRIES 64\b/);
  t.regex(c, /static char filebuf\[65536\]/);
});
