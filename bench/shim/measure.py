#!/usr/bin/env python3
"""measure.py CMD ARGS...: runs CMD with stdout discarded and prints
"<wall ms> <cpu ms>", cpu = user + system time of CMD and every descendant it
waited for (wait4's rusage), i.e. everything the run cost the machine. Exits
with CMD's status."""
import os, sys, time

t0 = time.monotonic()
pid = os.fork()
if pid == 0:
    fd = os.open(os.devnull, os.O_WRONLY)
    os.dup2(fd, 1)
    try:
        os.execvp(sys.argv[1], sys.argv[1:])
    finally:
        os._exit(127)
_, status, ru = os.wait4(pid, 0)
wall = (time.monotonic() - t0) * 1000
cpu = (ru.ru_utime + ru.ru_stime) * 1000
print(f"{wall:.0f} {cpu:.0f}")
sys.exit(os.waitstatus_to_exitcode(status) & 0xFF)
