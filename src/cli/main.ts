// The only module that touches process.argv / exit codes. Everything else is
// in cli/run.ts (testable in-process) and the library.
import { runCli } from './run.ts';

const code = await runCli(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  isTTY: Boolean(process.stderr.isTTY),
});
process.exitCode = code;
