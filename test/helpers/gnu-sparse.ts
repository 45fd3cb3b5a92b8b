// GNU sparse files in PAX form, written by the real GNU tar (what runtimes
// meet in layers built with `tar --sparse`): a 1 MiB file with two data
// islands, and its logical bytes for comparison.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

/** A 1 MiB file with two data islands, archived by GNU tar as a PAX sparse file of `version`; also its logical bytes. */
export function gnuSparseTar(version: '0.0' | '0.1' | '1.0', name = 'data/sparse.bin'): { tar: Buffer; content: Buffer } {
  const dir = mkdtempSync(join(tmpdir(), 'xbuild-sparse-'));
  try {
    const content = Buffer.alloc(1 << 20);
    content.write('hello', 300000); content.write('tail', 1048000);
    execFileSync('mkdir', ['-p', dirname(join(dir, name))]);
    execFileSync('truncate', ['-s', String(content.length), join(dir, name)]);
    execFileSync('dd', [`of=${join(dir, name)}`, 'bs=1', 'seek=300000', 'conv=notrunc', 'status=none'], { input: 'hello' });
    execFileSync('dd', [`of=${join(dir, name)}`, 'bs=1', 'seek=1048000', 'conv=notrunc', 'status=none'], { input: 'tail' });
    const tar = execFileSync('tar', ['--format=pax', '--sparse', `--sparse-version=${version}`, '--owner=0', '--group=0', '--mtime=@1000000000', '-C', dir, '-cf', '-', name], { maxBuffer: 8 << 20 });
    return { tar, content };
  } finally { rmSync(dir, { recursive: true, force: true }); }
}

