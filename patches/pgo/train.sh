# PGO training (guest side): compile, link, scripting languages, text tools,
# shell forks and command substitution. Not the benchmarks' own scripts.
set -e
cd /tmp && rm -rf tr && mkdir tr && cd tr
cat > m.c <<'C'
#include <stdio.h>
#include <string.h>
static int cmp(const char *a, const char *b) { return strcmp(a, b); }
int main(int argc, char **argv) { int n = 0; for (int i = 1; i < argc; i++) n += cmp(argv[i], "x") > 0; printf("%d\n", n); return 0; }
C
for i in 1 2 3; do
  gcc -O2 -Wall -c m.c -o m.o
  gcc m.o -o m
  ./m a b y z >/dev/null
  gcc -E m.c | wc -l >/dev/null
done
for i in 1 2 3 4 5 6; do
  python3 -c 'import json, re, os; print(json.dumps({"k": [re.sub("a", "b", x) for x in os.listdir("/etc")][:5]}))' >/dev/null
  perl -e 'my %h; $h{$_}++ for split //, "abcabc"; print join(",", sort keys %h), "\n"' >/dev/null
done
i=0
while [ $i -lt 40 ]; do
  v=$(echo "line $i" | sed -e 's/line/l/' | tr a-z A-Z | cut -c1-3)
  test -n "$v" && grep -q root /etc/passwd && awk -F: '{n++} END {print n}' /etc/passwd >/dev/null
  sort -r /etc/group | head -n 3 >/dev/null
  case $i in *5) sh -c 'exit 0' ;; esac
  if command -v ls >/dev/null 2>&1; then ls /usr/bin | wc -l >/dev/null; fi
  i=$(expr $i + 1)
done
dpkg-query -W -f '${Package}\n' >/dev/null
echo trained
