#!/usr/bin/env python3
"""make bench, KSM tuning service: the daemon's CPU per cycle and its resident memory at steady state.

Targets: under 1% of one core at a 60 s interval, under 30 MiB RSS.

Runs the published binary as `largeguest ksm tune --daemon` against the real /sys/kernel/mm/ksm (root), with a
private state dir, forces cycles with SIGHUP (what `largeguest ksm retune` sends) and waits for each to be recorded,
scrapes the metrics endpoint, and reads the daemon's own utime+stime and VmRSS from /proc. CPU is measured as CPU
time, not wall time, so a busy machine does not distort it. KSM settings are saved and restored, and the KSM test lock
(/run/largeguest-ksm-tests.lock) is held so no test of another worktree changes KSM meanwhile, by the one save/restore
every bench step shares (bench/common.py, ksm_settings_kept).
"""
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402  the KSM save/restore every bench step shares

KSM = common.KSM
TARGET_CPU_PERCENT = 1.0
TARGET_RSS_MIB = 30.0
INTERVAL_S = 60
SCRAPE_EVERY_S = 15  # Prometheus's default scrape interval
CYCLES = 300
SCRAPES = 100
IDLE_S = 20
HZ = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / HZ


def status_kib(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {key} in /proc/{pid}/status")


def cycles(state_dir):
    try:
        with open(os.path.join(state_dir, "ksmtune.json")) as f:
            return json.load(f)["cycles"]
    except (FileNotFoundError, json.JSONDecodeError, KeyError):
        return 0


def wait_for(predicate, what, timeout=20):
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise RuntimeError(f"{what} did not happen within {timeout} s")
        time.sleep(0.002)


def main():
    binary = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "out/largeguest")
    if os.geteuid() != 0:
        sys.exit("ksmtune bench: needs root (it drives the real /sys/kernel/mm/ksm)")
    if not os.path.exists(os.path.join(KSM, "run")):
        sys.exit(f"ksmtune bench: {KSM} missing: this kernel has no KSM")

    try:
        with common.ksm_settings_kept(), tempfile.TemporaryDirectory(prefix="ksmtune-bench-") as work:
            return measure(binary, work)
    except KeyboardInterrupt:
        print("ksmtune bench: interrupted; KSM settings restored", file=sys.stderr)
        return 130


def measure(binary, work):
    state_dir = os.path.join(work, "state")
    config = os.path.join(work, "largeguest.json")
    with open(config, "w") as f:
        f.write("{}")
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LARGEGUEST_CONFIG": config,
           "LARGEGUEST__Ksm__StateDir": state_dir, "LARGEGUEST__KsmTune__KsmtunedConf": ""}
    # thresCoef 0: each cycle decides "stop ksmd", so ksmd itself stays idle and only the daemon is measured.
    argv = [binary, "ksm", "tune", "--daemon", "--listen", "127.0.0.1:0", "--interval", "3600",
            "--mode", "high", "--thres-coef", "0"]
    with subprocess.Popen(argv, env=env, stderr=subprocess.PIPE, text=True) as daemon:
        try:
            endpoint = None
            while endpoint is None:
                line = daemon.stderr.readline()
                if not line:
                    raise RuntimeError("the daemon ended before serving metrics")
                m = re.search(r"metrics at (http://\S+/metrics)", line)
                endpoint = m.group(1) if m else None
            pid = daemon.pid
            wait_for(lambda: cycles(state_dir) >= 1, "the first cycle")

            def cycle_once():
                before = cycles(state_dir)
                os.kill(pid, signal.SIGHUP)
                wait_for(lambda: cycles(state_dir) > before, "a SIGHUP cycle")

            def scrape():
                with urllib.request.urlopen(endpoint, timeout=10) as r:
                    body = r.read()
                if b"largeguest_ksmtune_phase" not in body:
                    raise RuntimeError(f"the metrics endpoint's answer lacks largeguest_ksmtune_phase: {body[:200]!r}")
                return len(body)

            for _ in range(20):  # warm-up: first-time code paths, GC heap sizing
                cycle_once()
                scrape()

            c0, n0, t0 = cpu_seconds(pid), cycles(state_dir), time.monotonic()
            for _ in range(CYCLES):
                cycle_once()
            c1, n1, t1 = cpu_seconds(pid), cycles(state_dir), time.monotonic()
            per_cycle = (c1 - c0) / (n1 - n0)

            size = 0
            s0 = cpu_seconds(pid)
            for _ in range(SCRAPES):
                size = scrape()
            per_scrape = (cpu_seconds(pid) - s0) / SCRAPES

            i0 = cpu_seconds(pid)
            time.sleep(IDLE_S)
            idle_rate = (cpu_seconds(pid) - i0) / IDLE_S

            rss_mib = status_kib(pid, "VmRSS") / 1024
            hwm_mib = status_kib(pid, "VmHWM") / 1024
            threads = status_kib(pid, "Threads")

            at_interval = (per_cycle / INTERVAL_S + idle_rate) * 100
            with_scrapes = at_interval + per_scrape / SCRAPE_EVERY_S * 100
            print("ksmtune bench (largeguest ksm tune --daemon, real KSM sysfs, CPU time from /proc/PID/stat)")
            wall_ms = 1000 * (t1 - t0) / (n1 - n0)
            print(f"  cycles measured          {n1 - n0} (SIGHUP-forced, {wall_ms:.2f} ms wall each)")
            print(f"  CPU per cycle            {per_cycle * 1000:.3f} ms")
            print(f"  CPU per scrape           {per_scrape * 1000:.3f} ms ({size} bytes of exposition)")
            print(f"  CPU while idle           {idle_rate * 100:.4f} % of one core")
            print(f"  at a {INTERVAL_S} s interval        {at_interval:.4f} % of one core "
                  f"(target < {TARGET_CPU_PERCENT} %: {TARGET_CPU_PERCENT / max(at_interval, 1e-9):.0f}x under)")
            print(f"  ... plus a scrape / {SCRAPE_EVERY_S} s  {with_scrapes:.4f} % of one core")
            print(f"  resident memory          {rss_mib:.1f} MiB steady, {hwm_mib:.1f} MiB peak, {threads} threads "
                  f"(target < {TARGET_RSS_MIB:.0f} MiB: {TARGET_RSS_MIB / rss_mib:.1f}x under)")
            failed = []
            if with_scrapes >= TARGET_CPU_PERCENT:
                failed.append(f"CPU {with_scrapes:.3f} % >= {TARGET_CPU_PERCENT} %")
            if rss_mib >= TARGET_RSS_MIB:
                failed.append(f"RSS {rss_mib:.1f} MiB >= {TARGET_RSS_MIB} MiB")
            print("  ksmtune bench: " + ("FAILED: " + "; ".join(failed) if failed else "targets met"))
            return 1 if failed else 0
        finally:
            if daemon.poll() is None:
                daemon.send_signal(signal.SIGTERM)
                try:
                    daemon.wait(15)
                except subprocess.TimeoutExpired:
                    daemon.kill()


if __name__ == "__main__":
    sys.exit(main())
