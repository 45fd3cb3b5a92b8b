// The workloads of bench/workloads: guest shell scripts run in a debootstrapped Debian
// tree (scripts/fixtures/debian-workload-tree.sh, stage base), in this order, in one
// tree per (arch, mode): the apt-get install comes first and the later workloads use
// what it installed. Each passes when its script exits 0, prints what `expect` wants
// and no crash signature shows (test/helpers/workload.ts crashLines).
import { GUEST_PROGRAMS, WORKLOAD_PACKAGES } from '../../test/helpers/workload.ts';

export interface Workload {
  name: string;
  script: string;
  expect: RegExp;
  timeoutMs: number;
}

const MIN = 60_000;
const LDCONFIG_RUNS = 500;

export const WORKLOADS: Workload[] = [
  {
    name: `apt-get install ${WORKLOAD_PACKAGES.join(' ')}`,
    // offline: the .debs are in /var/cache/apt/archives; dpkg triggers (libc-bin/ldconfig,
    // man-db) run; then dpkg must find every package configured
    script: `apt-get install -y -q --no-download --no-install-recommends ${WORKLOAD_PACKAGES.join(' ')} && a=$(dpkg --audit) && [ -z "$a" ] && echo wl-apt-ok`,
    expect: /wl-apt-ok/,
    timeoutMs: 90 * MIN,
  },
  {
    name: 'C: gcc -O2 -pthread, run (threads, fork, exec)',
    script: `gcc -O2 -pthread ${GUEST_PROGRAMS}/threads.c -o /tmp/threads && /tmp/threads`,
    expect: /child-exec-ok\n[^]*c-threads-ok \d+ exit=0/,
    timeoutMs: 20 * MIN,
  },
  {
    name: 'Python 3: threads + multiprocessing (fork, spawn)',
    script: `python3 ${GUEST_PROGRAMS}/threads-mp.py`,
    expect: /python-ok( [0-9a-f]{8}){4}/,
    timeoutMs: 20 * MIN,
  },
  {
    name: 'Perl: regex, hashes, Digest::SHA, fork + pipe',
    script: `perl ${GUEST_PROGRAMS}/work.pl`,
    expect: /perl-ok \S+ [0-9a-f]{8}/,
    timeoutMs: 20 * MIN,
  },
  {
    name: 'Node.js: worker_threads, child_process, zlib',
    script: `node ${GUEST_PROGRAMS}/workers.cjs`,
    expect: /node-ok( [0-9a-f]{8}){4} spawn-ok/,
    timeoutMs: 20 * MIN,
  },
  {
    name: `ldconfig x${LDCONFIG_RUNS}`,
    script: `i=0; while [ $i -lt ${LDCONFIG_RUNS} ]; do ldconfig || { echo "ldconfig run $i failed"; exit 1; }; i=$((i+1)); done; echo wl-ldconfig-ok $i`,
    expect: new RegExp(`wl-ldconfig-ok ${LDCONFIG_RUNS}`),
    timeoutMs: 30 * MIN,
  },
  {
    name: "Debian's hello source: ./configure && make",
    script: 'cd /root/hello && { ./configure >/tmp/hello-configure.log 2>&1 && make -j2 >/tmp/hello-make.log 2>&1 '
      + '|| { tail -n 25 /tmp/hello-*.log config.log 2>/dev/null; exit 1; }; } && ./hello',
    expect: /Hello, world!/,
    timeoutMs: 60 * MIN,
  },
];
