// Long differential run against umoci with a random (or given) seed:
//   node --import=tsx bench/verify/differential.ts [count=2000] [seed=random]
// Prints one line per disagreement (seed + paths) and a summary; exit 1 if any.
import { generateStack } from '../../test/helpers/hostile-stacks.ts';
import { diffStack } from '../../test/helpers/umoci-diff.ts';

const count = Number(process.argv[2] ?? 2000);
const seed0 = Number(process.argv[3] ?? Math.floor(Math.random() * 2 ** 31));
let next = seed0; let bad = 0; let unpacked = 0;
const started = Date.now();
const worker = async (): Promise<void> => {
  while (next < seed0 + count) {
    const seed = next++;
    const r = await diffStack(generateStack(seed));
    if (r.theirs.ok) unpacked++;
    if (r.diff.length > 0) { bad++; console.log(`seed ${seed}: ${r.diff.slice(0, 5).join('; ')}`); }
  }
};
async function main(): Promise<void> {
  await Promise.all([worker(), worker()]);
  console.log(`seeds ${seed0}..${seed0 + count - 1}: ${count} stacks, ${unpacked} unpacked by umoci, ${count - unpacked} refused, ${bad} disagreements, ${((Date.now() - started) / 1000).toFixed(0)} s`);
  process.exitCode = bad > 0 ? 1 : 0;
}
void main();
