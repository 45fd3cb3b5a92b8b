// Reads ava's output on stdin, echoes it, and ends with the plain closing
// line "N passed, N failed[, N skipped]" that CI tooling understands.
// Exit code: ava's own, passed as argv[2].
import { createInterface } from 'node:readline';

let passed = 0, failed = 0, skipped = 0, seen = false;
const rl = createInterface({ input: process.stdin });
for await (const line of rl) {
  process.stdout.write(line + '\n');
  const clean = line.replace(/\x1b\[[0-9;]*m/g, '');
  let m;
  if ((m = /^\s*(\d+) tests? passed/.exec(clean))) { passed = +m[1]; seen = true; }
  if ((m = /^\s*(\d+) tests? failed/.exec(clean))) { failed = +m[1]; seen = true; }
  if ((m = /^\s*(\d+) (?:tests? skipped|known failures?|tests? todo)/.exec(clean))) { skipped += +m[1]; }
  if ((m = /^\s*(\d+) uncaught exceptions?/.exec(clean))) { failed += +m[1]; }
  if ((m = /^\s*(\d+) unhandled rejections?/.exec(clean))) { failed += +m[1]; }
}
const avaCode = Number(process.argv[2] ?? 0);
if (!seen) failed += avaCode === 0 ? 0 : 1;
if (avaCode !== 0 && failed === 0) failed = 1;
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
