# configure-style: pipelines of small tools, $(...), here-docs, helper scripts run by path
set -e
rm -rf /tmp/conf && mkdir /tmp/conf && cd /tmp/conf
cat > confdefs.h <<'X'
/* confdefs.h */
X
for h in stdio stdlib string unistd fcntl errno sys/stat sys/types limits signal; do
  name=$(echo "$h" | tr a-z A-Z | sed 's/[^A-Z0-9]/_/g')
  if ! grep -q "HAVE_${name}_H" confdefs.h; then printf '#define HAVE_%s_H 1\n' "$name" >> confdefs.h; fi
  case $(expr "$h" : '\(sys\)' || true) in sys) echo "sys header $h" >> config.log ;; esac
done
cat > conftest.sh <<'X'
#!/bin/sh
echo "checking for $1... yes"
X
chmod +x conftest.sh
for c in cc ar ranlib strip install mkdir awk sed grep; do ./conftest.sh "$c" >> config.log; done
(cd .. && test -d conf)
n=$(wc -l < confdefs.h)
sed -e "s/@N@/$n/" > config.status <<'X'
defines=@N@
X
cat config.status
grep -c checking config.log
