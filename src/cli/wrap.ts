import type { Command } from 'commander';
import { XbuildError } from '../errors.ts';
import type { CliContext } from './context.ts';

// Owner: issue 4. Placeholder until the wrap operation lands: it refuses to run.
export function registerWrap(program: Command, _ctx: CliContext): void {
  program.command('wrap <image>')
    .description('append the xbuild layer (emulator + cross-build shims) to a base image and push or save it')
    .action(() => { throw new XbuildError('UNSUPPORTED', 'xbuild wrap is not implemented yet'); });
}
