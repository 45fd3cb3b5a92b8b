import type { Command } from 'commander';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { EXIT_FINDINGS, wrapError } from '../errors.ts';
import type { Platform } from '../oci/model.ts';
import { parsePlatform } from '../oci/platform.ts';
import { openImage } from '../open/open.ts';
import { escapeText } from '../verify/escape.ts';
import { verify, type VerifyReport } from '../verify/verify.ts';
import { ExitCode, type CliContext } from './context.ts';
import { FORMATS_HELP, INSECURE_REGISTRY_HELP } from './formats-help.ts';
import { createProgressRenderer } from './render-progress.ts';
import { collect } from './destination-options.ts';

export interface VerifyCliOptions {
  image: string;
  platform?: Platform;
  json: boolean;
  shims: string[];
  insecureRegistries: string[];
  quiet: boolean;
  final: boolean;
}


// Exit codes: 0 passes, 1 error findings, 2 could not run.
export function registerVerify(program: Command, ctx: CliContext): void {
  program.command('verify <image>')
    .description('check an image without running it: emulator, shims, cross-build mode, platform (exit 0 passes, 1 findings, 2 could not run)')
    .option('--platform <os/arch[/variant]>', 'verify only this entry of a multi-platform index')
    .option('--json', 'print the report as JSON (schemaVersion 1, docs/verify-json-schema.md)')
    .option('--shim <file>', 'also require the image\'s shims to be byte-identical to this local shim build (repeatable)', collect, [])
    .option('--insecure-registry <host[:port]>', INSECURE_REGISTRY_HELP, collect, [])
    .option('-q, --quiet', 'no progress lines')
    .option('--final', 'check an image meant to ship instead: no xbuild file, layer, label or cross-build state left (after `xbuild unwrap`)')
    .addHelpText('after', FORMATS_HELP)
    .action(async (image: string, flags: { platform?: string; json?: boolean; shim: string[]; insecureRegistry: string[]; quiet?: boolean; final?: boolean }) => {
      const code = await runVerify({
        image, ...(flags.platform !== undefined ? { platform: parsePlatform(flags.platform) } : {}), json: Boolean(flags.json), shims: flags.shim,
        insecureRegistries: flags.insecureRegistry, quiet: Boolean(flags.quiet), final: Boolean(flags.final),
      }, ctx);
      if (code !== 0) throw new ExitCode(code);
    });
}

async function runVerify(opts: VerifyCliOptions, ctx: CliContext): Promise<number> {
  const onProgress = createProgressRenderer({ out: ctx.stderr, isTTY: ctx.isTTY, quiet: opts.quiet || opts.json });
  const shimDigests: string[] = [];
  for (const f of opts.shims) {
    try {
      shimDigests.push(`sha256:${createHash('sha256').update(await readFile(f)).digest('hex')}`);
    } catch (err) {
      throw wrapError(`reading --shim ${f}`, err);
    }
  }
  const target = await openImage(opts.image, { env: ctx.env, insecureRegistries: opts.insecureRegistries, onProgress });
  const report = await verify(target, { platform: opts.platform, shimDigests, onProgress, ...(opts.final ? { final: true } : {}) });
  ctx.stdout.write(opts.json ? `${JSON.stringify(report, null, 2)}\n` : renderReport(report));
  return report.passed ? 0 : EXIT_FINDINGS;
}

/** One header line per platform, then one line per finding; every string from the image is escaped (JSON output is not). */
export function renderReport(r: VerifyReport): string {
  const lines: string[] = [`${escapeText(r.image)} (${r.kind} ${r.digest.slice(0, 19)}): ${r.passed ? 'PASS' : 'FAIL'}`];
  for (const p of r.platforms) {
    const c = p.counts;
    lines.push(`${p.platform}  ${p.passed ? 'PASS' : 'FAIL'}  ${c.error} error(s), ${c.warning} warning(s), ${c.info} info  [${p.checked.layers} layers, ${p.checked.sampled.length} ELF files sampled]`);
    const rows = p.findings.map((f) => [f.severity, f.id, f.path ? escapeText(`/${f.path}`) : '-', escapeText(`${f.message} (fix: ${f.hint})`)]);
    const w = [0, 1, 2].map((i) => Math.max(0, ...rows.map((row) => row[i]!.length)));
    for (const row of rows) lines.push(`  ${row[0]!.padEnd(w[0]!)}  ${row[1]!.padEnd(w[1]!)}  ${row[2]!.padEnd(w[2]!)}  ${row[3]}`);
  }
  for (const s of r.skipped) lines.push(escapeText(`skipped ${s.platform ?? s.digest}: ${s.reason}`));
  return `${lines.join('\n')}\n`;
}
