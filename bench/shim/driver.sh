#!/usr/bin/env bash
# Runs inside `unshare --user --map-root-user --mount --fork` (started by run.ts):
# mounts this user namespace's own binfmt_misc (kernel >= 6.7; never the host's),
# registers the given emulator for ARM or AArch64 ELF files (flag F), then times
# each workload alternately through binfmt_misc (pristine tree, the kernel starts
# the emulator for every ARM exec) and through the shim (tree after
# cross-build-start; the handler is disabled meanwhile, so only the emulator's
# execve interception can be at work).
#   driver.sh EMULATOR QEMU_ARCH BINFMT_ROOT SHIM_ROOT ROUNDS WORKLOAD_FILE...
# Prints one line per run: "<mode> <workload name> <round> <wall ms> <cpu ms>" (measure.py).
set -euo pipefail
emu=$1 qarch=$2 broot=$3 sroot=$4 rounds=$5
shift 5
bm=/proc/sys/fs/binfmt_misc
mount -t binfmt_misc binfmt_misc "$bm"
case $qarch in
  arm) magic='\x7fELF\x01\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x28\x00'
       mask='\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff' ;;
  aarch64) magic='\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00'
       mask='\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff' ;;
  *) echo "driver.sh: unknown arch $qarch" >&2; exit 2 ;;
esac
printf '%s' ":xbuild-bench-$qarch:M::$magic:$mask:$emu:F" > "$bm/register"
handler="$bm/xbuild-bench-$qarch"

here=$(cd "$(dirname "$0")" && pwd)
ms() { python3 "$here/measure.py" "$@"; }

# sanity: binfmt path works, shim path works without binfmt, outputs agree
for w in "$@"; do
  echo 1 > "$handler"
  a=$(chroot "$broot" /bin/sh -c "$(cat "$w")")
  echo 0 > "$handler"
  b=$(chroot "$sroot" /bin/sh -c "$(cat "$w")")
  if [ "$a" != "$b" ]; then echo "driver.sh: $(basename "$w"): outputs differ: [$a] vs [$b]" >&2; exit 1; fi
done
echo 0 > "$handler"
if chroot "$broot" /bin/true 2>/dev/null; then echo "driver.sh: ARM program ran with the handler disabled" >&2; exit 1; fi

for r in $(seq 1 "$rounds"); do
  for w in "$@"; do
    name=$(basename "$w" .sh)
    script=$(cat "$w")
    # alternate which mode goes first, so drift in machine load hits both alike
    if [ $((r % 2)) = 1 ]; then order="binfmt shim"; else order="shim binfmt"; fi
    for mode in $order; do
      if [ "$mode" = binfmt ]; then
        echo 1 > "$handler"; t=$(ms chroot "$broot" /bin/sh -c "$script")
      else
        echo 0 > "$handler"; t=$(ms chroot "$sroot" /bin/sh -c "$script")
      fi
      echo "$mode $name $r $t"
    done
  done
done
echo -1 > "$handler"
