// Owner: issue 3 (shims). The complete set of files xbuild adds to an image
// for one architecture: the emulator, cross-build-start/-end, and whatever
// the shims need. wrap (issue 4) builds its one layer from exactly this list.
import type { LayerEntry } from '../layer/entry.ts';
import type { QemuArch } from '../qemu/cache.ts';
import { XbuildError } from '../errors.ts';

export interface XbuildLayerInputs {
  arch: QemuArch;
  /** Host path of the patched static emulator (qemu-<arch>-static). */
  emulatorPath: string;
  /** Host path of the built host-native shim binary. */
  shimPath: string;
}

export async function xbuildLayerEntries(inputs: XbuildLayerInputs): Promise<LayerEntry[]> {
  throw new XbuildError('UNSUPPORTED', `the xbuild layer for ${inputs.arch} is not defined yet`);
}
