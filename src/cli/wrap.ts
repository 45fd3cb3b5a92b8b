import { Command, Option } from 'commander';
import { XbuildError } from '../errors.ts';
import { XBUILD_VERSION } from '../version.ts';
import { join } from 'node:path';
import { cacheRoot } from '../cache-root.ts';
import { ociArchFromNode, parsePlatformList, parseQemuArch, QEMU_ARCHES, type QemuArch } from '../oci/platform.ts';
import { parseOutputSpec } from '../open/output.ts';
import { runWrap, type WrapRequest } from '../wrap/run-wrap.ts';
import { xbuildLayerSource } from '../wrap/layer-source.ts';
import { xbuildLayerEntries } from '../shims/layer.ts';
import { locateEmulator, locateShim } from '../install/lookup.ts';
import { FORMATS_HELP, INSECURE_REGISTRY_HELP } from './formats-help.ts';
import { createProgressRenderer } from './render-progress.ts';
import type { CliContext } from './context.ts';
import { addDestinationOptions, collect } from './destination-options.ts';

const HELP_AFTER = `
Destinations:
  -t REF (repeatable)            push the result to each registry reference (default output type)
  --output type=oci,dest=DIR     write an OCI image layout (tags from -t become ref names)
  --output type=docker,dest=FILE write a docker-archive for \`docker load\` (-t names become RepoTags)
  With neither -t nor --output, wrap refuses and says how to name a destination: like crane and
  buildx it never guesses where to put an image (and never overwrites the base).

Platforms:
  For an index, every entry that needs emulation on this host (linux/arm/v5, v6, v7, linux/arm64, linux/riscv64, linux/ppc64le, linux/s390x)
  is wrapped; host-native and attestation entries are kept untouched. --platform LIST keeps and
  wraps only the listed platforms. A single-platform base that cannot be wrapped is refused.

Result:
  One added layer (/usr/bin/qemu-<arch>-static, /usr/bin/cross-build-start, cross-build-end;
  with --extra-emulators also /usr/bin/qemu-<target>-static of each target listed),
  labels io.xbuild.version, io.xbuild.qemu.version, io.xbuild.base.name/.base.digest, annotations
  org.opencontainers.image.base.name/.base.digest. SOURCE_DATE_EPOCH (default 0) sets the
  mtime of the added files: the same inputs give the same digest.
  --start: the layer also holds what cross-build-start would write (the shells swapped for the
  shim, originals at <path>.xbuild-orig, /usr/lib/xbuild/cross-build-active, the dpkg hook), so
  shell-form RUN lines work from the first line; \`xbuild unwrap\` on the built image ends the mode.

Examples:
  xbuild wrap arm32v7/debian:bookworm -t localhost:5000/debian-xbuild:bookworm
  xbuild wrap oci:./base --output type=oci,dest=./base-xbuild -t base-xbuild:latest
  xbuild wrap docker-archive:base.tar --output type=docker,dest=out.tar -t me/base-xbuild:1
  xbuild wrap arm64v8/debian:trixie --extra-emulators arm -t localhost:5000/debian-xbuild:arm64-armhf
`;

interface WrapFlags {
  tag: string[];
  platform?: string;
  output?: string;
  qemuDir?: string;
  insecureRegistry: string[];
  quiet?: boolean;
  json?: boolean;
  start?: boolean;
  timeout?: string;
  extraEmulators?: string;
  layerCache?: boolean;
}

/** Seconds from a flag or environment variable (positive number) -> ms. */
function secondsOption(name: string, text: string | undefined): number | undefined {
  if (text === undefined || text === '') return undefined;
  if (!/^\d+(\.\d+)?$/.test(text) || Number(text) <= 0) throw new XbuildError('USAGE', `${name}="${text}" is not a positive number of seconds`);
  return Number(text) * 1000;
}

export function registerWrap(program: Command, ctx: CliContext): void {
  addDestinationOptions(program.command('wrap <image>')
    .description('append the xbuild layer (emulator + cross-build shims) to a base image and push or save it'), 'comma-separated platforms to wrap, e.g. linux/arm/v7,linux/arm64')
    .option('--qemu-dir <dir>', 'directory holding qemu-<arch>-static (and optionally xbuild-shim), searched before the platform package and the cache')
    .option('--insecure-registry <host[:port]>', INSECURE_REGISTRY_HELP, collect, [])
    .addOption(new Option('-q, --quiet', 'no progress output'))
    .option('--json', 'print the resulting references and digests as JSON on stdout')
    .option('--start', 'leave the image in cross-build mode (as RUN ["cross-build-start"] would): a Dockerfile needs no xbuild line; run `xbuild unwrap` on the result')
    .option('--extra-emulators <list>', `also add these emulators (QEMU targets: ${QEMU_ARCHES.join(', ')}) beside the image's own, for programs of another architecture inside it, e.g. arm for armhf programs in an arm64 image`)
    .option('--no-layer-cache', 'build the xbuild layer afresh instead of reusing the one cached under <cache root>/layers (keyed by the emulator, shim and options; checked on every use)')
    .option('--timeout <seconds>', 'give up when the whole command takes longer (default: no limit; per blob: XBUILD_BLOB_TIMEOUT, default 1800; no data: XBUILD_STALL_TIMEOUT, default 60)')
    .addHelpText('after', HELP_AFTER + FORMATS_HELP)
    .action(async (image: string, flags: WrapFlags) => {
      const req = wrapRequest(image, flags, ctx);
      const extraEmulators = flags.extraEmulators !== undefined ? parseExtraEmulators(flags.extraEmulators) : [];
      const lookup = { env: ctx.env, xbuildVersion: XBUILD_VERSION, qemuDir: flags.qemuDir };
      const onProgress = createProgressRenderer({ out: ctx.stderr, isTTY: ctx.isTTY, quiet: flags.quiet || flags.json });
      const report = await runWrap(req, {
        layerSource: xbuildLayerSource({
          qemuDir: flags.qemuDir, env: ctx.env, entries: xbuildLayerEntries,
          emulatorPath: async (arch) => (await locateEmulator(arch, lookup)).path,
          shimPath: async () => (await locateShim(lookup)).path,
          extraEmulators,
        }),
      }, onProgress);
      if (flags.json) {
        ctx.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
      } else {
        for (const o of report.outputs) ctx.stdout.write(`${o.reference}@${o.digest}\n`);
      }
    });
}

/** --extra-emulators arm[,riscv64...]: QEMU target names; anything else is a usage error. */
export function parseExtraEmulators(text: string): QemuArch[] {
  const out: QemuArch[] = [];
  for (const name of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const a = parseQemuArch(name);
    if (!a) throw new XbuildError('USAGE', `--extra-emulators: unknown emulator '${name}'`, { hint: `name QEMU targets: ${QEMU_ARCHES.join(', ')}` });
    if (!out.includes(a)) out.push(a);
  }
  if (out.length === 0) throw new XbuildError('USAGE', '--extra-emulators: empty list', { hint: 'e.g. --extra-emulators arm' });
  return out;
}

/** Flags + environment -> the library's request (exported for in-process tests). */
export function wrapRequest(image: string, flags: WrapFlags, ctx: Pick<CliContext, 'env'>): WrapRequest {
  const epochText = ctx.env.SOURCE_DATE_EPOCH;
  let sourceDateEpoch: number | undefined;
  if (epochText !== undefined && epochText !== '') {
    if (!/^\d+$/.test(epochText)) throw new XbuildError('USAGE', `SOURCE_DATE_EPOCH="${epochText}" is not a number of seconds`);
    sourceDateEpoch = Number(epochText);
  }
  return {
    image,
    tags: flags.tag,
    ...(flags.output !== undefined ? { output: parseOutputSpec(flags.output) } : {}),
    ...(flags.platform !== undefined ? { platforms: parsePlatformList(flags.platform) } : {}),
    env: ctx.env,
    insecureRegistries: flags.insecureRegistry,
    ...(sourceDateEpoch !== undefined ? { sourceDateEpoch } : {}),
    hostArch: ociArchFromNode(process.arch),
    timeouts: {
      commandMs: secondsOption('--timeout', flags.timeout),
      blobMs: secondsOption('XBUILD_BLOB_TIMEOUT', ctx.env.XBUILD_BLOB_TIMEOUT),
      stallMs: secondsOption('XBUILD_STALL_TIMEOUT', ctx.env.XBUILD_STALL_TIMEOUT),
    },
    xbuildVersion: XBUILD_VERSION,
    ...(flags.start ? { start: true } : {}),
    ...(flags.layerCache !== false ? { layerCacheDir: join(cacheRoot(ctx.env), 'layers') } : {}),
  };
}
