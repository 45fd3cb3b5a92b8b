// Reads ava's output on stdin and prints the plain closing line
// "N passed, N failed[, N skipped]" that CI tooling understands.
// ava omits its "N tests passed" line when anything failed, so passes are
// counted from the ✔ lines; tests left unrun after a failed hook
// ("✘ N tests remaining in ...") count as failed. argv[2] is ava's exit code.
import { createInterface } from 'node:readline';

let ticks = 0, failLines = 0, remaining = 0, skipped = 0, errors = 0;
let avaPassed, avaFailed;
for await (const raw of createInterface({ input: process.stdin })) {
  const line = raw.replace(/\x1b\[[0-9;]*m/g, '');
  let m;
  if (/^\s*✔ /.test(line)) ticks++;
  if (/^\s*✘ \[fail\]/.test(line)) failLines++;
  if ((m = /^\s*✘ (\d+) tests? remaining/.exec(line))) remaining += +m[1];
  if ((m = /^\s*(\d+) tests? passed\s*$/.exec(line))) avaPassed = +m[1];
  if ((m = /^\s*(\d+) tests? failed\s*$/.exec(line))) avaFailed = +m[1];
  if ((m = /^\s*(\d+) (?:tests? skipped|known failures?|tests? todo)\s*$/.exec(line))) skipped += +m[1];
  if ((m = /^\s*(\d+) (?:uncaught exceptions?|unhandled rejections?|hooks? failed)\s*$/.exec(line))) errors += +m[1];
}
const passed = avaPassed ?? ticks;
let failed = (avaFailed ?? failLines) + remaining;
const avaCode = Number(process.argv[2] ?? 0);
if (avaCode !== 0 && failed === 0) failed = Math.max(1, errors);
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
