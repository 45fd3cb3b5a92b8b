import type { Command } from 'commander';
import { XbuildError } from '../errors.ts';
import type { CliContext } from './context.ts';

// Owner: issue 5. Placeholder until the ELF inspector lands: it refuses to run.
export function registerInspectElf(program: Command, _ctx: CliContext): void {
  program.command('inspect-elf <file...>')
    .description('report class, machine, linkage, interpreter and ARM ABI of ELF files')
    .action(() => { throw new XbuildError('UNSUPPORTED', 'xbuild inspect-elf is not implemented yet'); });
}
