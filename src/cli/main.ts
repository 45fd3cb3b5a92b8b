// The only module that touches process.argv / exit codes. Everything else is
// in cli/run.ts (testable in-process) and the library.
import { runCli } from './run.ts';

// A reader that went away (`xbuild wrap --help | head -1`): stop writing there, quietly, and let the
// command end with its own exit code, as other CLIs do. Anything else is still a real error.
for (const out of [process.stdout, process.stderr]) {
  out.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE' || err.code === 'ERR_STREAM_DESTROYED') return;
    throw err;
  });
}

const code = await runCli(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  isTTY: Boolean(process.stderr.isTTY),
});
process.exitCode = code;
// The command is over: abandoned work (a socket, a retry timer) must not keep
// the process alive. Output to pipes and files is synchronous on Linux.
setTimeout(() => process.exit(code), 500).unref();
