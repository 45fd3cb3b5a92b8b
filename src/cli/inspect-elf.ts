import type { Command } from 'commander';
import { XbuildError } from '../errors.ts';
import { inspectElfFile } from '../elf/inspect.ts';
import { elfToJson, noteToJson, summarizeElf } from '../elf/describe.ts';
import { ExitCode, type CliContext } from './context.ts';

export interface InspectElfOptions { files: string[]; json: boolean }

/** `xbuild inspect-elf FILE... [--json]`: exit 0 when every file was read, 2 when any was not an ELF file. */
export function registerInspectElf(program: Command, ctx: CliContext): void {
  program.command('inspect-elf <file...>')
    .description('report class, machine, linkage, interpreter, DT_NEEDED, ARM ABI and notes of ELF files')
    .option('--json', 'print a JSON array (schemaVersion 1), one object per file')
    .action(async (files: string[], flags: { json?: boolean }) => {
      const code = await runInspectElf({ files, json: Boolean(flags.json) }, ctx);
      if (code !== 0) throw new ExitCode(code);
    });
}

async function runInspectElf(opts: InspectElfOptions, ctx: CliContext): Promise<number> {
  let failed = 0;
  const results: unknown[] = [];
  for (const file of opts.files) {
    try {
      const elf = await inspectElfFile(file);
      if (opts.json) { results.push({ file, elf: elfToJson(elf) }); continue; }
      const lines = [`${file}: ${summarizeElf(elf)}`];
      if (elf.interpreter !== undefined) lines.push(`  interpreter: ${elf.interpreter}`);
      if (elf.needed.length > 0) lines.push(`  needed: ${elf.needed.join(', ')}`);
      for (const n of elf.notes.map(noteToJson)) lines.push(`  note: ${n.name} type ${n.type}${n.descText !== undefined ? ` "${n.descText}"` : ` ${n.descHex}`}`);
      if (elf.sectionCount === 0) lines.push('  sections: none');
      for (const i of elf.incomplete) lines.push(`  not read: ${i}`);
      ctx.stdout.write(lines.join('\n') + '\n');
    } catch (err) {
      if (!(err instanceof XbuildError)) throw err;
      failed++;
      if (opts.json) results.push({ file, error: { code: err.code, message: err.message } });
      else ctx.stderr.write(`xbuild: ${err.message}\n`);
    }
  }
  if (opts.json) ctx.stdout.write(JSON.stringify({ schemaVersion: 1, files: results }, null, 2) + '\n');
  return failed > 0 ? 2 : 0;
}
