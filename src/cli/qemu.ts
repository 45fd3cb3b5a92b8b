import type { Command } from 'commander';
import { buildEmulators, parseTargets } from '../qemu/build.ts';
import { BuildStepError } from '../qemu/run-step.ts';
import type { ProgressEvent } from '../progress.ts';
import { ensureShim, SHIM_FILE_NAME } from '../shims/build.ts';
import { cacheRoot } from '../cache-root.ts';
import { copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CliContext } from './context.ts';
import { QEMU_ARCHES } from '../oci/platform.ts';

export interface QemuBuildCliOptions { source?: string; targets: string; out?: string; jobs?: string }

export function registerQemu(program: Command, ctx: CliContext): void {
  const qemu = program.command('qemu').description('build and manage the execve-intercepting static qemu-user emulators');
  qemu.command('build')
    .description('apply xbuild\'s patch series to QEMU and build static linux-user emulators into the cache')
    .option('--source <dir|tarball>', 'QEMU source tree, qemu-X.Y.Z.tar.xz, or Debian qemu_*.orig.tar.xz / .dsc / unpacked source (default: download the pinned release)')
    .option('--targets <list>', `emulators to build (QEMU linux-user target names: ${QEMU_ARCHES.join(', ')})`, QEMU_ARCHES.join(','))
    .option('--out <dir>', 'also copy the emulators and the shim into this directory (usable as --qemu-dir)')
    .option('-j, --jobs <n>', 'parallel compile jobs (default: number of CPUs)')
    .action(async (opts: QemuBuildCliOptions) => {
      const render = progressRenderer(ctx);
      try {
        const r = await buildEmulators({
          env: ctx.env, source: opts.source, targets: parseTargets(opts.targets), out: opts.out,
          jobs: opts.jobs ? Number(opts.jobs) : undefined, onProgress: render.onProgress,
        });
        // The shim is built here too, so that wrap never compiles anything (src/install/lookup.ts).
        const shim = await ensureShim({ cacheRoot: cacheRoot(ctx.env), onProgress: render.onProgress });
        if (r.copiedTo) await copyFile(shim, join(r.copiedTo, SHIM_FILE_NAME));
        render.end();
        const files = Object.values(r.emulators).map((p) => p!.slice(p!.lastIndexOf('/') + 1)).join(', ');
        ctx.stdout.write(r.cached
          ? `used the cache: ${files} in ${r.dir}\n`
          : `built ${files} (QEMU ${r.record.qemu.version}, series ${r.record.series.version}) in ${r.record.buildSeconds} s: ${r.dir}\n`);
        ctx.stdout.write(`shim: ${shim}\n`);
        if (r.copiedTo) ctx.stdout.write(`copied to ${r.copiedTo}\n`);
      } catch (err) {
        render.end();
        if (err instanceof BuildStepError) {
          ctx.stderr.write(`--- last ${err.tail.length} lines of ${err.logPath} ---\n${err.tail.join('\n')}\n---\n`);
        }
        throw err;
      }
    });
}

/** Bars on a terminal (one rewritten line), plain lines otherwise (CI logs). */
function progressRenderer(ctx: CliContext): { onProgress: (ev: ProgressEvent) => void; end: () => void } {
  let open = false;
  let lastPct = -1;
  const line = (s: string): void => {
    if (open) { ctx.stderr.write('\r\x1b[K'); open = false; }
    ctx.stderr.write(`${s}\n`);
  };
  return {
    onProgress: (ev) => {
      switch (ev.kind) {
        case 'step': lastPct = -1; line(`xbuild: ${ev.message}`); break;
        case 'log': line(`xbuild: ${ev.message}`); break;
        case 'done': line(`xbuild: ${ev.label} done${ev.note ? ` (${ev.note})` : ''}`); break;
        case 'bytes': {
          const pct = ev.total ? Math.floor((100 * ev.done) / ev.total) : -1;
          if (ctx.isTTY) {
            ctx.stderr.write(`\r\x1b[K  ${ev.label} ${ev.total ? `${ev.done}/${ev.total} (${pct}%)` : ev.done}`);
            open = true;
          } else if (pct >= 0 && Math.floor(pct / 10) > Math.floor(lastPct / 10)) {
            ctx.stderr.write(`  ${ev.label} ${pct}%\n`);
          }
          lastPct = pct;
          break;
        }
      }
    },
    end: () => { if (open) { ctx.stderr.write('\r\x1b[K'); open = false; } },
  };
}
