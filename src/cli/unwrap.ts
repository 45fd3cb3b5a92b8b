import { Command, Option } from 'commander';
import { parsePlatformList } from '../oci/platform.ts';
import { parseOutputSpec } from '../open/output.ts';
import { runUnwrap, type UnwrapRequest } from '../unwrap/run-unwrap.ts';
import { createProgressRenderer } from './render-progress.ts';
import type { CliContext } from './context.ts';
import { FORMATS_HELP, INSECURE_REGISTRY_HELP } from './formats-help.ts';
import { addDestinationOptions, collect } from './destination-options.ts';

const HELP_AFTER = `
Turns an image built FROM a base made by \`xbuild wrap\` into the image a native build gives:
  - the xbuild layer goes, with its history entry and diff_id; io.xbuild.* labels go;
  - later layers lose every xbuild path (emulator, cross-build-start/-end, /usr/lib/xbuild,
    *.xbuild-orig, the dpkg hook, whiteouts of those); if the build left cross-build mode on
    (wrap --start, or no RUN ["cross-build-end"]), the original shells are put back;
  - layers that need no change are reused byte for byte (a push mounts them); the others are
    rewritten deterministically (no new timestamps: the same input gives the same digest);
  - org.opencontainers.image.base.name/.base.digest point at the base wrap started from.
An image that was never wrapped is refused. Destinations are those of \`xbuild wrap\`.

Examples:
  xbuild unwrap localhost:5000/app:build -t localhost:5000/app:1
  xbuild unwrap oci:./app-build --output type=oci,dest=./app -t app:1
  xbuild verify --final localhost:5000/app:1
`;

interface UnwrapFlags {
  tag: string[];
  platform?: string;
  output?: string;
  insecureRegistry: string[];
  quiet?: boolean;
  json?: boolean;
}

export function registerUnwrap(program: Command, ctx: CliContext): void {
  addDestinationOptions(program.command('unwrap <image>')
    .description('remove every xbuild byte from an image built on a wrapped base (ends cross-build mode) and push or save it'), 'comma-separated platforms to keep and unwrap, e.g. linux/arm/v7,linux/arm64')
    .option('--insecure-registry <host[:port]>', INSECURE_REGISTRY_HELP, collect, [])
    .addOption(new Option('-q, --quiet', 'no progress output'))
    .option('--json', 'print the result (references, digests, layers reused/rewritten, bytes saved) as JSON on stdout')
    .addHelpText('after', HELP_AFTER + FORMATS_HELP)
    .action(async (image: string, flags: UnwrapFlags) => {
      const req = unwrapRequest(image, flags, ctx);
      const onProgress = createProgressRenderer({ out: ctx.stderr, isTTY: ctx.isTTY, quiet: flags.quiet || flags.json });
      const report = await runUnwrap(req, {}, onProgress);
      if (flags.json) {
        ctx.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
        return;
      }
      for (const o of report.outputs) ctx.stdout.write(`${o.reference}@${o.digest}\n`);
      if (!flags.quiet) ctx.stderr.write(`unwrapped ${report.platforms.filter((p) => p.action === 'unwrapped').map((p) => p.platform).join(', ')}: ${report.bytesSaved} bytes saved\n`);
    });
}

/** Flags -> the library's request (exported for in-process tests). */
export function unwrapRequest(image: string, flags: UnwrapFlags, ctx: Pick<CliContext, 'env'>): UnwrapRequest {
  return {
    image,
    tags: flags.tag,
    ...(flags.output !== undefined ? { output: parseOutputSpec(flags.output) } : {}),
    ...(flags.platform !== undefined ? { platforms: parsePlatformList(flags.platform) } : {}),
    env: ctx.env,
    insecureRegistries: flags.insecureRegistry,
  };
}
