// Real ELF samples from Debian packages (and two note-marked stand-ins built
// with gcc), produced by scripts/fixtures/elf-samples.sh into the xbuild
// cache. Missing tools make the tests FAIL with the script's message.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';

const run = promisify(execFile);
let dir: Promise<string> | undefined;

/** Directory holding the samples (runs the fixture script once per process). */
export function elfSamplesDir(): Promise<string> {
  dir ??= run('bash', ['scripts/fixtures/elf-samples.sh'], { maxBuffer: 1 << 24 })
    .then(({ stdout }) => stdout.trim().split('\n').pop()!)
    .catch((err: Error & { stderr?: string }) => {
      throw new Error(`scripts/fixtures/elf-samples.sh failed (needs apt-get with armhf/armel/arm64 enabled, dpkg-deb, python3, gcc; see scripts/install-system-deps.sh): ${err.stderr ?? err.message}`);
    });
  return dir;
}

export async function elfSample(rel: string): Promise<string> {
  return join(await elfSamplesDir(), rel);
}
