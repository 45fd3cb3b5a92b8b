import type { Command } from 'commander';
import { buildEmulators, parseTargets } from '../qemu/build.ts';
import { BuildStepError } from '../qemu/run-step.ts';
import { ensureShim, SHIM_FILE_NAME } from '../shims/build.ts';
import { cacheRoot } from '../cache-root.ts';
import { copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CliContext } from './context.ts';
import { QEMU_ARCHES } from '../oci/platform.ts';
import { createProgressRenderer } from './render-progress.ts';

export interface QemuBuildCliOptions { source?: string; targets: string; out?: string; jobs?: string; profile: boolean }

export function registerQemu(program: Command, ctx: CliContext): void {
  const qemu = program.command('qemu').description('build and manage the execve-intercepting static qemu-user emulators');
  qemu.command('build')
    .description('apply xbuild\'s patch series to QEMU and build static linux-user emulators into the cache')
    .option('--source <dir|tarball>', 'QEMU source tree, qemu-X.Y.Z.tar.xz, or Debian qemu_*.orig.tar.xz / .dsc / unpacked source (default: download the pinned release)')
    .option('--targets <list>', `emulators to build (QEMU linux-user target names: ${QEMU_ARCHES.join(', ')})`, QEMU_ARCHES.join(','))
    .option('--out <dir>', 'also copy the emulators and the shim into this directory (usable as --qemu-dir)')
    .option('-j, --jobs <n>', 'parallel compile jobs (default: number of CPUs)')
    .option('--no-profile', 'compile without the gcc profile of patches/pgo/ (by default it is used when it was made from the same source, series and compiler)')
    .action(async (opts: QemuBuildCliOptions) => {
      // the shared renderer, with the "xbuild: " prefix and a byte line per 10% in CI logs (a build is long)
      const onProgress = createProgressRenderer({ out: ctx.stderr, isTTY: ctx.isTTY, prefix: 'xbuild: ', byteLines: 10 });
      try {
        const r = await buildEmulators({
          env: ctx.env, source: opts.source, targets: parseTargets(opts.targets), out: opts.out,
          jobs: opts.jobs ? Number(opts.jobs) : undefined, profile: opts.profile, onProgress,
        });
        // The shim is built here too, so that wrap never compiles anything (src/install/lookup.ts).
        const shim = await ensureShim({ cacheRoot: cacheRoot(ctx.env), onProgress });
        if (r.copiedTo) await copyFile(shim, join(r.copiedTo, SHIM_FILE_NAME));
        const files = Object.values(r.emulators).map((p) => p!.slice(p!.lastIndexOf('/') + 1)).join(', ');
        ctx.stdout.write(r.cached
          ? `used the cache: ${files} in ${r.dir}\n`
          : `built ${files} (QEMU ${r.record.qemu.version}, series ${r.record.series.version}) in ${r.record.buildSeconds} s: ${r.dir}\n`);
        ctx.stdout.write(`shim: ${shim}\n`);
        const p = r.record.profile;
        if (p && 'used' in p) ctx.stdout.write(p.used ? `gcc profile: used (trained on ${p.trained.join(', ')}; ${p.mismatchWarnings} gcc coverage-mismatch warnings)\n` : `gcc profile: not used: ${p.reason}\n`);
        if (r.copiedTo) ctx.stdout.write(`copied to ${r.copiedTo}\n`);
      } catch (err) {
        if (err instanceof BuildStepError) {
          ctx.stderr.write(`--- last ${err.tail.length} lines of ${err.logPath} ---\n${err.tail.join('\n')}\n---\n`);
        }
        throw err;
      }
    });
}
