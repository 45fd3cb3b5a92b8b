import type { Command } from 'commander';
import { XbuildError } from '../errors.ts';
import type { CliContext } from './context.ts';

// Owner: issue 2. Placeholder until the build driver lands: it refuses to run.
export function registerQemu(program: Command, _ctx: CliContext): void {
  const qemu = program.command('qemu').description('build and manage the execve-intercepting static qemu-user emulators');
  qemu.command('build')
    .description('apply xbuild\'s patch series to QEMU and build static linux-user emulators into the cache')
    .action(() => { throw new XbuildError('UNSUPPORTED', 'xbuild qemu build is not implemented yet'); });
}
