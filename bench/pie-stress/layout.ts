// Where the kernel puts a running emulator's pieces: its own image, its brk
// heap and the guest address-space reservation, read from /proc/<pid>/maps on
// the host while the emulator runs a guest program that sleeps. Sampled many
// times, it shows how far brk randomisation moves the heap and whether the
// heap can run into the guest's memory.
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

export interface Layout {
  imageStart: bigint;
  imageEnd: bigint;
  heapStart?: bigint;
  heapEnd?: bigint;
  /** The largest inaccessible (---p) mapping: the reserved guest address space. */
  reservation?: { start: bigint; end: bigint };
  /** Start of the first mapping above the heap (what brk growth would hit). */
  aboveHeap?: bigint;
}

export function parseMaps(text: string, imageName: string): Layout {
  const maps = text.trim().split('\n').map((l) => {
    const [range = '', perms = '', , , , path = ''] = l.split(/\s+/);
    const [a = '0', b = '0'] = range.split('-');
    return { start: BigInt(`0x${a}`), end: BigInt(`0x${b}`), perms, path };
  });
  const image = maps.filter((m) => m.path.endsWith(imageName));
  const heap = maps.find((m) => m.path === '[heap]');
  const none = maps.filter((m) => m.perms.startsWith('---')).sort((x, y) => (y.end - y.start > x.end - x.start ? 1 : -1))[0];
  const above = heap ? maps.filter((m) => m.start >= heap.end).sort((x, y) => (x.start < y.start ? -1 : 1))[0] : undefined;
  return {
    imageStart: image[0]?.start ?? 0n,
    imageEnd: image.at(-1)?.end ?? 0n,
    heapStart: heap?.start, heapEnd: heap?.end,
    reservation: none ? { start: none.start, end: none.end } : undefined,
    aboveHeap: above?.start,
  };
}

/**
 * Starts `chroot root emulator guestArgv...` and reads the emulator's maps once it has loaded the
 * guest program (its file mapped: the guest reservation is made by then; the heap exists earlier).
 */
export async function sampleLayout(root: string, emulator: string, guestArgv: string[]): Promise<Layout> {
  const child = spawn('/usr/sbin/chroot', [root, emulator, ...guestArgv], { stdio: 'ignore', env: { PATH: '/usr/bin:/bin' } });
  const done = new Promise<void>((r) => child.on('close', () => r()));
  const guestFile = guestArgv[0]!.replace(/^\/+/, '');
  try {
    let text = '';
    for (let i = 0; i < 50 && !(text.includes('[heap]') && text.includes(guestFile)); i++) {
      await sleep(40);
      text = await readFile(`/proc/${child.pid}/maps`, 'utf8').catch(() => '');
      if (!text.includes(emulator.split('/').pop()!)) text = ''; // still chroot, not yet the emulator
    }
    if (!text) throw new Error(`could not read the maps of ${emulator}`);
    return parseMaps(text, emulator.split('/').pop()!);
  } finally {
    child.kill('SIGKILL');
    await done;
  }
}

export const hex = (v: bigint | undefined) => (v === undefined ? '-' : `0x${v.toString(16)}`);
export const mib = (v: bigint) => `${(Number(v) / 2 ** 20).toFixed(1)} MiB`;
