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
import http.client, json, os, signal, socket, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONF = os.path.join(ROOT, "config", "containers.conf")
IMAGE = "localhost/ozy-bench-busybox:1"
CMD = ["sh", "-c", "mkdir -p /www && echo ok > /www/health && exec httpd -f -p 8080 -h /www"]
ENV = dict(os.environ, CONTAINERS_CONF=CONF)


def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p


def wait(pred, timeout, what):
    end = time.time() + timeout
    while time.time() < end:
        if pred(): return
        time.sleep(0.02)
    raise SystemExit("timed out waiting for " + what)


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost"); self.path = path
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX); self.sock.connect(self.path)


def api(sock, method, path, body=None):
    c = UnixConnection(sock)
    c.request(method, "/v4.0.0/libpod" + path, json.dumps(body) if body is not None else None,
              {"Content-Type": "application/json"})
    r = c.getresponse(); data = r.read(); c.close()
    if r.status >= 300 and r.status != 304: raise RuntimeError(f"{method} {path}: {r.status} {data[:200]}")
    return json.loads(data) if data else None


def healthy(ip):
    try:
        c = http.client.HTTPConnection(ip, 8080, timeout=0.5); c.request("GET", "/health")
        ok = c.getresponse().status == 200; c.close(); return ok
    except OSError:
        return False


def raw_run(sock, tag, n, image=IMAGE, pull=False):
    t0 = time.time()
    if pull:
        api(sock, "POST", f"/images/pull?reference={image}&tlsVerify=false&quiet=true")
    ips = []
    for i in range(n):
        name = f"rawbench-{tag}-{i}"
        pod = api(sock, "POST", "/pods/create", {"name": name, "labels": {"rawbench": "1"},
                                                  "portmappings": [{"container_port": 8080, "host_ip": "127.0.0.1"}]})["Id"]
        api(sock, "POST", "/containers/create", {"name": name + "-web", "pod": pod, "image": image, "command": CMD,
                                                  "resource_limits": {"memory": {"limit": 32 << 20, "swap": 32 << 20}},
                                                  "stop_timeout": 1})  # as the agent's --stop-grace 1
        api(sock, "POST", f"/containers/{name}-web/start")
    for i in range(n):
        infra = api(sock, "GET", f"/pods/rawbench-{tag}-{i}/json")["InfraContainerID"]
        ips.append(api(sock, "GET", f"/containers/{infra}/json")["NetworkSettings"]["IPAddress"])
    wait(lambda: all(healthy(ip) for ip in ips), 120, "raw pods")
    elapsed = time.time() - t0
    for i in range(n):
        api(sock, "DELETE", f"/pods/rawbench-{tag}-{i}?force=true")
    return elapsed


def main():
    if len(sys.argv) < 2: raise SystemExit(__doc__)
    # Interrupted, it still cleans up (the finally below).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    ozy, reps = os.path.abspath(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 5
    only_pull = len(sys.argv) > 3 and sys.argv[3] == "--pull-only"
    work = tempfile.mkdtemp(prefix="ozy-bench-")
    procs = []
    try:
        # The image the tests use (no registry here).
        if subprocess.run(["podman", "image", "exists", IMAGE], env=ENV).returncode != 0:
            r = os.path.join(work, "root"); os.makedirs(r + "/bin")
            subprocess.run(["cp", "/usr/bin/busybox", r + "/bin/busybox"], check=True)
            for l in ["sh", "httpd", "mkdir", "echo", "sleep"]: os.symlink("busybox", f"{r}/bin/{l}")
            subprocess.run(f"tar -C {r} -c . | podman import - {IMAGE} >/dev/null", shell=True, env=ENV, check=True)
        registry = None
        if os.path.exists("/usr/bin/docker-registry"):
            registry = f"127.0.0.1:{free_port()}"
            with open(work + "/registry.yml", "w") as f:
                f.write(f"version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
                        f"    rootdirectory: {work}/registry\nhttp:\n  addr: {registry}\n")
            procs.append(subprocess.Popen(["/usr/bin/docker-registry", "serve", work + "/registry.yml"],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            wait(lambda: subprocess.run(["curl", "-sf", f"http://{registry}/v2/"],
                                        stdout=subprocess.DEVNULL).returncode == 0, 20, "the registry")
        cp, pp = free_port(), free_port()
        url = f"http://127.0.0.1:{cp}"
        procs.append(subprocess.Popen(["etcd", "--data-dir", work + "/etcd", "--listen-client-urls", url,
                                       "--advertise-client-urls", url, "--listen-peer-urls", f"http://127.0.0.1:{pp}",
                                       "--initial-advertise-peer-urls", f"http://127.0.0.1:{pp}",
                                       "--initial-cluster", f"default=http://127.0.0.1:{pp}"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        node = f"bench{os.getpid()}"
        os.makedirs(work + "/agent", mode=0o700)
        out = open(work + "/agent/out", "w")
        procs.append(subprocess.Popen([ozy, "agent", "--node", node, "--etcd", url, "--memory", "8G", "--disk", "50G",
                                       "--listen", "127.0.0.1:0", "--data-dir", work + "/agent",
                                       "--containers-conf", CONF, "--stop-grace", "1", "--pod-network", "host"]
                                      + (["--insecure-registry", registry] if registry else []),
                                      stdout=out, stderr=open(work + "/agent/log", "w")))
        wait(lambda: "listening on" in open(work + "/agent/out").read(), 30, "the agent")
        api_url = open(work + "/agent/out").read().split("listening on ")[1].split()[0]
        raw_sock = work + "/raw.sock"
        procs.append(subprocess.Popen(["podman", "system", "service", "--time=0", "unix://" + raw_sock], env=ENV,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait(lambda: os.path.exists(raw_sock), 20, "the raw podman service")
        time.sleep(0.5)

        host, port = api_url.split("//")[1].split(":")

        token = open(work + "/agent/token").read().strip()  # made by the agent

        def ozy_api(method, path, body=None):
            c = http.client.HTTPConnection(host, int(port), timeout=30)
            headers = {"Authorization": "Bearer " + token}
            if body is not None:
                headers["Content-Type"] = "application/yaml"
            c.request(method, path, body, headers)
            r = c.getresponse(); data = r.read(); c.close()
            return r.status, data

        def ozy_run(tag, n, image=IMAGE):
            # Through the API, polled every 20 ms like the reference: no CLI
            # process start-up in either measurement.
            name = f"bench-{tag}"
            job = (f"name: {name}\nnumInstances: {n}\ncontainers:\n  web:\n    image: {image}\n"
                   f"    command: {json.dumps(CMD)}\n    memory: 32M\n    ports: [\"8080\"]\n"
                   "    healthcheck: {type: http, port: 8080, path: /health, interval: 1s, timeout: 1s}\n")
            t0 = time.time()
            status, data = ozy_api("POST", "/v1/jobs", job)
            if status != 201: raise SystemExit(data)
            def all_healthy():
                status, data = ozy_api("GET", "/v1/jobs/" + name)
                inst = json.loads(data)["instances"] if status == 200 else []
                return len(inst) == n and all(i["state"] == "healthy" for i in inst)
            wait(all_healthy, 180, name)
            elapsed = time.time() - t0
            ozy_api("DELETE", "/v1/jobs/" + name)
            wait(lambda: subprocess.run(["podman", "pod", "ps", "-q", "--filter", f"label=ozy.job={name}"],
                                        env=ENV, capture_output=True, text=True).stdout.strip() == "", 120, "cleanup")
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
                r = os.path.join(work, "pull-root"); subprocess.run(["rm", "-rf", r]); os.makedirs(r + "/bin")
                subprocess.run(["cp", "/usr/bin/busybox", r + "/bin/busybox"], check=True)
                for l in ["sh", "httpd", "mkdir", "echo", "sleep"]: os.symlink("busybox", f"{r}/bin/{l}")
                with open(r + "/payload", "wb") as f: f.write(os.urandom(50 << 20))
                local, remote = f"localhost/ozy-bench-pull:{tag}", f"{registry}/ozy-bench-pull:{tag}"
                subprocess.run(f"tar -C {r} -c . | podman import - {local} >/dev/null 2>&1", shell=True, env=ENV, check=True)
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
        for p in reversed(procs):
            p.terminate()
            try: p.wait(20)
            except subprocess.TimeoutExpired: p.kill()
        subprocess.run("podman pod rm -f $(podman pod ps -q --filter label=rawbench=1) 2>/dev/null", shell=True, env=ENV)
        subprocess.run("podman rmi -f $(podman images -q --filter reference='*ozy-bench-pull*') 2>/dev/null",
                       shell=True, env=ENV, stdout=subprocess.DEVNULL)
        subprocess.run(["rm", "-rf", work])


if __name__ == "__main__":
    main()
