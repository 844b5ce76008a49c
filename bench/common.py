"""What every `make bench` step shares: the runner that spawns the published hook the way VDSM runs it, the
interleaved rounds, the table and target report, and the one save/restore of the host's KSM settings.

Every run: a fresh copy of the domain XML, the hook executed through a .../before_vm_start/50_largeguest symlink
with a copy of the environment plus the custom properties, vmId and _hook_domxml; wall time around
posix_spawn + wait4, peak RSS from wait4's ru_maxrss. Workloads run interleaved (each round runs every workload
once, in a shuffled order) so that drift of the machine hits all of them alike; the figure is the median.
"""
import argparse
import contextlib
import fcntl
import os
import random
import signal
import statistics
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TYPICAL = os.path.join(REPO, "tests", "Largeguest.Tests", "Fixtures", "ovirt-sap-vdsm.xml")
PROPERTY_NAMES = ("cputune", "numatune", "guestnuma", "ksm_merge_across_nodes", "pincpu", "numa")

KSM = "/sys/kernel/mm/ksm"
# Held by every test and bench that changes KSM (the tests' RealKsm fixture takes the same lock).
KSM_LOCK = "/run/largeguest-ksm-tests.lock"
# Every KSM setting a bench may change; ksm_settings_kept() saves and restores all of them.
KSM_TOUCHED = ("run", "merge_across_nodes", "pages_to_scan", "sleep_millisecs")


class Workload:
    def __init__(self, name, label, exe, xml=None, properties=None, xml_dir=None):
        self.name, self.label, self.exe, self.xml, self.properties = name, label, exe, xml, properties or {}
        self.xml_dir = xml_dir  # where the domain XML lives (default: the bench's temp dir, as mkstemp's)
        self.env = {}  # further environment variables (not properties)
        self.times, self.cpu, self.rss = [], [], []
        self.allow_stderr = False  # True: stderr is expected (a note); the last run's text is kept in .stderr
        self.stderr = ""


# The runs are spawned by a minimal Python (-I -S: os and time only) so that ru_maxrss means the hook:
# a child's peak RSS includes the RSS of the process it was spawned from (exec records the old mm's
# high-water mark), and this bench process holds a 1 MiB document and its modules. What the spawner
# itself occupies is the floor below which no figure can go; it is printed with the table.
SPAWNER = r"""
import os, sys, time
work = sys.argv[1]
envs = {}
def load_env(path):
    if path not in envs:
        with open(path, 'rb') as f:
            envs[path] = dict(kv.split(b'=', 1) for kv in f.read().split(b'\0') if kv)
    return envs[path]
def copy(src, dst):
    with open(src, 'rb') as i, open(dst, 'wb') as o:
        size = os.fstat(i.fileno()).st_size
        sent = 0
        while sent < size:
            sent += os.sendfile(o.fileno(), i.fileno(), sent, size - sent)
    os.chmod(dst, 0o600)
for line in sys.stdin:
    cmd = line.split()
    if cmd[0] == 'floor':  # this process's own high-water mark (VmHWM: since its exec, unlike ru_maxrss)
        with open('/proc/self/status') as f:
            print([l.split()[1] for l in f if l.startswith('VmHWM:')][0], flush=True)
        continue
    name, exe, master, target, envfile = cmd
    if master != '-':
        copy(master, target)  # a fresh copy every run, as VDSM writes one
    err = os.path.join(work, name + '.err')
    # exe: one program, or several run one after the other as VDSM runs a hook directory
    # (';' between programs, ',' between the words of one); stops at the first failure.
    cpu = rss = code = 0
    t0 = time.perf_counter_ns()
    for i, argv in enumerate(p.split(',') for p in exe.split(';')):
        actions = [(os.POSIX_SPAWN_OPEN, 0, '/dev/null', os.O_RDONLY, 0),
                   (os.POSIX_SPAWN_OPEN, 1, '/dev/null', os.O_WRONLY, 0),
                   (os.POSIX_SPAWN_OPEN, 2, err, os.O_WRONLY | os.O_CREAT | (os.O_APPEND if i else os.O_TRUNC), 0o600)]
        pid = os.posix_spawn(argv[0], argv, load_env(envfile), file_actions=actions)
        _, status, ru = os.wait4(pid, 0)
        cpu += int((ru.ru_utime + ru.ru_stime) * 1e6)
        rss = max(rss, ru.ru_maxrss)
        code = os.waitstatus_to_exitcode(status)
        if code != 0:
            break
    elapsed = time.perf_counter_ns() - t0
    print(elapsed, cpu, rss, code, os.path.getsize(err), flush=True)
"""


class Spawner:
    """The minimal spawner process (see SPAWNER); a context manager that ends it on exit."""

    def __init__(self, work):
        self.work = work
        self.proc = subprocess.Popen([sys.executable, "-I", "-S", "-c", SPAWNER, work],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def ask(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline().split()

    def close(self):
        if self.proc.stdin and not self.proc.stdin.closed:
            self.proc.stdin.close()
        self.proc.wait()


def prepare(w, env_base, work):
    """Writes the workload's master XML and environment (NUL-separated) for the spawner."""
    env = dict(env_base)
    env.update(w.properties)
    env.update(w.env)
    env["vmId"] = "6b1d9a2e-0c4f-4e7a-9b3d-2f8e1a6c5d40"
    w.master = "-"
    w.target = os.path.join(w.xml_dir or work, f"vdsm-hook-{w.name}.xml")
    if w.xml is not None:
        w.master = os.path.join(work, f"master-{w.name}.xml")
        with open(w.master, "wb") as f:
            f.write(w.xml)
        env["_hook_domxml"] = w.target
    w.envfile = os.path.join(work, f"env-{w.name}")
    with open(w.envfile, "wb") as f:
        f.write(b"\0".join(f"{k}={v}".encode() for k, v in env.items()))


def run_once(w, spawner):
    """One run of w through the spawner; exits (2) on a failed run or unexpected stderr.
    Returns (wall ns, cpu us, rss KiB)."""
    elapsed, cpu_us, rss, code, errlen = map(int, spawner.ask(f"{w.name} {w.exe} {w.master} {w.target} {w.envfile}"))
    w.stderr = ""
    if errlen:
        with open(os.path.join(spawner.work, f"{w.name}.err")) as f:
            w.stderr = f.read().strip()
    if code != 0 or (errlen and not w.allow_stderr):
        sys.exit(f"bench: {w.label} failed: exit {code}: {w.stderr}")
    return elapsed, cpu_us, rss


def fs_type(path):
    """The filesystem type holding path (longest mount point prefix in /proc/mounts)."""
    best, kind = "", "?"
    with open("/proc/mounts") as f:
        for line in f:
            _, mnt, typ = line.split()[:3]
            if (path == mnt or path.startswith(mnt.rstrip("/") + "/")) and len(mnt) > len(best):
                best, kind = mnt, typ
    return kind


def vdsm_hook_dir(binary, work):
    """A VDSM hook directory in work: before_vm_start/50_largeguest -> binary and 60_true -> /bin/true."""
    hooks = os.path.join(work, "hooks", "before_vm_start")
    os.makedirs(hooks)
    hook = os.path.join(hooks, "50_largeguest")
    os.symlink(binary, hook)
    true_hook = os.path.join(hooks, "60_true")
    os.symlink("/bin/true", true_hook)
    return hook, true_hook


def argument_parser(doc):
    """The command line every bench step shares: the binary, rounds and warm-up runs."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("binary", help="the published hook (out/largeguest)")
    ap.add_argument("--rounds", type=int, default=int(os.environ.get("BENCH_ROUNDS", "60")))
    ap.add_argument("--warmup", type=int, default=3)
    return ap


def hook_setup(binary, work, config_json="{}\n"):
    """The VDSM-style hook tree, a config file with <config_json> and the environment every run starts from."""
    hook, true_hook = vdsm_hook_dir(binary, work)
    config = os.path.join(work, "largeguest.json")
    with open(config, "w") as f:
        f.write(config_json)
    return hook, true_hook, base_env(config)


def base_env(config):
    """This process's environment without any property or LARGEGUEST setting of ours, plus LARGEGUEST_CONFIG."""
    env = {k: v for k, v in os.environ.items()
           if k not in PROPERTY_NAMES and not k.upper().startswith("LARGEGUEST") and k != "_hook_domxml"}
    env["LARGEGUEST_CONFIG"] = config
    return env


def run_interleaved(workloads, spawner, rounds, warmup, between=None):
    """warmup + rounds rounds, each running every workload once in a shuffled (seeded) order; records the
    rounds after the warm-up. between(w), when given, runs before each run of w (untimed)."""
    rng = random.Random(1)
    for r in range(warmup + rounds):
        order = workloads[:]
        rng.shuffle(order)
        for w in order:
            if between:
                between(w)
            t, cpu, rss = run_once(w, spawner)
            if r >= warmup:
                w.times.append(t)
                w.cpu.append(cpu)
                w.rss.append(rss)


def print_table(workloads, rounds, floor=None, width=48):
    """The table of medians (wall, p10, p90, cpu, peak RSS); returns {name: median wall ms}."""
    med = {w.name: statistics.median(w.times) / 1e6 for w in workloads}
    print()
    print(f"{'workload':<{width}} {'median ms':>10} {'p10 ms':>8} {'p90 ms':>8} {'cpu ms':>7} {'peak RSS MiB':>13}")
    for w in workloads:
        q = statistics.quantiles([t / 1e6 for t in w.times], n=10)
        cpu = statistics.median(w.cpu) / 1e3
        rss = f"{max(w.rss) / 1024:>13.1f}" if w.rss else f"{'-':>13}"
        print(f"{w.label:<{width}} {med[w.name]:>10.2f} {q[0]:>8.2f} {q[-1]:>8.2f} {cpu:>7.2f} {rss}")
    floor_text = f", floor {floor / 1024:.1f} MiB = the spawner's own" if floor is not None else ""
    print(f"(wall: posix_spawn to wait4, median of {rounds}; cpu: user+sys median; RSS: ru_maxrss{floor_text})")
    return med


def report_targets(checks, name="bench"):
    """Prints ok/MISS per (label, value, limit) and a verdict line; returns how many were missed."""
    print()
    missed = 0
    for label, value, limit in checks:
        ok = value <= limit
        missed += not ok
        unit = " MiB" if "RSS" in label else "x"
        print(f"{'ok  ' if ok else 'MISS'} {label:<42} {value:6.2f}{unit} (target {limit}{unit})")
    print()
    print(f"{name}: all targets met" if not missed else f"{name}: {missed} target(s) missed")
    return missed


def ksm_read(name):
    with open(os.path.join(KSM, name)) as f:
        return f.read().strip()


def ksm_write(name, value):
    fd = os.open(os.path.join(KSM, name), os.O_WRONLY)
    try:
        os.write(fd, str(value).encode())
    finally:
        os.close(fd)


def ksm_snapshot():
    """The settings a bench may change, and pages_shared (whether anything was shared when it started)."""
    return {n: ksm_read(n) for n in KSM_TOUCHED + ("pages_shared",)}


def set_merge_across_nodes(value):
    """merge_across_nodes can change only with nothing shared (else EBUSY). A running ksmd can merge between reading
    pages_shared = 0 and the write, so stop it first (run=0), unmerge (run=2) when pages are shared, write, and give
    run back its value, as the product's reconciler does (docs/ksm.md)."""
    if ksm_read("merge_across_nodes") == str(value):
        return
    run = ksm_read("run")
    ksm_write("run", 0)
    if int(ksm_read("pages_shared")):
        ksm_write("run", 2)
    ksm_write("merge_across_nodes", value)
    if ksm_read("run") != run:
        ksm_write("run", run)


def ksm_restore(saved):
    """Back to a snapshot: merge_across_nodes (unmerging what a bench left shared when nothing was), then the pace and
    run. Prints a warning naming what could not be restored."""
    if saved["pages_shared"] == "0" and int(ksm_read("pages_shared")):
        ksm_write("run", 2)  # stable pages a bench left behind: back to nothing shared, as found
    set_merge_across_nodes(saved["merge_across_nodes"])
    for name in ("pages_to_scan", "sleep_millisecs", "run"):
        if ksm_read(name) != saved[name]:
            ksm_write(name, saved[name])
    # pages_shared is the host's to change while ksmd runs (a busy host merges its guests meanwhile)
    names = KSM_TOUCHED + (("pages_shared",) if saved["run"] != "1" else ())
    left = {n: ksm_read(n) for n in names if ksm_read(n) != saved[n]}
    if left:
        print(f"bench: WARNING: could not restore KSM {left} (saved {saved})", file=sys.stderr)


@contextlib.contextmanager
def ksm_restored(saved):
    """Restores the snapshot saved on the way out, also on an error, Ctrl-C or SIGTERM (raised as KeyboardInterrupt);
    neither signal interrupts the restore itself. Yields saved."""
    previous_int = signal.getsignal(signal.SIGINT)
    previous_term = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        yield saved
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        try:
            ksm_restore(saved)
        finally:
            signal.signal(signal.SIGINT, previous_int)
            signal.signal(signal.SIGTERM, previous_term)


@contextlib.contextmanager
def ksm_settings_kept():
    """Holds the KSM lock while the host's KSM settings are changed, and restores them as found (ksm_restored)
    before letting it go. Yields the snapshot."""
    with open(KSM_LOCK, "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            with ksm_restored(ksm_snapshot()) as saved:
                yield saved
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _raise_interrupt(*_):
    raise KeyboardInterrupt()
