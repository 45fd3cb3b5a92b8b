// Differential test: generated hostile layer stacks (fixed seed) are unpacked
// by the real umoci and read by verify's layer reader; the file systems (every
// path, its type, symlink target and file content) and the verdict (unpacks /
// refused) must agree exactly. Longer runs with a random seed:
// `node --import=tsx bench/verify/differential.ts [count] [seed]`.
import test from 'ava';
import { generateStack } from './helpers/hostile-stacks.ts';
import { diffStack } from './helpers/umoci-diff.ts';

const SEED = 17_000;
const COUNT = 300;

test(`${COUNT} generated layer stacks unpack exactly as umoci unpacks them (seed ${SEED})`, async (t) => {
  const disagreements: string[] = [];
  let unpacked = 0; let refused = 0;
  let next = SEED;
  const worker = async () => {
    while (next < SEED + COUNT) {
      const seed = next++;
      const r = await diffStack(generateStack(seed));
      if (r.theirs.ok) unpacked++; else refused++;
      if (r.diff.length > 0) disagreements.push(`seed ${seed}: ${r.diff.slice(0, 5).join('; ')}`);
    }
  };
  await Promise.all([worker(), worker(), worker()]);
  t.log(`${COUNT} stacks: ${unpacked} unpacked by umoci, ${refused} refused; ${disagreements.length} disagreements`);
  t.deepEqual(disagreements, []);
  t.true(unpacked > COUNT / 4 && refused > COUNT / 10, 'the generator makes both kinds of stacks');
});
