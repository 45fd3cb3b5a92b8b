import type { Command } from 'commander';
import { diagnose, type DoctorReport, type Found } from '../install/doctor.ts';
import { XBUILD_VERSION } from '../version.ts';
import { ExitCode, type CliContext } from './context.ts';

export function registerDoctor(program: Command, ctx: CliContext): void {
  program.command('doctor')
    .description('show which emulators and shim wrap would use (and from where), their checks, and binfmt_misc on this host')
    .option('--qemu-dir <dir>', 'as for wrap: look here first')
    .option('--json', 'print the report as JSON on stdout')
    .addHelpText('after', '\nLookup order: --qemu-dir, then @xbuild/linux-x64 installed beside the CLI, then the user cache\nfilled by `xbuild qemu build`. Exit 0 when wrap has everything it needs, 1 otherwise.\n')
    .action(async (flags: { qemuDir?: string; json?: boolean }) => {
      const report = await diagnose({ env: ctx.env, xbuildVersion: XBUILD_VERSION, qemuDir: flags.qemuDir });
      ctx.stdout.write(flags.json ? `${JSON.stringify(report, null, 2)}\n` : renderDoctor(report));
      if (!report.ok) throw new ExitCode(1);
    });
}

function renderFound(label: string, f: Found): string {
  if (!f.path) return `${label}: MISSING  ${f.error ?? ''}${f.hint ? `\n    hint: ${f.hint}` : ''}\n`;
  const lines = [`${label}: ${f.ok ? 'ok' : 'PROBLEM'}  ${f.path}  (from ${f.origin}${f.version ? `, version ${f.version}` : ''})`];
  for (const c of f.checks) lines.push(`    ${c.ok ? 'ok ' : 'BAD'} ${c.name}: ${c.detail}`);
  return `${lines.join('\n')}\n`;
}

export function renderDoctor(r: DoctorReport): string {
  const p = r.platformPackage;
  let out = `xbuild ${r.xbuildVersion}, patch series ${r.series.version} (${r.series.hash.slice(0, 12)})\n`;
  out += `lookup order: ${r.lookupOrder.join(' -> ')}\n`;
  out += `platform package: ${p.error ? `REFUSED  ${p.error}` : p.installed ? `${p.dir} (xbuild ${p.xbuildVersion}, QEMU ${p.qemuVersion})` : 'not installed'}\n`;
  for (const [arch, f] of Object.entries(r.emulators)) out += renderFound(`qemu-${arch}-static`, f);
  out += renderFound('xbuild-shim', r.shim);
  const b = r.binfmt;
  if (!b.mounted) {
    out += 'binfmt_misc: not mounted here (inside a container the host kernel\'s handlers may still apply)\n';
  } else if (b.emulated.length) {
    out += `binfmt_misc: handlers for ${b.emulated.join(', ')} are registered (${b.handlers.filter((h) => h.enabled && h.machine !== undefined).map((h) => `${h.name} -> ${h.interpreter}`).join(', ')}): builders on this host can run those binaries without xbuild; xbuild is optional here\n`;
  } else {
    out += `binfmt_misc: mounted, no handler for ${Object.keys(r.emulators).join(' or ')}: RUN lines of ARM images need xbuild here\n`;
  }
  out += r.ok ? 'ready: xbuild wrap has what it needs\n' : 'not ready: see the lines marked MISSING, PROBLEM or REFUSED\n';
  return out;
}
