#!/usr/bin/env python3
"""480 ADDs by 16 concurrent callers (one /16 per round), journal on vs off,
rounds alternating the order; prints the median wall time of each.

    python3 bench/journal-concurrent.py PODLEASE ROUNDS DIR
"""
import json, statistics, subprocess, sys, time, threading, shutil, os
P = sys.argv[1]; R = int(sys.argv[2]); base = sys.argv[3]
def conf(v, r):
    return json.dumps({"cniVersion":"1.0.0","name":"bench","type":"bridge","ipam":{"type":"podlease","dataDir":f"{base}/{v}{r}","journal": v=="on","ranges":[[{"subnet":"10.10.0.0/16"}]]}}).encode()
def worker(v, r, t):
    c = conf(v, r)
    for i in range(30):
        e = dict(CNI_COMMAND="ADD", CNI_CONTAINERID=f"c{t}-{i}", CNI_IFNAME="eth0", CNI_NETNS="/x", CNI_PATH="/x")
        p = subprocess.run([P], input=c, env=e, stdout=subprocess.DEVNULL)
        assert p.returncode == 0
def round_(v, r):
    ths = [threading.Thread(target=worker, args=(v, r, t)) for t in range(16)]
    t0 = time.perf_counter()
    for t in ths: t.start()
    for t in ths: t.join()
    return (time.perf_counter() - t0) * 1000
res = {"on": [], "off": []}
for r in range(R):
    for v in (("on", "off") if r % 2 == 0 else ("off", "on")):
        res[v].append(round_(v, r))
for v in ("on", "off"):
    print(v, f"median {statistics.median(res[v]):.0f} ms", [f"{x:.0f}" for x in res[v]])
shutil.rmtree(base)
