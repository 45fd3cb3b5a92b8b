// Many short emulated processes, counted for crashes: the evidence for the
// PIE / non-PIE decision (issue 11 item 5). Shared by bench/pie-stress/run.ts
// (thousands of runs) and test/qemu-pie-stress.test.ts (a small slice).
//
// Two ways to start the processes, both in a chroot of a Debian tree:
//   host-loop   a host-native (x86_64 static busybox) shell loop starts the
//               emulator N times on the program: every run is a fresh emulator
//               whose memory layout (its own image, brk, the guest reservation)
//               the kernel randomises anew -- works for any static qemu,
//               including Debian's static-pie build without interception.
//   guest-loop  the guest's own dash, under `-execve`, runs the loop: each
//               iteration forks the emulated shell and the intercepted exec
//               re-executes the emulator (xbuild's path in a build).
// A run is a crash when its exit status is not the program's (0), or the
// emulator printed "qemu:" (e.g. "uncaught target signal 11").
import { performance } from 'node:perf_hooks';
import { runHost, type Guest, type RunResult } from '../../test/helpers/guest.ts';

export type LoopKind = 'host-loop' | 'guest-loop';

export interface StressResult {
  runs: number;
  failures: number;
  /** The first few failure lines the loop printed. */
  samples: string[];
  seconds: number;
}

const ENV = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', HOME: '/root', LC_ALL: 'C' };

/**
 * Runs `prog` (an absolute guest path, plus arguments) n times under `emulator`
 * (a path inside the tree) and counts the runs that did not exit 0 cleanly.
 */
export async function stress(g: Guest, emulator: string, prog: string, n: number, kind: LoopKind, timeoutMs = 3_600_000): Promise<StressResult> {
  // Each failing run prints one "FAIL <i> <status>" line; qemu's own messages go to stdout too (2>&1).
  const body = kind === 'host-loop' ? `${emulator} ${prog}` : prog;
  const script = `i=0; while [ $i -lt ${n} ]; do out=$(${body} 2>&1); s=$?; case "$s:$out" in 0:*qemu:*|[1-9]*) printf 'FAIL %s status=%s %.200s\\n' "$i" "$s" "$out";; esac; i=$((i+1)); done; echo "DONE $i"`;
  const cmd = kind === 'host-loop'
    ? ['chroot', g.root, '/opt/host/busybox', 'sh', '-c', script]
    : ['chroot', g.root, emulator, '-execve', '/bin/sh', '-c', script];
  const t0 = performance.now();
  const r: RunResult = await runHost(cmd, { env: ENV, timeoutMs });
  const seconds = (performance.now() - t0) / 1000;
  const done = /^DONE (\d+)$/m.exec(r.stdout);
  const fails = r.stdout.split('\n').filter((l) => l.startsWith('FAIL '));
  if (!done || r.code !== 0) {
    // The loop itself died (its shell crashed): every run not reported is counted as failed.
    return { runs: n, failures: n - (done ? Number(done[1]) : 0) + fails.length, samples: [...fails.slice(0, 5), `loop exit ${r.code ?? r.signal}: ${r.stderr.slice(-300)}`], seconds };
  }
  return { runs: n, failures: fails.length, samples: fails.slice(0, 5), seconds };
}
