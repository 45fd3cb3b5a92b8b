// What the ELF files of an image should look like, from its config's
// architecture/variant (OCI platform names).
import { EM_386, EM_AARCH64, EM_ARM, EM_PPC64, EM_RISCV, EM_S390, EM_X86_64 } from '../elf/constants.ts';

export interface ExpectedElf {
  machine: number;
  class: 32 | 64;
  endianness: 'little' | 'big';
  /** riscv64 only: the float ABI from e_flags (Debian's riscv64 is lp64d = double). */
  riscvFloatAbi?: 'soft' | 'single' | 'double' | 'quad';
  /** ppc64le only: e_flags & EF_PPC64_ABI (2 = ELFv2, the only ABI of little-endian ppc64). */
  ppc64Abi?: number;
  /** ARM 32-bit only. */
  floatAbi?: 'hard' | 'soft';
  /** Highest Tag_CPU_arch value a binary may need on this variant (ARM 32-bit only). */
  maxCpuArch?: number;
  /** "arm/v7 (armhf)" etc., for messages. */
  label: string;
  /** What this expectation cannot check (an unknown variant), said as a finding. */
  unchecked?: string;
}

const LE = { endianness: 'little' } as const;

/** Tag_CPU_arch: v5TEJ = 5, v6K = 9, v7 = 10, v7E-M = 13, v8-A = 14. */
export function expectedElfFor(architecture: string, variant?: string): ExpectedElf | undefined {
  switch (architecture) {
    case 'amd64': return { ...LE, machine: EM_X86_64, class: 64, label: 'amd64' };
    case '386': return { ...LE, machine: EM_386, class: 32, label: '386' };
    case 'arm64': return { ...LE, machine: EM_AARCH64, class: 64, label: `arm64${variant ? `/${variant}` : ''}` };
    case 'ppc64le': return { ...LE, machine: EM_PPC64, class: 64, ppc64Abi: 2, label: 'ppc64le (little-endian, ELFv2 ABI)' };
    case 's390x': return { machine: EM_S390, class: 64, endianness: 'big', label: 's390x (big-endian)' };
    case 'riscv64': return { ...LE, machine: EM_RISCV, class: 64, riscvFloatAbi: 'double', label: 'riscv64 (lp64d: double float)' };
    case 'arm': {
      const v = variant ?? 'v7';
      switch (v) {
        case 'v5': return { ...LE, machine: EM_ARM, class: 32, floatAbi: 'soft', maxCpuArch: 5, label: 'arm/v5 (armel: soft float, ARMv5)' };
        case 'v6': return { ...LE, machine: EM_ARM, class: 32, floatAbi: 'hard', maxCpuArch: 9, label: 'arm/v6 (hard float, ARMv6)' };
        case 'v7': return { ...LE, machine: EM_ARM, class: 32, floatAbi: 'hard', maxCpuArch: 13, label: 'arm/v7 (armhf: hard float, ARMv7)' };
        case 'v8': return { ...LE, machine: EM_ARM, class: 32, floatAbi: 'hard', label: 'arm/v8 (32-bit, hard float)' };
        default: return { ...LE, machine: EM_ARM, class: 32, label: `arm/${v}`, unchecked: `variant "${v}" is not one of v5, v6, v7, v8 (OCI variants are lower case), so the float ABI and architecture version` };
      }
    }
    default: return undefined;
  }
}
