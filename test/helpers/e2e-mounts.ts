// Lazily unmounts whatever a builder left mounted under a temp directory
// (overlay2 layers, netns bind mounts), deepest first, so it can be removed.
import { readFile } from 'node:fs/promises';
import { run } from './e2e-exec.ts';

export async function unmountUnder(dir: string): Promise<void> {
  const info = await readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
  const points = info.split('\n')
    .map((l) => l.split(' ')[4])
    .filter((p): p is string => !!p && (p === dir || p.startsWith(dir + '/')))
    .map((p) => p.replace(/\\040/g, ' '))
    .sort((a, b) => b.length - a.length);
  for (const p of points) await run('umount', ['-l', p]);
}
