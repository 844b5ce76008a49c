#!/usr/bin/env python3
"""make bench: what ksm_merge_across_nodes costs the hook, against the real /sys/kernel/mm/ksm (root).

Hook runs as bench/common.py runs them (the runner every bench step shares): through a
.../before_vm_start/50_largeguest symlink, vmId and _hook_domxml set, a fresh copy of the sample domain, wall time
around posix_spawn + wait4,
Topology:Source=sysfs, Ksm:StateDir a private directory on a tmpfs (/run, else /dev/shm), like the default
/run/vdsm-hook-largeguest on a VDSM host.

(1) No-change reconcile: the hook with guestnuma + ksm_merge_across_nodes equal to the host's current value vs the
    same hook with guestnuma only (same XML path), interleaved rounds, medians. Target: <= 1.10 x.
(2) 256 MiB switch 1 -> 0: a helper process maps 256 MiB of identical anonymous pages with MADV_MERGEABLE; ksmd is
    made to merge them fast (run=1, pages_to_scan large, sleep_millisecs 0) until pages_sharing stops growing and
    covers > 90 % of the pages, then ksmd goes back to the host's own pace (pages_to_scan, sleep_millisecs as found)
    with run=1. On that state, alternately: (i) the published hook asked ksm_merge_across_nodes=0 (its note must
    say it unmerged), (ii) the raw writes done by this script: 2 > run; 0 > merge_across_nodes; 1 > run.
    Before every switch: run=2, merge_across_nodes=1 with nothing shared, an empty state dir, and a fresh merge.
    Target: median hook <= 1.2 x median raw.

Every KSM setting touched (run, merge_across_nodes, pages_to_scan, sleep_millisecs) is saved first and restored at
the end, also on failure and Ctrl-C/SIGTERM, by the one save/restore of bench/common.py (ksm_settings_kept),
which also holds the KSM test lock (/run/largeguest-ksm-tests.lock) throughout: no test changes KSM meanwhile.
Exits 1 when a target is missed, 2 (or a message) when a run fails.

--busy-host starts from an aggressive ksmd (run 1, pages_to_scan 200000, sleep_millisecs 0), a legitimate state of a
busy host in which ksmd merges between any read of pages_shared and the next write: every merge_across_nodes write
here stops ksmd first (run=0, then run=2 when pages are shared) and gives run back, as the product's reconciler does;
the busy state must be restored at the end (checked), then the host's own.
"""
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402  the runner, interleaving, table and target report of make bench
from common import ksm_read as read, ksm_write as write  # noqa: E402

KSM = common.KSM
BUSY = {"pages_to_scan": "200000", "sleep_millisecs": "0", "run": "1"}  # a legitimate, busy host's ksmd
TARGET_NOCHANGE = 1.10
TARGET_SWITCH = 1.2
MIB = 256
PAGE = os.sysconf("SC_PAGE_SIZE")
GUESTNUMA = "0-7#4G,8-15#4G"

# Maps MIB MiB anonymous, fills every page with the same non-zero bytes, marks it mergeable, says "ready", sleeps.
HELPER = r"""
import mmap, sys, time
size, page = int(sys.argv[1]), mmap.PAGESIZE
m = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
chunk = b"largeguest-ksm-bench".ljust(page, b"\x5a")
for off in range(0, size, page):
    m[off:off + page] = chunk
m.madvise(mmap.MADV_MERGEABLE)
print("ready", flush=True)
while True:
    time.sleep(3600)
"""


def merge(pages, saved, timeout=120):
    """ksmd at full speed until pages_sharing stops growing above 90 % of pages; then the host's own pace, run=1."""
    write("pages_to_scan", 65536)
    write("sleep_millisecs", 0)
    write("run", 1)
    end = time.monotonic() + timeout
    last, stable = -1, 0
    while stable < 10:  # 10 polls of 20 ms without growth
        if time.monotonic() > end:
            raise RuntimeError(f"ksmd merged only {read('pages_sharing')} of {pages} pages within {timeout} s")
        time.sleep(0.02)
        now = int(read("pages_sharing"))
        stable = stable + 1 if now == last and now > 0.9 * pages else 0
        last = now
    write("pages_to_scan", saved["pages_to_scan"])
    write("sleep_millisecs", saved["sleep_millisecs"])
    return last


def private_dir(prefix):
    """On a tmpfs like the default state dir /run/vdsm-hook-largeguest on a VDSM host (/run is a tmpfs there;
    in containers it may not be): /run if it is one, else /dev/shm, else the temp dir."""
    parent = next((d for d in ("/run", "/dev/shm") if common.fs_type(d) == "tmpfs"), None)
    return tempfile.TemporaryDirectory(prefix=prefix, dir=parent)


def no_change(spawner, hook, typical, env_base, work, args):
    """(1): the hook with guestnuma + ksm_merge_across_nodes equal to the host's value vs guestnuma only."""
    current = read("merge_across_nodes")
    plain = common.Workload("plain", f"guestnuma={GUESTNUMA}", hook, typical, {"guestnuma": GUESTNUMA})
    same = common.Workload("same", f"  + ksm_merge_across_nodes={current} (no change)", hook, typical,
                           {"guestnuma": GUESTNUMA, "ksm_merge_across_nodes": current})
    workloads = [plain, same]
    for w in workloads:
        common.prepare(w, env_base, work)
    for w in workloads:
        common.run_once(w, spawner)  # stderr must stay empty: a no-change reconcile prints nothing
    common.run_interleaved(workloads, spawner, args.rounds, args.warmup)
    if read("merge_across_nodes") != current:
        raise RuntimeError(f"a no-change run changed merge_across_nodes {current} -> {read('merge_across_nodes')}")
    print(f"\n(1) no-change reconcile, {args.rounds} interleaved rounds after {args.warmup} warm-up")
    return common.print_table(workloads, args.rounds)


def switches(spawner, hook, typical, env_base, work, state, saved, args):
    """(2): alternately the hook and the raw writes switch merge_across_nodes 1 -> 0 on a fresh 256 MiB merge."""
    pages = MIB * 1024 * 1024 // PAGE
    with subprocess.Popen([sys.executable, "-I", "-S", "-c", HELPER, str(MIB << 20)],
                          stdout=subprocess.PIPE, text=True) as helper:
        try:
            if helper.stdout.readline().strip() != "ready":
                raise RuntimeError("the 256 MiB helper did not start")
            switch_hook = common.Workload("switch_hook", "(i) hook ksm_merge_across_nodes=0", hook, typical,
                                          {"ksm_merge_across_nodes": "0"})
            switch_hook.allow_stderr = True
            common.prepare(switch_hook, env_base, work)
            raw = common.Workload("raw", "(ii) raw: 2>run; 0>merge_across_nodes; 1>run", None)
            merged, notes = [], []
            for i in range(2 * args.switches):
                kind = "hook" if (i % 2 == 0) == (i // 2 % 2 == 0) else "raw"  # hook raw raw hook hook raw ...
                common.set_merge_across_nodes(1)
                shutil.rmtree(state)
                os.mkdir(state, 0o700)
                merged.append(merge(pages, saved))
                if read("run") != "1" or read("merge_across_nodes") != "1":
                    raise RuntimeError(f"not the starting state: run {read('run')}, merge_across_nodes "
                                       f"{read('merge_across_nodes')}")
                if kind == "hook":
                    t, cpu, rss = common.run_once(switch_hook, spawner)
                    note = switch_hook.stderr
                    m = re.search(r"unmerged (\d+) pages", note)
                    if not m or ": warning: " in note or ": error: " in note or "1 -> 0" not in note:
                        raise RuntimeError(f"the hook's note does not say it unmerged: {note or '(no stderr)'}")
                    notes.append(note)
                    switch_hook.times.append(t)
                    switch_hook.cpu.append(cpu)
                    switch_hook.rss.append(rss)
                else:
                    r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter_ns()
                    write("run", 2)
                    write("merge_across_nodes", 0)
                    write("run", 1)
                    t1, r1 = time.perf_counter_ns(), resource.getrusage(resource.RUSAGE_SELF)
                    raw.times.append(t1 - t0)
                    raw.cpu.append(int((r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime) * 1e6))
                if read("merge_across_nodes") != "0" or read("run") != "1":
                    raise RuntimeError(f"{kind}: the switch left run {read('run')}, merge_across_nodes "
                                       f"{read('merge_across_nodes')}")
        finally:
            helper.kill()
    print(f"\n(2) {MIB} MiB switch 1 -> 0 ({pages} pages; pages_sharing before each switch "
          f"{min(merged)}-{max(merged)}), {args.switches} of each, alternating, each on a fresh merge")
    print(f"  the hook's note, last switch: {notes[-1]}")
    med = common.print_table([switch_hook, raw], args.switches)
    print("(raw: the three writes timed inside this process; its cpu is this process's user+sys across them)")
    return med


def measure(args, binary, work, state, saved):
    hook, _, env_base = common.hook_setup(binary, work)
    env_base.update({"LARGEGUEST__Topology__Source": "sysfs", "LARGEGUEST__Ksm__StateDir": state})
    with open(common.TYPICAL, "rb") as f:
        typical = f.read()
    print(f"ksm bench: {binary}, real {KSM} (run {saved['run']}, merge_across_nodes {saved['merge_across_nodes']}, "
          f"pages_to_scan {saved['pages_to_scan']}, sleep_millisecs {saved['sleep_millisecs']}), state dir {state} "
          f"({common.fs_type(state)})")
    with common.Spawner(work) as spawner:
        med1 = no_change(spawner, hook, typical, env_base, work, args)
        med2 = switches(spawner, hook, typical, env_base, work, state, saved, args)
    return med1, med2


def main():
    ap = common.argument_parser(__doc__)
    ap.add_argument("--switches", type=int, default=5, help="switches of each kind (hook, raw)")
    ap.add_argument("--busy-host", action="store_true",
                    help=f"start from an aggressive ksmd (run 1, pages_to_scan {BUSY['pages_to_scan']}, "
                         f"sleep_millisecs "
                         f"{BUSY['sleep_millisecs']}) as the host's state; check it is restored, then the real one")
    args = ap.parse_args()
    if args.switches < 2 or args.rounds < 2:
        sys.exit("ksm bench: --switches and --rounds must be at least 2 (a median and a spread)")
    binary = os.path.abspath(args.binary)
    if os.geteuid() != 0:
        sys.exit("ksm bench: needs root (it drives the real /sys/kernel/mm/ksm)")
    if not os.path.exists(os.path.join(KSM, "merge_across_nodes")):
        sys.exit(f"ksm bench: {KSM}/merge_across_nodes missing: this kernel has no KSM or no NUMA KSM")

    busy = None
    try:
        # The host's own settings are restored last, the busy host's (with --busy-host) first and checked.
        with common.ksm_settings_kept(), \
                tempfile.TemporaryDirectory(prefix="largeguest-ksm-bench-") as work, \
                private_dir("largeguest-ksm-bench-state-") as state:
            if args.busy_host:
                for name, value in BUSY.items():
                    write(name, value)
            with common.ksm_restored(common.ksm_snapshot()) as saved:
                med1, med2 = measure(args, binary, work, state, saved)
            if args.busy_host:
                busy = {n: read(n) for n in BUSY}
                print(f"ksm bench: busy host state after the run: {busy} "
                      f"({'restored' if busy == BUSY else 'NOT RESTORED'})")
    except KeyboardInterrupt:
        print("ksm bench: interrupted; KSM settings restored", file=sys.stderr)
        return 130

    if args.busy_host and busy != BUSY:
        sys.exit(f"ksm bench: the busy host's ksmd was not restored: {busy}, expected {BUSY}")
    targets = [(f"{MIB} MiB switch: hook <= 1.2 x raw writes", med2["switch_hook"] / med2["raw"], TARGET_SWITCH)]
    if args.busy_host:
        # ksmd at pages_to_scan 200000, sleep 0 takes a whole core: a few-ms ratio then measures the scheduler
        print(f"no-change reconcile vs without, busy ksmd: {med1['same'] / med1['plain']:.2f}x (reported, no target)")
    else:
        targets.insert(0, ("no-change reconcile <= 1.10 x without", med1["same"] / med1["plain"], TARGET_NOCHANGE))
    missed = common.report_targets(targets, "ksm bench")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
