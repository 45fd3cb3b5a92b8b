// Child-process helpers for the end-to-end tests: every failure names the
// step that was running and the tail of the command's stderr, so a broken
// setup reads as one clear line instead of a cascade.
import { spawn } from 'node:child_process';
import { access, constants } from 'node:fs/promises';

export interface RunResult { code: number; stdout: string; stderr: string; ms: number }
export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  input?: string;
  timeoutMs?: number;
}

/** Runs a command to completion; never throws for a non-zero exit (see runOk). */
export function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    let timer: NodeJS.Timeout | undefined;
    if (opts.timeoutMs) {
      timer = setTimeout(() => { stderr += `\n[killed after ${opts.timeoutMs} ms]`; child.kill('SIGKILL'); }, opts.timeoutMs);
    }
    child.on('error', (err) => { if (timer) clearTimeout(timer); reject(new Error(`cannot start ${cmd}: ${err.message}`)); });
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr, ms: Date.now() - t0 });
    });
    if (opts.input !== undefined) child.stdin!.end(opts.input);
  });
}

function tail(s: string, lines = 25): string {
  return s.trimEnd().split('\n').slice(-lines).join('\n');
}

/** Runs a command and throws `step: cmd exited N` with its output's tail unless it exits 0. */
export async function runOk(stepName: string, cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) {
    throw new Error(`${stepName}: \`${cmd} ${args.join(' ')}\` exited ${r.code}\n${tail(r.stdout + '\n' + r.stderr)}`);
  }
  return r;
}

/** Runs fn; a failure is re-thrown prefixed with the step's name. */
export async function step<T>(name: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    throw new Error(msg.startsWith(`${name}:`) ? msg : `${name}: ${msg}`);
  }
}

/** Throws a clear "missing tool" error (with the package that provides it) unless path is executable. */
export async function requireTool(path: string, pkg: string): Promise<void> {
  try {
    await access(path, constants.X_OK);
  } catch {
    throw new Error(`${path} not found or not executable: install Debian's ${pkg} (bash scripts/install-system-deps.sh)`);
  }
}
