// ELF constants the inspector reads (System V gABI, ARM ELF ABI). Spec names kept.

export const ELFCLASS32 = 1;
export const ELFCLASS64 = 2;
export const ELFDATA2LSB = 1;
export const ELFDATA2MSB = 2;

export const ET_REL = 1;
export const ET_EXEC = 2;
export const ET_DYN = 3;
export const ET_CORE = 4;

export const EM_386 = 3;
export const EM_PPC64 = 21;
export const EM_S390 = 22;
export const EM_ARM = 40;
export const EM_X86_64 = 62;
export const EM_AARCH64 = 183;
export const EM_RISCV = 243;

export const PT_NULL = 0;
export const PT_LOAD = 1;
export const PT_DYNAMIC = 2;
export const PT_INTERP = 3;
export const PT_NOTE = 4;

export const DT_NULL = 0;
export const DT_NEEDED = 1;
export const DT_STRTAB = 5;
export const DT_STRSZ = 10;

/** ARM e_flags */
export const EF_ARM_EABIMASK = 0xff000000;
export const EF_ARM_ABI_FLOAT_SOFT = 0x200;
export const EF_ARM_ABI_FLOAT_HARD = 0x400;

/** RISC-V e_flags (RISC-V ELF psABI): EF_RISCV_FLOAT_ABI is the 2-bit field at bit 1. */
export const EF_RISCV_RVC = 0x1;
export const EF_RISCV_FLOAT_ABI = 0x6;
export const EF_RISCV_FLOAT_ABI_SOFT = 0x0;
export const EF_RISCV_FLOAT_ABI_SINGLE = 0x2;
export const EF_RISCV_FLOAT_ABI_DOUBLE = 0x4;
export const EF_RISCV_FLOAT_ABI_QUAD = 0x6;
export const EF_RISCV_RVE = 0x8;

/** 64-bit PowerPC e_flags (ELFv2 ABI): 1 = ELFv1 (function descriptors), 2 = ELFv2, 0 = not said. */
export const EF_PPC64_ABI = 0x3;

/** ARM build attributes (.ARM.attributes, "aeabi" vendor section) */
export const Tag_File = 1;
export const Tag_CPU_raw_name = 4;
export const Tag_CPU_name = 5;
export const Tag_CPU_arch = 6;
export const Tag_CPU_arch_profile = 7;
export const Tag_compatibility = 32;
export const Tag_ABI_VFP_args = 28;

/** Tag_CPU_arch values -> architecture names (ARM IHI 0045). */
export const CPU_ARCH_NAMES: Readonly<Record<number, string>> = {
  0: 'pre-v4', 1: 'v4', 2: 'v4T', 3: 'v5T', 4: 'v5TE', 5: 'v5TEJ', 6: 'v6', 7: 'v6KZ', 8: 'v6T2',
  9: 'v6K', 10: 'v7', 11: 'v6-M', 12: 'v6S-M', 13: 'v7E-M', 14: 'v8-A', 15: 'v8-R', 16: 'v8-M.baseline',
  17: 'v8-M.mainline', 18: 'v8.1-A', 19: 'v8.2-A', 20: 'v8.3-A', 21: 'v8.1-M.mainline', 22: 'v9-A',
};

export const MACHINE_NAMES: Readonly<Record<number, string>> = {
  [EM_386]: 'i386', 8: 'mips', 20: 'ppc', [EM_PPC64]: 'ppc64', [EM_S390]: 's390', [EM_ARM]: 'arm',
  [EM_X86_64]: 'x86_64', [EM_AARCH64]: 'aarch64', [EM_RISCV]: 'riscv', 258: 'loongarch',
};

export const TYPE_NAMES: Readonly<Record<number, string>> = {
  0: 'NONE', [ET_REL]: 'REL', [ET_EXEC]: 'EXEC', [ET_DYN]: 'DYN', [ET_CORE]: 'CORE',
};

export const machineName = (m: number): string => MACHINE_NAMES[m] ?? `machine-${m}`;
