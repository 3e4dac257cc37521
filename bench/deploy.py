#!/usr/bin/env python3
"""Rolling-deploy time: Ozymandias against its floor, in one run (issue 17).

Starts a private etcd and one `ozy agent` (its own podman service), and a
second private podman service for the reference (bench/benchlib.py). For
max_parallel K = 1, 2 and 5 it rolls a job of 10 instances from one version
to the next and compares the time with the floor for the same batches.
Target: within 1.2x of the floor.

Ozymandias. A fresh job per case and repetition: busybox httpd, memory 16M,
an HTTP health check on /health (interval 1s, timeout 1s) and
`update: {max_parallel: K, min_healthy_time: 2s, healthy_deadline: 2m,
progress_deadline: 5m}`, environment RELEASE=1. Once its 10 instances are
healthy, the same file with RELEASE=2 goes to POST /v1/jobs, which answers
`"change": "deploying"` (a new version: a new pod per instance). The time
runs from just before that POST until GET /v1/jobs/NAME/deployment says
`succeeded`, followed with the blocking read (?index=I&wait=30s), not a
poll, so the end is seen within a round trip. Per batch: from the previous
batch's end (or the POST) until the record's batchesDone first shows it
done; the last batch runs until `succeeded`, so the batches add up to the
rollout. Then DELETE /v1/jobs/NAME, and the next case waits until its pods
are gone.

The floor. The same batches by hand through podman's REST API, beside 10
running pods as on the node: for each batch, create and start K pods at
once (a thread each: pod, container, start, as the agent makes them) and
poll their HTTP health every 20 ms until every one answers; that time plus
min_healthy_time (2 s) is the batch's floor; then K of the old pods are
removed, untimed: by design the old instances' drain and stop run beside
the next batch, not before it, so the floor keeps them off its critical
path. The rollout's floor is the sum over the ceil(10/K) batches. It leaves out everything a scheduler adds: the commit,
placement, the node noticing its new assignment, reporting health through
etcd, the deployment step.

Health checks, on the same grain on both sides: the node probes a starting
container at once and every 25 ms for its first second, then at pauses
doubling to its interval, until the first success (agent/health_monitor.h);
after that every interval. So the 1s interval does not round a batch's
time to healthy up to a second, and the reference's 20 ms poll is the fair
match. min_healthy_time counts from the healthy verdict.

The agent runs with --deploy-interval 100ms (how often the deployments it
drives are looked at; a step also asks for a look at the moment the batch's
min_healthy_time ends), --resync 1s, --stop-grace 1, --memory 320M (20
instances of 16M: the job has up to 10 + K at once) and the default
--drain-delay (2s): a withdrawn old instance keeps its pod that long so
requests in flight finish, and as no host port is published the next batch
need not wait for it: the default should cost the rollout nothing, and the
per-batch overhead shows whether it does.

Prints the median over the repetitions of each case's rollout and floor,
their ratio against the target, then each batch's time over its floor.

--drain-delay D passes D to the agent instead (0: the old pods stop at once,
in the node's pass that starts the next batch).

The service ends on SIGTERM (a shell trapping it around httpd), as a
well-behaved one does; --sigterm-deaf runs busybox httpd as PID 1 instead,
which ignores SIGTERM, so every old pod's stop takes the agent's whole
--stop-grace (1 s), inside the node's pass that also makes the next batch's
pods: that case shows what a SIGTERM-deaf service costs a rollout.

Usage: bench/deploy.py BUILD/ozy [repetitions] [--drain-delay D] [--sigterm-deaf]   (as root; 1 repetition by default)
"""
import json, math, os, statistics, sys, time
from concurrent.futures import ThreadPoolExecutor

from benchlib import CMD, Bench, exit_on_sigterm, healthy, job_yaml, raw_ip, raw_remove, raw_start, wait

INSTANCES = 10
CASES = (1, 2, 5)
MIN_HEALTHY_S = 2.0
TARGET = 1.2


# The service as well-behaved ones are: it ends on SIGTERM (busybox httpd as
# PID 1 ignores it, so its stop takes the whole --stop-grace; --sigterm-deaf
# measures that case).
TERM_CMD = ["sh", "-c", "mkdir -p /www && echo ok > /www/health && httpd -f -p 8080 -h /www & "
            "trap 'kill $!; exit 0' TERM; wait"]
COMMAND = TERM_CMD


def update_section(k):
    return {"max_parallel": k, "min_healthy_time": "2s", "healthy_deadline": "2m", "progress_deadline": "5m"}


def raw_floor(sock, tag, k):
    """The floor of a rollout of INSTANCES in batches of k: per batch, seconds."""
    def start(name):
        raw_start(sock, name, memory=16 << 20, command=COMMAND)
        return raw_ip(sock, name)
    old = [f"rawbench-{tag}-old-{i}" for i in range(INSTANCES)]
    ips = [start(name) for name in old]
    wait(lambda: all(healthy(ip) for ip in ips), 120, "the raw old pods")
    batches, made = [], []
    with ThreadPoolExecutor(max_workers=k) as pool:
        for b in range(math.ceil(INSTANCES / k)):
            names = [f"rawbench-{tag}-new-{i}" for i in range(b * k, min((b + 1) * k, INSTANCES))]
            t0 = time.time()
            ips = list(pool.map(start, names))
            wait(lambda: all(healthy(ip) for ip in ips), 120, "a raw batch")
            batches.append(time.time() - t0 + MIN_HEALTHY_S)
            made += names
            for name in old[:len(names)]: raw_remove(sock, name)
            old = old[len(names):]
    for name in made: raw_remove(sock, name)
    return batches


class Failed(Exception):
    pass


def main():
    global COMMAND
    args, drain = sys.argv[1:], []
    if "--sigterm-deaf" in args:
        args.remove("--sigterm-deaf")
        COMMAND = CMD
    if "--drain-delay" in args:
        i = args.index("--drain-delay")
        if i + 1 == len(args): raise SystemExit(__doc__)
        drain = ["--drain-delay", args[i + 1]]; del args[i:i + 2]
    if not 1 <= len(args) <= 2: raise SystemExit(__doc__)
    exit_on_sigterm()
    ozy, reps = os.path.abspath(args[0]), int(args[1]) if len(args) > 1 else 1
    bench = Bench("ozy-bench-deploy-")
    load = [os.getloadavg()]
    try:
        bench.ensure_image()
        bench.start_etcd()
        bench.start_agent(ozy, memory="320M", flags=["--deploy-interval", "100ms", "--resync", "1s", *drain])
        bench.start_raw_podman()

        def deployment(name, index=None):
            path = f"/v1/jobs/{name}/deployment" + (f"?index={index}&wait=30s" if index else "")
            status, data = bench.ozy("GET", path, timeout=60)
            if status == 404: return None
            if status != 200: raise Failed(f"GET {path}: {status} {data[:300]!r}")
            return json.loads(data)

        def fail(what, record=None):
            raise Failed(f"{what}\ndeployment: {json.dumps(record)}\nthe agent's log, its last lines:\n"
                         + bench.agent_log_tail())

        def follow(name, version, t0, timeout):
            """Follows the deployment of `version` to its end: the times (since t0)
            at which each batch was first seen done, and the end's."""
            d = deployment(name)
            done, end = {}, time.time() + timeout
            while True:
                now = time.time() - t0
                if d is None or d["version"] != version:
                    fail(f"job {name}: no deployment of version {version} after the POST", d)
                for b in range(1, d["batchesDone"] + 1): done.setdefault(b, now)
                if d["state"] == "succeeded": return [done[b] for b in sorted(done)], now
                if d["state"] != "running":
                    fail(f"job {name}: the deployment of version {version} ended {d['state']}: {d['message']}", d)
                if time.time() > end: fail(f"job {name}: the deployment of version {version} ran over "
                                           f"{timeout} s", d)
                d = deployment(name, d["index"])

        def submit(name, k, release):
            status, data = bench.ozy("POST", "/v1/jobs", job_yaml(name, INSTANCES, memory="16M",
                                                                  environment={"RELEASE": str(release)},
                                                                  update=update_section(k), command=COMMAND))
            if status not in (200, 201): raise Failed(f"POST {name} RELEASE={release}: {status} {data[:300]!r}")
            return json.loads(data)

        def ozy_rollout(name, k):
            first = submit(name, k, 1)
            def all_healthy():
                status, data = bench.ozy("GET", "/v1/jobs/" + name)
                inst = json.loads(data)["instances"] if status == 200 else []
                return len(inst) == INSTANCES and all(i["state"] == "healthy" for i in inst)
            if first.get("deployment"):
                follow(name, first["version"], time.time(), 180)
            wait(all_healthy, 180, f"the first version of {name}")
            t0 = time.time()
            second = submit(name, k, 2)
            if second.get("change") != "deploying":
                fail(f"job {name}: RELEASE=2 answered change {second.get('change')!r}, not \"deploying\"",
                     second.get("deployment"))
            batches, total = follow(name, second["version"], t0, 300)
            if len(batches) != math.ceil(INSTANCES / k):
                fail(f"job {name}: {len(batches)} batches done, not {math.ceil(INSTANCES / k)}", deployment(name))
            bench.stop_job(name)
            # The batch lengths, the last up to `succeeded`.
            ends = batches[:-1] + [total]
            return [e - s for s, e in zip([0.0] + ends[:-1], ends)]

        results = {}
        for k in CASES:
            ours, floors = [], []
            for rep in range(reps):
                floors.append(raw_floor(bench.raw_sock, f"k{k}-{rep}", k))
                ours.append(ozy_rollout(f"deploy-k{k}-r{rep}", k))
                print(f"  max_parallel {k}, repetition {rep + 1}: ozymandias {sum(ours[-1]):.3f} s, "
                      f"floor {sum(floors[-1]):.3f} s", flush=True)
            results[k] = (ours, floors)
        load.append(os.getloadavg())

        print(f"\nrolling deploy of {INSTANCES} instances, min_healthy_time {MIN_HEALTHY_S:g}s, "
              f"--drain-delay {drain[1] if drain else '2s (the default)'}, median of {reps} (seconds)")
        print(f"{'case':>16} {'batches':>8} {'ozymandias':>11} {'floor':>8} {'ratio':>6} {'target':>7}")
        for k, (ours, floors) in results.items():
            o = statistics.median(sum(x) for x in ours)
            f = statistics.median(sum(x) for x in floors)
            print(f"{'max_parallel ' + str(k):>16} {len(ours[0]):>8} {o:11.3f} {f:8.3f} {o / f:6.3f} "
                  f"{TARGET:7.1f}{'' if o / f <= TARGET else '  (over)'}")
        print("\nozymandias minus the floor, per batch (median, seconds; the last batch runs to `succeeded`),\n"
              "and the floor's batch without min_healthy_time: raw podman's start to healthy")
        for k, (ours, floors) in results.items():
            over = [statistics.median(o[b] - f[b] for o, f in zip(ours, floors)) for b in range(len(ours[0]))]
            raw = statistics.median(x - MIN_HEALTHY_S for f in floors for x in f)
            print(f"{'max_parallel ' + str(k):>16}  " + " ".join(f"{x:+.3f}" for x in over) + f"   (raw {raw:.3f})")
        print("\nload average (1, 5, 15 min) at the start: {:.2f} {:.2f} {:.2f}, at the end: {:.2f} {:.2f} {:.2f}"
              .format(*load[0], *load[1]))
    except Failed as e:
        raise SystemExit(f"deploy bench failed: {e}")
    finally:
        bench.close()


if __name__ == "__main__":
    main()
