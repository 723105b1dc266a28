# Shared by the /proc view tests (60 and 61): `probe`, a container script
# that prints everything they check as KEY=VALUE lines, read back with
# `val`; `grow`, which prints MemAvailable before and after filling 64 MiB
# of tmpfs (shmem is charged to the container's memory cgroup and is not
# reclaimable cache); `kb_of`, a meminfo field of some text.
# Source after tests/lib.sh.
kb_of() { printf '%s\n' "$1" | awk -v k="$2:" '$1 == k { print $2 }'; }
val() { printf '%s\n' "$1" | sed -n "s/^$2=//p"; }
probe='echo total=$(awk "/^MemTotal:/{print \$2}" /proc/meminfo)
echo avail=$(awk "/^MemAvailable:/{print \$2}" /proc/meminfo)
echo nproc=$(nproc)
echo cpuinfo=$(grep -c ^processor /proc/cpuinfo)
echo statcpus=$(grep -c "^cpu[0-9]" /proc/stat)
echo online=$(cat /sys/devices/system/cpu/online)
echo uptime=$(cut -d. -f1 /proc/uptime)
echo free_total=$(free -m | awk "/^Mem:/{print \$2}")'
grow='a=$(awk "/^MemAvailable:/{print \$2}" /proc/meminfo)
dd if=/dev/zero of=/dev/shm/fill bs=1M count=64 2>/dev/null
b=$(awk "/^MemAvailable:/{print \$2}" /proc/meminfo)
echo "$a $b"'
