// Renders library progress events: redrawn per-id lines on a terminal
// (like `docker pull`), plain lines otherwise (CI logs), nothing when quiet.
import type { Writable } from 'node:stream';
import type { OnProgress, ProgressEvent } from '../progress.ts';

export interface RenderOptions {
  out: Writable;     // stderr: stdout stays clean for --json and results
  isTTY: boolean;
  quiet?: boolean;
  /** Put before step, log and done lines (`xbuild qemu build` says "xbuild: "). */
  prefix?: string;
  /** Plain (CI) output: at most this many byte-progress lines per id (default 4: quarters). */
  byteLines?: number;
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let v = n / 1000; let i = 0;
  while (v >= 1000 && i < units.length - 1) { v /= 1000; i++; }
  return `${v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`;
}

export function createProgressRenderer(opts: RenderOptions): OnProgress {
  if (opts.quiet) return () => {};
  const prefix = opts.prefix ?? '';
  return opts.isTTY ? ttyRenderer(opts.out, prefix) : plainRenderer(opts.out, prefix, opts.byteLines ?? 4);
}

function plainRenderer(out: Writable, prefix: string, steps: number): OnProgress {
  // Byte progress is throttled to one line per 1/steps of the total so CI logs stay short.
  const lastQuarter = new Map<string, number>();
  return (ev: ProgressEvent) => {
    switch (ev.kind) {
      case 'step': out.write(`${prefix}${ev.message}\n`); break;
      case 'log': out.write(`${prefix}${ev.message}\n`); break;
      case 'done': out.write(`${prefix}${ev.label}: ${ev.note ?? 'done'}\n`); break;
      case 'bytes': {
        if (!ev.total) return;
        const q = Math.floor((ev.done / ev.total) * steps);
        if (q > (lastQuarter.get(ev.id) ?? 0) && q < steps) {
          lastQuarter.set(ev.id, q);
          out.write(`${ev.label}: ${formatBytes(ev.done)}/${formatBytes(ev.total)}\n`);
        }
      }
    }
  };
}

function ttyRenderer(out: Writable, prefix: string): OnProgress {
  // One line per id; lines for finished ids stay, active ones are redrawn.
  const order: string[] = [];
  const lines = new Map<string, string>();
  let drawn = 0;
  const redraw = () => {
    if (drawn > 0) out.write(`\x1b[${drawn}A`);
    for (const id of order) out.write(`\x1b[2K${lines.get(id)}\n`);
    drawn = order.length;
  };
  const set = (id: string, text: string) => {
    if (!lines.has(id)) order.push(id);
    lines.set(id, text);
    redraw();
  };
  return (ev: ProgressEvent) => {
    switch (ev.kind) {
      case 'step': case 'log': set(`msg:${order.length}`, `${prefix}${ev.message}`); break;
      case 'done': set(ev.id, `${prefix}${ev.label}: ${ev.note ?? 'done'}`); break;
      case 'bytes': {
        const width = 30;
        const frac = ev.total ? Math.min(1, ev.done / ev.total) : 0;
        const bar = ev.total ? `[${'='.repeat(Math.floor(frac * width)).padEnd(width)}] ` : '';
        set(ev.id, `${ev.label}: ${bar}${formatBytes(ev.done)}${ev.total ? `/${formatBytes(ev.total)}` : ''}`);
      }
    }
  };
}
