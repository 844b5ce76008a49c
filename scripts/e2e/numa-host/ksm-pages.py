#!/usr/bin/python3
"""Identical pages on given NUMA nodes, for ksmd (docs/e2e.md, "The NUMA test host").

Usage: ksm-pages.py MIB NODE [NODE...]
For each NODE: MIB of anonymous memory bound to that node with mbind(MPOL_BIND) before the first touch, filled
with the same byte on every page (the same on every node) and marked MADV_MERGEABLE. Prints "ready" and
sleeps until killed; where the pages went is for the caller to read from /proc/PID/numa_maps.
"""
import ctypes, mmap, os, sys, time

SYS_MBIND, MPOL_BIND, MPOL_MF_STRICT = 237, 2, 1  # x86_64
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long

mib, nodes = int(sys.argv[1]), [int(n) for n in sys.argv[2:]]
keep = []
for node in nodes:
    size = mib << 20
    m = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    address = ctypes.addressof(ctypes.c_char.from_buffer(m))
    mask = ctypes.c_ulong(1 << node)
    if libc.syscall(SYS_MBIND, ctypes.c_void_p(address), ctypes.c_ulong(size), MPOL_BIND,
                    ctypes.byref(mask), ctypes.c_ulong(64), MPOL_MF_STRICT) != 0:
        sys.exit(f"ksm-pages: mbind to node {node} failed: {os.strerror(ctypes.get_errno())}")
    m.write(b"\x5a" * size)
    m.madvise(mmap.MADV_MERGEABLE)
    keep.append(m)
print("ready", flush=True)
while True:
    time.sleep(3600)
