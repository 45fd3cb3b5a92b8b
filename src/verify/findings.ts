// Verify findings: stable ids (documented in docs/verify-json-schema.md),
// a severity, the path concerned, one line of message and one line of fix hint.

export type Severity = 'error' | 'warning' | 'info';

export interface Finding {
  id: FindingId;
  severity: Severity;
  /** Path inside the image, relative to the root without a leading slash, when one is concerned. */
  path?: string;
  message: string;
  hint: string;
}

/** Every id verify can report, with its severity. Ids never change meaning; new ones may be added. */
export const FINDINGS = {
  'platform-not-emulated': 'error',
  'platform-unknown-arch': 'info',
  'platform-no-elf-sample': 'warning',
  'platform-machine-mismatch': 'error',
  'platform-index-mismatch': 'error',
  'platform-not-checked': 'warning',
  'platform-class-mismatch': 'error',
  'platform-float-abi-mismatch': 'error',
  'platform-endianness-mismatch': 'error',
  'platform-abi-mismatch': 'error',
  'platform-sibling-files': 'info',
  'platform-arch-version-mismatch': 'error',
  'emulator-missing': 'error',
  'emulator-wrong-arch': 'info',
  'emulator-not-file': 'error',
  'emulator-unreadable': 'error',
  'emulator-not-executable': 'error',
  'emulator-not-elf': 'error',
  'emulator-not-host-native': 'error',
  'emulator-dynamic': 'error',
  'emulator-no-xbuild-note': 'error',
  'emulator-older-than-shim': 'error',
  'shim-missing': 'error',
  'shim-not-file': 'error',
  'shim-unreadable': 'error',
  'shim-not-executable': 'error',
  'shim-not-elf': 'error',
  'shim-not-host-native': 'error',
  'shim-dynamic': 'error',
  'shim-no-xbuild-note': 'error',
  'shim-differs-from-build': 'error',
  'shim-not-compared': 'info',
  'cross-build-active': 'error',
  'cross-build-original-left': 'error',
  'cross-build-dpkg-hook-left': 'error',
  'shell-missing': 'warning',
  'shell-is-shim': 'error',
  'shell-wrong-arch': 'error',
  'shell-not-elf': 'error',
  'shell-unresolvable': 'error',
  'layer-path-absolute': 'warning',
  'layer-path-parent': 'error',
  'file-unreadable': 'warning',
  'final-xbuild-path': 'error',
  'final-xbuild-bytes': 'error',
  'final-xbuild-layer-path': 'error',
  'final-xbuild-label': 'error',
} as const satisfies Record<string, Severity>;

export type FindingId = keyof typeof FINDINGS;

export function finding(id: FindingId, path: string | undefined, message: string, hint: string): Finding {
  return { id, severity: FINDINGS[id], ...(path !== undefined ? { path } : {}), message, hint };
}
