// Reads the KTAP/TAP lines the kernel's selftests print (tools/testing/selftests/
// kselftest.h and kselftest_harness.h): "ok N desc", "not ok N desc",
// "ok N desc # SKIP why", "1..N".
export type CheckResult = 'pass' | 'fail' | 'skip' | 'xfail';

export interface Check { n: number; desc: string; result: CheckResult }
export interface KtapRun { plan?: number; checks: Map<number, Check> }

const LINE = /^(not ok|ok) (\d+) ?(.*?)(?:\s+#\s*(SKIP|XFAIL|TODO)\b.*)?\s*$/;

export function parseKtap(text: string): KtapRun {
  const checks = new Map<number, Check>();
  let plan: number | undefined;
  for (const line of text.split('\n')) {
    const p = /^1\.\.(\d+)\s*$/.exec(line);
    if (p) { plan = Number(p[1]); continue; }
    const m = LINE.exec(line);
    if (!m) continue;
    const n = Number(m[2]);
    const directive = m[4];
    const result: CheckResult = directive === 'SKIP' ? 'skip' : directive === 'XFAIL' ? 'xfail' : m[1] === 'ok' ? 'pass' : 'fail';
    checks.set(n, { n, desc: m[3]!, result });
  }
  return { plan, checks };
}
