// What the ELF files of an image should look like, from its config's
// architecture/variant (OCI platform names).
import { EM_386, EM_AARCH64, EM_ARM, EM_PPC64, EM_RISCV, EM_S390, EM_X86_64 } from '../elf/constants.ts';

export interface ExpectedElf {
  machine: number;
  class: 32 | 64;
  /** ARM 32-bit only. */
  floatAbi?: 'hard' | 'soft';
  /** Highest Tag_CPU_arch value a binary may need on this variant (ARM 32-bit only). */
  maxCpuArch?: number;
  /** "arm/v7 (armhf)" etc., for messages. */
  label: string;
  /** What this expectation cannot check (an unknown variant), said as a finding. */
  unchecked?: string;
}

/** Tag_CPU_arch: v5TEJ = 5, v6K = 9, v7 = 10, v7E-M = 13, v8-A = 14. */
export function expectedElfFor(architecture: string, variant?: string): ExpectedElf | undefined {
  switch (architecture) {
    case 'amd64': return { machine: EM_X86_64, class: 64, label: 'amd64' };
    case '386': return { machine: EM_386, class: 32, label: '386' };
    case 'arm64': return { machine: EM_AARCH64, class: 64, label: `arm64${variant ? `/${variant}` : ''}` };
    case 'ppc64le': return { machine: EM_PPC64, class: 64, label: 'ppc64le' };
    case 's390x': return { machine: EM_S390, class: 64, label: 's390x' };
    case 'riscv64': return { machine: EM_RISCV, class: 64, label: 'riscv64' };
    case 'arm': {
      const v = variant ?? 'v7';
      switch (v) {
        case 'v5': return { machine: EM_ARM, class: 32, floatAbi: 'soft', maxCpuArch: 5, label: 'arm/v5 (armel: soft float, ARMv5)' };
        case 'v6': return { machine: EM_ARM, class: 32, floatAbi: 'hard', maxCpuArch: 9, label: 'arm/v6 (hard float, ARMv6)' };
        case 'v7': return { machine: EM_ARM, class: 32, floatAbi: 'hard', maxCpuArch: 13, label: 'arm/v7 (armhf: hard float, ARMv7)' };
        case 'v8': return { machine: EM_ARM, class: 32, floatAbi: 'hard', label: 'arm/v8 (32-bit, hard float)' };
        default: return { machine: EM_ARM, class: 32, label: `arm/${v}`, unchecked: `variant "${v}" is not one of v5, v6, v7, v8 (OCI variants are lower case), so the float ABI and architecture version` };
      }
    }
    default: return undefined;
  }
}
