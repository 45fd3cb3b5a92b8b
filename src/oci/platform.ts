// Platforms: the one parser/normaliser/matcher of "linux/arm/v7" (containerd's
// normalisation), the architecture tables (OCI name -> QEMU linux-user target),
// and which platforms need (and can get) emulation on the host.
import type { Platform } from './model.ts';
import { XbuildError } from '../errors.ts';

/** QEMU's linux-user target names for the platforms xbuild emulates. */
export type QemuArch = 'arm' | 'aarch64' | 'riscv64' | 'ppc64le' | 's390x';

/** OCI architecture name -> the QEMU linux-user target that runs it (variants of arm share one). */
const QEMU_ARCH_OF: Readonly<Record<string, QemuArch>> = {
  arm: 'arm', arm64: 'aarch64', riscv64: 'riscv64', ppc64le: 'ppc64le', s390x: 's390x',
};

/** Every target xbuild builds and wraps with, in the order help texts list them. */
export const QEMU_ARCHES: readonly QemuArch[] = ['arm', 'aarch64', 'riscv64', 'ppc64le', 's390x'];

/** The OCI platforms xbuild emulates, as help texts and refusals list them. */
export const EMULATED_PLATFORMS = 'linux/arm/v5, linux/arm/v6, linux/arm/v7, linux/arm64, linux/riscv64, linux/ppc64le, linux/s390x';

/** The QEMU target that runs OCI architecture `architecture` (variants of arm share one). */
export function qemuArchFor(architecture: string, _variant?: string): QemuArch | undefined {
  return Object.hasOwn(QEMU_ARCH_OF, architecture) ? QEMU_ARCH_OF[architecture] : undefined;
}

/** Parse a QEMU target name ("arm", "riscv64", ...); undefined for anything else. */
export function parseQemuArch(name: string): QemuArch | undefined {
  return (QEMU_ARCHES as readonly string[]).includes(name) ? name as QemuArch : undefined;
}

/** Normalise architecture aliases and default variants (arm -> v7, arm64 -> v8, aarch64 -> arm64 ...). */
export function normalizePlatform(p: Platform): Platform {
  const os = (p.os || 'linux').toLowerCase();
  let architecture = (p.architecture || '').toLowerCase();
  let variant = p.variant?.toLowerCase() || undefined;
  switch (architecture) {
    case 'x86_64': case 'x86-64': case 'amd64':
      architecture = 'amd64'; if (variant === 'v1') variant = undefined; break;
    case 'aarch64': case 'arm64':
      architecture = 'arm64'; if (variant === '8' || variant === 'v8') variant = undefined; break;
    case 'armhf': architecture = 'arm'; variant = 'v7'; break;
    case 'armel': architecture = 'arm'; variant = 'v6'; break;
    case 'arm':
      if (!variant || variant === '7') variant = 'v7';
      else if (/^\d+$/.test(variant)) variant = `v${variant}`;
      break;
    case 'i386': case 'i486': case 'i586': case 'i686': case '386': architecture = '386'; break;
    case 'ppc64el': architecture = 'ppc64le'; variant = undefined; break;
    default: break;
  }
  const out: Platform = { os, architecture };
  if (variant) out.variant = variant;
  return out;
}

/** Parse "linux/arm/v7", "linux/arm64", "arm64" (os defaults to linux). */
export function parsePlatform(text: string): Platform {
  const parts = text.trim().split('/');
  if (parts.some((s) => s === '') || parts.length > 3 || !/^[a-z0-9_/.-]+$/i.test(text.trim())) {
    throw new XbuildError('USAGE', `malformed platform "${text}"`, { hint: 'write platforms as os/arch[/variant], e.g. linux/arm/v7,linux/arm64' });
  }
  const p: Platform = parts.length === 1
    ? { os: 'linux', architecture: parts[0]! }
    : { os: parts[0]!, architecture: parts[1]!, ...(parts[2] ? { variant: parts[2] } : {}) };
  return normalizePlatform(p);
}

/** Parse a comma-separated list ("linux/arm/v7,linux/arm64"). */
export function parsePlatformList(text: string): Platform[] {
  return text.split(',').map((s) => s.trim()).filter((s) => s !== '').map(parsePlatform);
}

/** "os/arch[/variant]" exactly as given (a config's or index entry's own spelling, as reports show it). */
export function platformString(p: Pick<Platform, 'os' | 'architecture' | 'variant'>): string {
  return [p.os, p.architecture, p.variant].filter(Boolean).join('/');
}

/** "linux/arm/v7" (normalised; arm64's default v8 is left out, as docker prints it). */
export function formatPlatform(p: Platform): string {
  return platformString(normalizePlatform(p));
}

/**
 * Does `have` satisfy `want`? Both normalised; a wanted platform without a
 * variant matches any variant of the architecture.
 */
export function matchPlatform(want: Platform, have: Pick<Platform, 'os' | 'architecture' | 'variant'>): boolean {
  const w = normalizePlatform(want); const h = normalizePlatform(have);
  if (w.os !== h.os || w.architecture !== h.architecture) return false;
  if (w.variant === undefined || (want.variant === undefined && w.architecture === 'arm')) return true;
  return w.variant === h.variant;
}

/** Architectures an x86_64 host runs natively. */
const NATIVE_ON: Record<string, string[]> = { amd64: ['amd64', '386'] };

export type Emulation =
  | { kind: 'native' }
  | { kind: 'emulated'; qemuArch: QemuArch }
  | { kind: 'unsupported'; reason: string };

/** What running `p` on a host of architecture `hostArch` (docker naming, default amd64) takes. */
export function emulationFor(p: Platform, hostArch = 'amd64'): Emulation {
  const n = normalizePlatform(p);
  if (n.os !== 'linux') return { kind: 'unsupported', reason: `${formatPlatform(n)} is not a Linux platform` };
  const native = NATIVE_ON[hostArch] ?? [hostArch];
  if (native.includes(n.architecture)) return { kind: 'native' };
  if (n.architecture !== 'arm' && n.variant && qemuArchFor(n.architecture)) {
    return { kind: 'unsupported', reason: `xbuild has no emulator setup for ${formatPlatform(n)} (variant "${n.variant}" of ${n.architecture} is not one xbuild knows)` };
  }
  if (n.architecture === 'arm' && !['v5', 'v6', 'v7'].includes(n.variant ?? 'v7')) {
    return { kind: 'unsupported', reason: `xbuild has no emulator setup for ${formatPlatform(n)} (arm v5, v6 and v7 are supported)` };
  }
  const q = qemuArchFor(n.architecture, n.variant);
  if (!q) return { kind: 'unsupported', reason: `xbuild has no emulator for ${formatPlatform(n)} (supported: ${EMULATED_PLATFORMS})` };
  return { kind: 'emulated', qemuArch: q };
}

/** Map Node's process.arch naming (passed in by the CLI) to the OCI architecture name. */
export function ociArchFromNode(nodeArch: string): string {
  switch (nodeArch) {
    case 'x64': return 'amd64';
    case 'ia32': return '386';
    default: return nodeArch;
  }
}
