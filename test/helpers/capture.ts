// In-process CLI context that records stdout/stderr (for runCli tests).
import { PassThrough } from 'node:stream';

export function capture() {
  const out = new PassThrough(); const err = new PassThrough();
  let o = ''; let e = '';
  out.on('data', (d) => { o += d; }); err.on('data', (d) => { e += d; });
  return { ctx: { stdout: out, stderr: err, env: {} as NodeJS.ProcessEnv, isTTY: false }, stdout: () => o, stderr: () => e };
}
