// Runs one external build step with its output appended to the build log.
import { spawn } from 'node:child_process';
import { open, readFile } from 'node:fs/promises';
import { XbuildError, type ErrorCode } from '../errors.ts';

/** A failed build step: the message names the step and the log; tail holds the log's last lines. */
export class BuildStepError extends XbuildError {
  constructor(code: ErrorCode, message: string, readonly logPath: string, readonly tail: string[]) {
    super(code, message, { hint: `full log: ${logPath}` });
  }
}

export interface StepOptions {
  cwd: string;
  env: Record<string, string | undefined>;
  log: string;
  code: ErrorCode;
  /** called with each complete output line (progress parsing) */
  onLine?: (line: string) => void;
}

export async function runStep(label: string, cmd: string, args: string[], o: StepOptions): Promise<void> {
  const fh = await open(o.log, 'a');
  try {
    await fh.write(`\n### ${label}: ${[cmd, ...args].join(' ')}\n`);
    const code = await new Promise<number | string>((resolveExit, reject) => {
      const child = spawn(cmd, args, { cwd: o.cwd, env: o.env as NodeJS.ProcessEnv, stdio: ['ignore', 'pipe', 'pipe'] });
      let partial = '';
      const onData = (d: Buffer): void => {
        void fh.write(d);
        if (!o.onLine) return;
        partial += d.toString('utf8');
        const lines = partial.split('\n');
        partial = lines.pop() ?? '';
        for (const l of lines) o.onLine(l);
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', onData);
      child.on('error', reject);
      child.on('close', (c, sig) => resolveExit(c ?? sig ?? 'unknown'));
    }).catch((err: Error) => {
      throw new XbuildError(o.code, `${label}: cannot run ${cmd}: ${err.message}`);
    });
    if (code !== 0) {
      await fh.close().catch(() => {});
      const tail = await logTail(o.log, 20);
      throw new BuildStepError(o.code, `${label} failed (${typeof code === 'number' ? `exit ${code}` : code}); log: ${o.log}`, o.log, tail);
    }
  } finally {
    await fh.close().catch(() => {});
  }
}

export async function logTail(path: string, n: number): Promise<string[]> {
  const text = await readFile(path, 'utf8').catch(() => '');
  return text.split('\n').filter((l) => l.length > 0).slice(-n);
}
