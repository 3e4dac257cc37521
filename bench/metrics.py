#!/usr/bin/env python3
"""What the metrics cost, and the agent's memory at rest (issue 18).

Starts a private etcd and one `ozy agent` with its own podman service
(bench/benchlib.py) and runs a job of 100 instances: busybox httpd, 16M
each, an HTTP health check every 10 s. Once every instance is healthy and
the agent has settled (10 s), it measures, in one run:

CPU. The agent's user + system CPU time (/proc/PID/stat) over windows of
20 s, alternating: at rest with nobody scraping (the reference), and at
rest with GET /metrics scraped every second (as a Prometheus with a 1 s
interval would, with the token). Three windows of each; the medians give
the agent's CPU per second of wall time both ways, their ratio, and the
CPU one scrape costs. The scraper's own CPU is not the agent's and is not
counted. Only the agent's process: podman's service and the conmon
processes are reported apart.

Memory. The agent's resident memory (VmRSS) at rest with the 100
instances, target under 30 MB, beside what its podman service (the
agent's child `podman system service`) holds, and the conmon processes
together.

Usage: bench/metrics.py BUILD/ozy [instances]   (as root, about 4 min)
"""
import json, os, statistics, subprocess, sys, threading, time

from benchlib import IMAGE, Bench, exit_on_sigterm, wait

INSTANCES = int(sys.argv[2]) if len(sys.argv) > 2 else 100
WINDOW_S = 30
WINDOWS = 3
TARGET_RSS_MB = 30
CMD = ["sh", "-c", "mkdir -p /www && echo ok > /www/health && httpd -f -p 8080 -h /www & "
       "trap 'kill $!; exit 0' TERM; wait"]


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def rss_bytes(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"): return int(line.split()[1]) * 1024
    return 0


def children(pid):
    out = subprocess.run(["ps", "-o", "pid=,comm=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [(int(p), c) for p, c in (line.split(None, 1) for line in out.splitlines())]


def conmon_rss(node):
    """The conmon processes of this node's containers (their names carry it), and their memory."""
    out = subprocess.run(["ps", "-C", "conmon", "-o", "rss=,args="], capture_output=True, text=True).stdout
    mine = [int(line.split()[0]) for line in out.splitlines() if f".{node}" in line]
    return sum(mine) * 1024, len(mine)


def job(name, n):
    return (f"name: {name}\nnumInstances: {n}\ncontainers:\n  web:\n    image: {IMAGE}\n"
            f"    command: {json.dumps(CMD)}\n"
            "    memory: 16M\n    ports: [\"8080\"]\n"
            "    healthcheck: {type: http, port: 8080, path: /health, interval: 10s, timeout: 1s}\n")


def main():
    exit_on_sigterm()
    if len(sys.argv) < 2: raise SystemExit(__doc__)
    ozy = sys.argv[1]
    b = Bench("ozy-bench-metrics-")
    try:
        b.ensure_image()
        b.start_etcd()
        b.start_agent(ozy, memory=f"{INSTANCES * 16 + 256}M")
        agent = b.procs[-1].pid
        status, body = b.ozy("POST", "/v1/jobs", job("rest", INSTANCES), timeout=60)
        if status not in (200, 201): raise SystemExit(f"submit: {status} {body[:300]}")

        def healthy_count():
            s, data = b.ozy("GET", "/v1/jobs/rest")
            if s != 200: return 0
            return sum(1 for i in json.loads(data).get("instances", []) if i.get("state") == "healthy")
        started = time.time()
        wait(lambda: healthy_count() == INSTANCES, 600, f"{INSTANCES} healthy instances", every=1)
        print(f"{INSTANCES} instances healthy after {time.time() - started:.0f} s; settling 10 s", flush=True)
        time.sleep(10)

        scrapes = []
        def scrape_every_second(stop):
            while not stop.is_set():
                t = time.time()
                s, data = b.ozy("GET", "/metrics")
                if s != 200: raise SystemExit(f"/metrics: {s}")
                scrapes.append((time.time() - t, len(data)))
                stop.wait(max(0, 1 - (time.time() - t)))

        rest, scraped = [], []
        for _ in range(WINDOWS):
            for kind in ("rest", "scraped"):
                stop = threading.Event()
                scraper = threading.Thread(target=scrape_every_second, args=(stop,)) if kind == "scraped" else None
                n0 = len(scrapes)
                if scraper: scraper.start()
                c0, t0 = cpu_seconds(agent), time.time()
                time.sleep(WINDOW_S)
                c1, t1 = cpu_seconds(agent), time.time()
                if scraper: stop.set(); scraper.join()
                per_s = (c1 - c0) / (t1 - t0)
                (rest if kind == "rest" else scraped).append((per_s, len(scrapes) - n0))
                print(f"  {kind:8} {per_s * 1000:6.2f} ms CPU per s", flush=True)

        # The cost of one scrape, apart from the noise of the agent's own
        # work: many scrapes back to back, the agent's CPU over them.
        burst = 300
        c0 = cpu_seconds(agent)
        for _ in range(burst):
            s_, _data = b.ozy("GET", "/metrics")
        burst_ms = (cpu_seconds(agent) - c0) * 1000 / burst

        r = statistics.median(x for x, _ in rest)
        s = statistics.median(x for x, _ in scraped)
        per_scrape_ms = (s - r) * 1000  # one scrape a second
        print(f"\nagent CPU at rest, {INSTANCES} instances (median of {WINDOWS} windows of {WINDOW_S} s):")
        print(f"  not scraped            {r * 1000:6.2f} ms per s ({r * 100:.2f}% of a core)")
        print(f"  scraped every second   {s * 1000:6.2f} ms per s ({s * 100:.2f}% of a core)")
        print(f"  ratio                  {s / r if r else float('nan'):6.2f}")
        print(f"  one scrape, from those {per_scrape_ms:6.2f} ms CPU")
        print(f"  one scrape, {burst} back to back {burst_ms:6.3f} ms CPU each, answer {statistics.median(n for _, n in scrapes) / 1024:.1f} KiB, "
              f"{statistics.median(t for t, _ in scrapes) * 1000:.1f} ms to answer (median of {len(scrapes)})")

        agent_rss = rss_bytes(agent)
        threads = len(os.listdir(f"/proc/{agent}/task"))
        rollup = {l.split(":")[0]: int(l.split()[1]) * 1024 for l in open(f"/proc/{agent}/smaps_rollup") if l.split()[0] in ("Anonymous:", "Pss_File:")}
        service = [p for p, c in children(agent) if c.strip() == "podman"]
        service_rss = sum(rss_bytes(p) for p in service)
        conmon, conmons = conmon_rss(b.node)
        print(f"\nresident memory at rest, {INSTANCES} instances:")
        print(f"  the agent              {agent_rss / 2**20:6.1f} MiB (target under {TARGET_RSS_MB} MB: "
              f"{'met' if agent_rss < TARGET_RSS_MB * 1e6 else 'NOT met'}), {threads} threads")
        print(f"    of which anonymous   {rollup.get('Anonymous', 0) / 2**20:6.1f} MiB; code and data of the binary and its libraries {rollup.get('Pss_File', 0) / 2**20:.1f} MiB")
        print(f"  its podman service     {service_rss / 2**20:6.1f} MiB")
        print(f"  conmon, {conmons:3} processes {conmon / 2**20:6.1f} MiB")
        b.stop_job("rest", timeout=300)
    except SystemExit:
        print(b.agent_log_tail(), file=sys.stderr)
        raise
    finally:
        b.close()


if __name__ == "__main__":
    main()
