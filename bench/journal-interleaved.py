#!/usr/bin/env python3
"""ADD and DEL with the address journal on and off, interleaved call by call.

One fresh process per call (like a runtime), the two configurations alternating
every call and the order flipping every cycle, so load from other programs hits
both alike; prints the median of each. Stricter under load than hyperfine runs
one after the other (bench/journal.sh).

    python3 bench/journal-interleaved.py [PODLEASE] [CYCLES] [DIR]
"""
import json, shutil, statistics, subprocess, sys, tempfile, time
P = sys.argv[1] if len(sys.argv) > 1 else "target/x86_64-unknown-linux-musl/release/podlease"
N = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
own = len(sys.argv) <= 3
base = tempfile.mkdtemp(dir="target") if own else sys.argv[3]
confs = {}
for v in ("on", "off"):
    c = {"cniVersion":"1.0.0","name":"bench","type":"bridge","ipam":{"type":"podlease","dataDir":f"{base}/{v}","journal": v=="on","ranges":[[{"subnet":"10.10.0.0/24"}]],"routes":[{"dst":"0.0.0.0/0"}]}}
    confs[v] = json.dumps(c).encode()
env = dict(CNI_CONTAINERID="c", CNI_IFNAME="eth0", CNI_NETNS="/x", CNI_PATH="/usr/lib/cni")
def call(cmd, v):
    e = dict(env, CNI_COMMAND=cmd)
    t = time.perf_counter_ns()
    p = subprocess.run([P], input=confs[v], env=e, stdout=subprocess.DEVNULL)
    d = time.perf_counter_ns() - t
    assert p.returncode == 0
    return d
res = {(c, v): [] for c in ("ADD", "DEL") for v in ("on", "off")}
for v in ("on","off"):
    for _ in range(20): call("ADD", v); call("DEL", v)
for i in range(N):
    order = ("on", "off") if i % 2 == 0 else ("off", "on")
    for v in order:
        res[("ADD", v)].append(call("ADD", v))
    for v in order:
        res[("DEL", v)].append(call("DEL", v))
print("| call | journal on, median µs | journal off, median µs | on − off µs | on / off |")
print("|---|---:|---:|---:|---:|")
for c in ("ADD", "DEL"):
    on = statistics.median(res[(c,"on")])/1000; off = statistics.median(res[(c,"off")])/1000
    print(f"| {c}, empty /24 | {on:.0f} | {off:.0f} | {on-off:+.0f} | {on/off:.3f} |")
if own:
    shutil.rmtree(base)
