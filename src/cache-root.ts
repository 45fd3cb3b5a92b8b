// The one per-user cache root of xbuild (emulators, the shim, downloads, test
// fixtures): $XBUILD_CACHE_DIR, else ${XDG_CACHE_HOME:-$HOME/.cache}/xbuild.
// Scripts use the same rule through `xb_cache_root` (scripts/fixtures/lib.sh).
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

/** The environment variables the library reads; the CLI passes process.env. */
export type Env = Record<string, string | undefined>;

/** $XBUILD_CACHE_DIR, else ${XDG_CACHE_HOME:-$HOME/.cache}/xbuild (absolute). */
export function cacheRoot(env: Env): string {
  if (env.XBUILD_CACHE_DIR) return resolve(env.XBUILD_CACHE_DIR);
  const xdg = env.XDG_CACHE_HOME || join(env.HOME || homedir(), '.cache');
  return join(resolve(xdg), 'xbuild');
}
