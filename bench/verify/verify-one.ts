// Child process of the benchmark: verify one oci: image, print a JSON line
// with the result summary. Opens the image with openImage; while openImage
// cannot open `oci:` yet (UNSUPPORTED), falls back to the OCI layout reader
// and says so in the output.
import { openImage } from '../../src/oci/open.ts';
import { readOciLayout } from '../../src/layout/oci-layout.ts';
import { verify } from '../../src/verify/verify.ts';
import { XbuildError } from '../../src/errors.ts';

const name = process.argv[2]!;
let opener = 'openImage';
let target;
try {
  target = await openImage(name, { env: process.env });
} catch (err) {
  if (!(err instanceof XbuildError && err.code === 'UNSUPPORTED')) throw err;
  opener = 'readOciLayout (openImage not implemented yet)';
  const m = /^oci:(.+?)(?::([^/:]+))?$/.exec(name)!;
  target = await readOciLayout(m[1]!, m[2]);
}
const t0 = performance.now();
const r = await verify(target);
const p = r.platforms[0]!;
console.log(JSON.stringify({
  opener, seconds: (performance.now() - t0) / 1000, passed: r.passed, errors: p.counts.error,
  ids: p.findings.map((f) => f.id), bytes: p.checked.bytes, entries: p.checked.entries, maxRssKiB: process.resourceUsage().maxRSS,
}));
