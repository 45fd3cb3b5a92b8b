#!/usr/bin/env sh
# Run by path inside RUN: the emulator resolves "#!/usr/bin/env sh" itself
# (env is an ARM program, and so is the sh it starts).
set -e
printf 'XB env-script=%s via %s\n' "$(echo ok | tr o O)" "$(basename "$0")"
