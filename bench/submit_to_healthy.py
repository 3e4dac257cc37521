#!/usr/bin/env python3
"""Submit-to-healthy latency: Ozymandias against raw podman, in one run.

Starts a private etcd and one `ozy agent` (with its own podman service), then
for a 1-instance and a 20-instance job measures the time from submitting the
job (POST /v1/jobs) until the API reports every instance healthy (polled
every 20 ms). The reference does the
same pods by hand through podman's REST API on a second private podman
service: create the pod, create the container, start it, and poll the same
HTTP health endpoint every 20 ms. Prints both medians and the ratio.

Then the same for a 1-instance job whose image the node lacks: a private
registry (Debian's docker-registry) serves a fresh image for every run (the
busybox root and 50 MB of random bytes, so the pull is real work), which the
agent pulls before it makes the pod; the reference pulls it through podman's
API (POST /images/pull) and then starts the pod by hand.

Usage: bench/submit_to_healthy.py BUILD/ozy [repetitions [--pull-only]]   (as root)
"""
import json, os, statistics, subprocess, sys, time

from benchlib import (ENV, IMAGE, Bench, busybox_root, exit_on_sigterm, free_port, healthy, import_image, job_yaml,
                      podman, raw_ip, raw_remove, raw_start, wait)


def raw_run(sock, tag, n, image=IMAGE, pull=False):
    t0 = time.time()
    if pull:
        podman(sock, "POST", f"/images/pull?reference={image}&tlsVerify=false&quiet=true")
    names = [f"rawbench-{tag}-{i}" for i in range(n)]
    for name in names:
        raw_start(sock, name, image)
    ips = [raw_ip(sock, name) for name in names]
    wait(lambda: all(healthy(ip) for ip in ips), 120, "raw pods")
    elapsed = time.time() - t0
    for name in names:
        raw_remove(sock, name)
    return elapsed


def main():
    if len(sys.argv) < 2: raise SystemExit(__doc__)
    exit_on_sigterm()
    ozy, reps = os.path.abspath(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 5
    only_pull = len(sys.argv) > 3 and sys.argv[3] == "--pull-only"
    bench = Bench()
    work = bench.work
    try:
        bench.ensure_image()
        registry = None
        if os.path.exists("/usr/bin/docker-registry"):
            registry = f"127.0.0.1:{free_port()}"
            with open(work + "/registry.yml", "w") as f:
                f.write(f"version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
                        f"    rootdirectory: {work}/registry\nhttp:\n  addr: {registry}\n")
            bench.spawn(["/usr/bin/docker-registry", "serve", work + "/registry.yml"])
            wait(lambda: subprocess.run(["curl", "-sf", f"http://{registry}/v2/"],
                                        stdout=subprocess.DEVNULL).returncode == 0, 20, "the registry")
        bench.start_etcd()
        bench.start_agent(ozy, flags=["--insecure-registry", registry] if registry else [])
        bench.start_raw_podman()
        raw_sock = bench.raw_sock

        def ozy_run(tag, n, image=IMAGE):
            # Through the API, polled every 20 ms like the reference: no CLI
            # process start-up in either measurement.
            name = f"bench-{tag}"
            t0 = time.time()
            status, data = bench.ozy("POST", "/v1/jobs", job_yaml(name, n, image))
            if status != 201: raise SystemExit(data)
            def all_healthy():
                status, data = bench.ozy("GET", "/v1/jobs/" + name)
                inst = json.loads(data)["instances"] if status == 200 else []
                return len(inst) == n and all(i["state"] == "healthy" for i in inst)
            wait(all_healthy, 180, name)
            elapsed = time.time() - t0
            bench.stop_job(name)
            return elapsed

        print(f"submit-to-healthy, median of {reps} (seconds)")
        print(f"{'job':>14} {'ozymandias':>11} {'raw podman':>11} {'ratio':>6}")
        for n in () if only_pull else (1, 20):
            ours, raw = [], []
            for rep in range(reps):
                raw.append(raw_run(raw_sock, f"{n}-{rep}", n))
                ours.append(ozy_run(f"{n}-{rep}", n))
            o, r = statistics.median(ours), statistics.median(raw)
            print(f"{str(n) + ' instance(s)':>14} {o:11.3f} {r:11.3f} {o / r:6.2f}", flush=True)

        if registry:
            def fresh_image(tag):
                # Unlike every other: its layers are on no node yet.
                r = os.path.join(work, "pull-root"); busybox_root(r)
                with open(r + "/payload", "wb") as f: f.write(os.urandom(50 << 20))
                local, remote = f"localhost/ozy-bench-pull:{tag}", f"{registry}/ozy-bench-pull:{tag}"
                import_image(r, local)
                subprocess.run(["podman", "push", "-q", "--tls-verify=false", local, remote], env=ENV, check=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                subprocess.run(["podman", "rmi", "-f", local], env=ENV, check=True, stdout=subprocess.DEVNULL)
                return remote
            ours, raw = [], []
            for rep in range(reps):
                image = fresh_image(f"raw{rep}")
                raw.append(raw_run(raw_sock, f"pull-{rep}", 1, image, pull=True))
                subprocess.run(["podman", "rmi", "-f", image], env=ENV, stdout=subprocess.DEVNULL)
                image = fresh_image(f"ozy{rep}")
                ours.append(ozy_run(f"pull-{rep}", 1, image))
                subprocess.run(["podman", "rmi", "-f", image], env=ENV, stdout=subprocess.DEVNULL)
            o, r = statistics.median(ours), statistics.median(raw)
            print(f"{'1, pulled':>14} {o:11.3f} {r:11.3f} {o / r:6.2f}   (a 52 MB image from a registry on loopback)",
                  flush=True)
        else:
            print("no /usr/bin/docker-registry: the pull comparison is skipped (scripts/setup.sh installs it)")
    finally:
        bench.close()
        subprocess.run("podman rmi -f $(podman images -q --filter reference='*ozy-bench-pull*') 2>/dev/null",
                       shell=True, env=ENV, stdout=subprocess.DEVNULL)


if __name__ == "__main__":
    main()
