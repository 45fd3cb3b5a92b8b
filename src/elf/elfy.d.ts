// Minimal typing of elfy 1.0.0 (CommonJS, untyped); only the adapter imports it.
declare module 'elfy' {
  interface ElfySection {
    name: string;
    type: string | number;
    off: number;
    size: number;
    data: Buffer;
  }
  interface ElfyResult {
    class: string;
    endian: string;
    body: { programs: unknown[]; sections: ElfySection[] };
  }
  const elfy: { parse(buf: Buffer): ElfyResult };
  export default elfy;
}
