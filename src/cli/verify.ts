import type { Command } from 'commander';
import { XbuildError } from '../errors.ts';
import type { CliContext } from './context.ts';

// Owner: issue 5. Placeholder until verify lands: it refuses to run.
export function registerVerify(program: Command, _ctx: CliContext): void {
  program.command('verify <image>')
    .description('check an image without running it: emulator, shims, cross-build mode, platform')
    .action(() => { throw new XbuildError('UNSUPPORTED', 'xbuild verify is not implemented yet'); });
}
