// Runs the built bundle (bin/xbuild.mjs) with a hard timeout, for the issue-18
// tests: a hang is a failure, not a stuck test; the signal is reported.
import { spawn } from 'node:child_process';
import { join } from 'node:path';

/** The user's xbuild cache (the shim `xbuild qemu build` left there): tests give the CLI a temp HOME but this cache. */
export const REAL_CACHE = process.env.XBUILD_CACHE_DIR ?? join(process.env.HOME ?? '/root', '.cache', 'xbuild');

export interface CliResult { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string; ms: number }

export function xbuildBin(args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; nodeArgs?: string[] } = {}): Promise<CliResult> {
  const t0 = Date.now();
  const timeoutMs = opts.timeoutMs ?? 60_000;
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [...opts.nodeArgs ?? [], 'bin/xbuild.mjs', ...args], { env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = ''; let stderr = '';
    p.stdout.on('data', (c) => { stdout += c; });
    p.stderr.on('data', (c) => { stderr += c; });
    const timer = setTimeout(() => { stderr += `\n[test: killed after ${timeoutMs} ms]`; p.kill('SIGKILL'); }, timeoutMs);
    p.on('close', (code, signal) => { clearTimeout(timer); resolve({ code, signal, stdout, stderr, ms: Date.now() - t0 }); });
  });
}

/** Exit 2, exactly one `xbuild:` line matching `re`, no stack, no internal error. */
export function assertOneLine(t: { is: Function; regex: Function; notRegex: Function }, r: CliResult, re: RegExp): void {
  t.is(r.code, 2, r.stderr.slice(0, 4000));
  const lines = r.stderr.split('\n').filter((l) => l.startsWith('xbuild:'));
  t.is(lines.length, 1, r.stderr.slice(0, 4000));
  t.regex(lines[0] ?? '', re);
  t.notRegex(r.stderr, /\n\s+at |internal error/);
}
