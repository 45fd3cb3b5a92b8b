declare const __XBUILD_VERSION__: string | undefined;

/** xbuild's version: injected by the esbuild bundle (scripts/build.mjs), '0.0.0-dev' when run from source. */
export const XBUILD_VERSION: string =
  typeof __XBUILD_VERSION__ === 'string' ? __XBUILD_VERSION__ : '0.0.0-dev';
