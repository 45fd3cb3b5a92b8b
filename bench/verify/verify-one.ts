// Child process of the benchmark: open one image with openImage (as the CLI
// does), verify it, print a JSON line with the result summary.
import { openImage } from '../../src/open/open.ts';
import { verify } from '../../src/verify/verify.ts';

const name = process.argv[2]!;
const t0 = performance.now();
const target = await openImage(name, { env: process.env });
const r = await verify(target);
const p = r.platforms[0]!;
console.log(JSON.stringify({
  opener: 'openImage', seconds: (performance.now() - t0) / 1000, passed: r.passed, errors: p.counts.error,
  ids: p.findings.map((f) => f.id), bytes: p.checked.bytes, entries: p.checked.entries, maxRssKiB: process.resourceUsage().maxRSS,
}));
