#!/bin/bash
# Stage 2 of the NUMA test host (docs/e2e.md, "The NUMA test host"): PID 1 in the overlay over the outer
# machine's root. Mounts what a host has, then serves commands on the virtio-serial port "lg.agent":
#   request  line: ID TIMEOUT_S BASE64(bash script)       (from the outer side; `true` first, as a ping)
#   response line: ID EXIT_CODE BASE64(stdout) BASE64(stderr)
# The test host lives as long as its QEMU: nothing here is kept.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 HOME=/root
say() { echo "numa-host: $*" >/dev/console; }
fail() { say "stage 2 FAILED: $*"; echo o >/proc/sysrq-trigger; sleep 10; }
mount -t proc proc /proc && mount -t sysfs sysfs /sys && mount -t devtmpfs devtmpfs /dev || fail "proc/sys/dev"
mkdir -p /dev/pts /dev/shm && mount -t devpts devpts /dev/pts && mount -t tmpfs tmpfs /dev/shm || fail "devpts/shm"
# Fresh /run and /tmp: the outer machine's (pid files, sockets, other test instances) must not show through.
# The repository (lg.repo) stays visible where it is, also when a clone lives under one of them (CI's may).
repo=$(tr ' ' '\n' </proc/cmdline | sed -n 's/^lg.repo=//p')
mkdir -p /lg-repo && mount --bind "$repo" /lg-repo || fail "bind $repo"
for d in /run /tmp /var/tmp; do mount -t tmpfs -o mode=1777 tmpfs "$d" || fail "tmpfs $d"; done
[ -d "$repo" ] || { mkdir -p "$repo" && mount --bind /lg-repo "$repo"; } || fail "repository $repo"
# cgroup v2 with the controllers libvirt uses on an oVirt host (cpuset carries numatune).
mount -t cgroup2 cgroup2 /sys/fs/cgroup || fail "cgroup2"
echo "+cpuset +cpu +memory +pids" >/sys/fs/cgroup/cgroup.subtree_control || fail "cgroup controllers"
mkdir -p /run/lg-xchg && mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 xchg /run/lg-xchg || fail "9p xchg"
hostname numa-host
ln -s /proc/self/fd /dev/fd 2>/dev/null
port=
for n in /sys/class/virtio-ports/*/name; do
    [ "$(cat "$n")" = lg.agent ] && port=/dev/$(basename "$(dirname "$n")")
done
[ -n "$port" ] || fail "no virtio-serial port lg.agent"
say "stage 2 ready after $(cut -d' ' -f1 /proc/uptime) s: nodes $(cat /sys/devices/system/node/online)," \
    "CPUs $(cat /sys/devices/system/cpu/online)"
work=/run/lg-agent
mkdir -p "$work"
while true; do
    # Reads return end-of-file while no one is connected on the outer side: reopen and wait. Commands run
    # without the port's descriptor, so a daemon they start cannot hold the port (it opens only once).
    if exec 3<>"$port"; then
        while IFS=' ' read -r id limit script <&3; do
            if base64 -d <<<"$script" >"$work/cmd" 2>/dev/null; then
                timeout --kill-after=5 "$limit" bash "$work/cmd" </dev/null >"$work/out" 2>"$work/err" 3>&-
                echo "$id $? $(base64 -w0 "$work/out") $(base64 -w0 "$work/err")" >&3
            else
                echo "$id 127  $(echo 'agent: request is not base64' | base64 -w0)" >&3
            fi
        done
        exec 3>&-
    fi
    sleep 0.2
done
