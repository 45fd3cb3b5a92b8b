// Bundles the CLI into one ESM file (dist/xbuild.mjs) with esbuild.
// The version is injected with `define` from package.json.
import { build } from 'esbuild';
import { readFile } from 'node:fs/promises';

// `--outfile FILE` bundles elsewhere (scripts/release.ts bundles into its staging directory).
const at = process.argv.indexOf('--outfile');
const outfile = at > 0 ? process.argv[at + 1] : 'dist/xbuild.mjs';
const pkg = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8'));
await build({
  entryPoints: ['src/cli/main.ts'],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: 'linked',
  legalComments: 'none',
  define: { __XBUILD_VERSION__: JSON.stringify(pkg.version) },
  // Some CommonJS dependencies call require() for Node built-ins; give the
  // ESM bundle a real require so they keep working.
  banner: { js: "import { createRequire as __xbuildCreateRequire } from 'node:module'; const require = __xbuildCreateRequire(import.meta.url);" },
  logLevel: 'warning',
});
