# fork/exec loop: the shell starts an ARM program 40 times
i=0
while [ $i -lt 40 ]; do /bin/true; i=$((i + 1)); done
echo "$i"
