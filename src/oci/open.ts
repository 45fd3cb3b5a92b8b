// Owner: issue 4 (wrap). Opens any image name xbuild accepts as an Image or Index.
// verify (issue 5) and wrap both read images only through this function.
import type { OnProgress } from '../progress.ts';
import type { ImageOrIndex } from './model.ts';
import { XbuildError } from '../errors.ts';

export interface OpenOptions {
  /** Environment for credentials lookup (DOCKER_CONFIG, HOME); the CLI passes process.env. */
  env: Record<string, string | undefined>;
  /** host[:port] that may be spoken to over plain HTTP (loopback always may). */
  insecureRegistries?: string[];
  onProgress?: OnProgress;
}

export async function openImage(name: string, _opts: OpenOptions): Promise<ImageOrIndex> {
  throw new XbuildError('UNSUPPORTED', `cannot open ${name}: image sources are not implemented yet`);
}
