import { Command, CommanderError } from 'commander';
import { XbuildError, EXIT_FAILURE } from '../errors.ts';
import { XBUILD_VERSION } from '../version.ts';
import { ExitCode, type CliContext } from './context.ts';
import { registerWrap } from './wrap.ts';
import { registerVerify } from './verify.ts';
import { registerUnwrap } from './unwrap.ts';
import { registerQemu } from './qemu.ts';
import { registerInspectElf } from './inspect-elf.ts';
import { registerDoctor } from './doctor.ts';

/** Parse argv, run one command, map errors to exit codes. Returns the exit code. */
export async function runCli(argv: string[], ctx: CliContext): Promise<number> {
  const program = new Command('xbuild')
    .description('Run foreign-architecture (ARM) Dockerfile RUN lines on x86_64 builders without binfmt_misc')
    .version(XBUILD_VERSION, '-V, --version')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => ctx.stdout.write(s),
      writeErr: (s) => ctx.stderr.write(s),
    })
    .showHelpAfterError('(run xbuild --help for usage)');
  program.configureHelp({ sortSubcommands: false });

  registerWrap(program, ctx);
  registerUnwrap(program, ctx);
  registerVerify(program, ctx);
  registerQemu(program, ctx);
  registerInspectElf(program, ctx);
  registerDoctor(program, ctx);

  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (err) {
    return reportError(err, ctx);
  }
}

export function reportError(err: unknown, ctx: CliContext): number {
  if (err instanceof ExitCode) return err.code;
  if (err instanceof CommanderError) {
    // help / version display exit with 0; usage errors were already printed by commander
    return err.exitCode === 0 ? 0 : EXIT_FAILURE;
  }
  if (err instanceof XbuildError) {
    ctx.stderr.write(`xbuild: ${oneLine(err.message)}\n`);
    if (err.hint) ctx.stderr.write(`hint: ${oneLine(err.hint)}\n`);
    return err.exitCode;
  }
  const e = err instanceof Error ? err : new Error(String(err));
  ctx.stderr.write(`xbuild: internal error (this is a bug, please report it): ${e.stack ?? e.message}\n`);
  return 70;
}

function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, ' ').trim();
}
