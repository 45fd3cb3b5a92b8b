import type { Writable } from 'node:stream';

/** What a CLI command may touch: injected so commands run in-process in tests. */
export interface CliContext {
  stdout: Writable;
  stderr: Writable;
  env: NodeJS.ProcessEnv;
  isTTY: boolean;
}

/** Thrown by command actions to end with an exit code without printing anything more. */
export class ExitCode extends Error {
  constructor(readonly code: number) { super(`exit ${code}`); }
}
