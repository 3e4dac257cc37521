#!/usr/bin/env python3
"""Pod to pod across two hosts: Ozymandias' pod network against the floor, in one run.

Makes a test bed of two hosts (scripts/testbed.sh: network namespaces on a
bridge, each with its own podman), a private etcd on the bridge address and an
`ozy agent --pod-network auto` in each host, as tests/testbed/pod_network_test.cpp
does. A job of two instances that publish the same host port (so one lands on
each host) runs a container that only sleeps; its pods' network namespaces are
where the measured programs run.

The same server and client programs then run over two paths, alternating
repetitions:

  ozymandias  client in host 1's pod netns -> host 2's pod address: veth, pod
              bridge, route, test-bed bridge, route, pod bridge, veth
  floor       client in host 1's own netns -> host 2's address: veth, test-bed
              bridge, veth (no podman; the hosts' iptables rules are the same)

Figures (medians): HTTP/1.1 keep-alive requests/s (ab -k against a small
python3 server, over 1 and over 8 connections) and TCP throughput (a python3
sender streaming 1 GiB in 256 KiB writes to a receiver that discards). The
ratio is ozymandias / floor (of the medians; "paired" is the median of each
repetition's own ratio); the target is >= 0.90. docs/network.md says what the
figures mean and why the pod path costs what it does on this test bed.

Usage: bench/pod_network.py BUILD/ozy [repetitions]   (as root; default 5)
When other podman tests run on the machine: flock /tmp/ozy-podman-tests.lock bench/pod_network.py ...
"""
import http.client, json, os, signal, socket, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TESTBED = os.path.join(ROOT, "scripts", "testbed.sh")
CONF = os.path.join(ROOT, "config", "containers.conf")
IMAGE = "localhost/ozy-test-busybox:2"  # the tests' image (tests/support/test_image.cpp)
ENV = dict(os.environ, CONTAINERS_CONF=CONF)
JOB = "netbench"
HTTP_PORT, SINK_PORT = 18080, 15201  # the measured servers' ports, in whichever netns they run
STREAM_BYTES = 1 << 30
TOKEN = "pod-network-bench-token"

# Both servers in one process: an HTTP/1.1 keep-alive responder on one port
# (one thread, a selector: python's overhead per request stays small, so the
# path's cost shows) and a TCP sink on the other that discards what it reads
# and answers, once the sender has shut its side, with "bytes seconds peer".
SERVER = r'''
import selectors, socket, sys, threading, time
http_port, sink_port = int(sys.argv[1]), int(sys.argv[2])
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok"

def sink(listener):
    buf = bytearray(1 << 18)
    while True:
        conn, peer = listener.accept()
        total, first = 0, None
        while True:
            n = conn.recv_into(buf)
            if not n:
                break
            if first is None:
                first = time.perf_counter()
            total += n
        elapsed = time.perf_counter() - first if first else 0.0
        conn.sendall(f"{total} {elapsed:.6f} {peer[0]}\n".encode())
        conn.close()

threading.Thread(target=sink, args=(socket.create_server(("0.0.0.0", sink_port)),), daemon=True).start()
listener = socket.create_server(("0.0.0.0", http_port), backlog=128)
listener.setblocking(False)
sel = selectors.DefaultSelector()
sel.register(listener, selectors.EVENT_READ)
pending = {}
print("ready", flush=True)
while True:
    for key, _ in sel.select():
        s = key.fileobj
        if s is listener:
            try:
                conn, _ = listener.accept()
            except BlockingIOError:
                continue
            conn.setblocking(False)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sel.register(conn, selectors.EVENT_READ)
            pending[conn] = b""
            continue
        try:
            data = s.recv(65536)
        except BlockingIOError:
            continue
        except ConnectionError:
            data = b""
        if not data:
            sel.unregister(s)
            pending.pop(s, None)
            s.close()
            continue
        buf = pending[s] + data
        n = buf.count(b"\r\n\r\n")
        pending[s] = buf[buf.rfind(b"\r\n\r\n") + 4:] if n else buf
        if n:
            s.sendall(RESPONSE * n)
'''

# Streams argv[3] bytes in 256 KiB writes, then prints the sink's report.
SENDER = r'''
import socket, sys
host, port, total = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
chunk = memoryview(bytes(256 << 10))
s = socket.create_connection((host, port), timeout=120)
sent = 0
while sent < total:
    s.sendall(chunk)
    sent += len(chunk)
s.shutdown(socket.SHUT_WR)
print(s.makefile().readline().strip(), flush=True)
'''


def wait(pred, timeout, what, interval=0.2):
    end = time.time() + timeout
    while time.time() < end:
        if pred(): return
        time.sleep(interval)
    raise SystemExit("timed out waiting for " + what)


def free_port(address):
    s = socket.socket(); s.bind((address, 0)); p = s.getsockname()[1]; s.close(); return p


class Bench:
    def __init__(self, ozy, work):
        self.ozy, self.work = ozy, work
        self.state = os.path.join(work, "testbed")
        self.procs = []   # (name, Popen): etcd, the agents, the servers
        self.agents = {}  # host -> Popen

    # --- the test bed -----------------------------------------------------

    def testbed(self, *args, check=True):
        r = subprocess.run([TESTBED, "--state", self.state, *args], env=ENV, text=True, capture_output=True)
        if check and r.returncode != 0:
            raise SystemExit(f"testbed.sh {' '.join(args)} failed ({r.returncode}): {r.stderr}{r.stdout}")
        return r.stdout.strip()

    def in_host(self, host, *cmd, check=True):
        return self.testbed("exec", str(host), *cmd, check=check)

    def in_host_argv(self, host, netns_pid=None):
        """The argv prefix that runs a command in host `host`, in its pod's netns if a pid is given."""
        argv = [TESTBED, "--state", self.state, "exec", str(host)]
        if netns_pid is not None:
            # /proc is the machine's: the infra container's pid names the pod's netns.
            argv += ["nsenter", f"--net=/proc/{netns_pid}/ns/net"]
        return argv

    def start(self, name, argv, out, err):
        p = subprocess.Popen(argv, env=ENV, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        self.procs.append((name, p))
        return p

    def ensure_image(self):
        if subprocess.run(["podman", "image", "exists", IMAGE], env=ENV).returncode == 0: return
        r = os.path.join(self.work, "image-root")
        for d in ("bin", "www", "tmp"): os.makedirs(os.path.join(r, d))
        subprocess.run(["cp", "/usr/bin/busybox", r + "/bin/busybox"], check=True)
        for l in "sh httpd nc sleep wget true false head tr cat echo dd ls rm mkdir touch nslookup".split():
            os.symlink("busybox", f"{r}/bin/{l}")
        subprocess.run(f"tar -C {r} -c . | podman import - {IMAGE} >/dev/null", shell=True, env=ENV, check=True)

    def up(self):
        self.ensure_image()
        self.testbed("up", "2")
        self.bridge = self.testbed("bridge-addr")
        self.addr = {i: self.testbed("addr", str(i)) for i in (1, 2)}
        for i in (1, 2): self.testbed("copy-image", IMAGE, str(i))

        # A private etcd in the root namespace, on the bridge address: every host reaches it.
        cp, pp = free_port(self.bridge), free_port("127.0.0.1")
        self.etcd = f"http://{self.bridge}:{cp}"
        self.start("etcd", ["etcd", "--name", "netbench", "--data-dir", self.work + "/etcd",
                            "--listen-client-urls", self.etcd, "--advertise-client-urls", self.etcd,
                            "--listen-peer-urls", f"http://127.0.0.1:{pp}",
                            "--initial-advertise-peer-urls", f"http://127.0.0.1:{pp}",
                            "--initial-cluster", f"netbench=http://127.0.0.1:{pp}",
                            "--heartbeat-interval", "50", "--election-timeout", "500"],
                   subprocess.DEVNULL, open(self.work + "/etcd.log", "w"))
        wait(lambda: subprocess.run(["curl", "-sf", self.etcd + "/health"], stdout=subprocess.DEVNULL).returncode == 0,
             20, "etcd")

        self.token_file = self.work + "/token"
        with open(os.open(self.token_file, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f: f.write(TOKEN + "\n")
        for i in (1, 2):
            a = self.addr[i]
            data = f"{self.work}/h{i}"
            os.makedirs(data); os.chmod(data, 0o700)
            # The flags of tests/testbed/pod_network_test.cpp's agentOptions().
            self.agents[i] = self.start(f"agent h{i}", self.in_host_argv(i) + [
                self.ozy, "agent", "--node", f"h{i}", "--etcd", self.etcd, "--memory", "2G", "--disk", "100G",
                "--data-dir", data, "--runtime", "podman",
                "--address", a, "--listen", f"{a}:7700", "--insecure-http", "--insecure-etcd",
                "--pod-network", "auto", "--token-file", self.token_file, "--containers-conf", CONF,
                "--dns", f"{a}:53", "--stop-grace", "1", "--resync", "1s"],
                open(f"{self.work}/h{i}.out", "w"), open(f"{self.work}/h{i}.log", "w"))
        for i in (1, 2):
            wait(lambda: "listening on" in open(f"{self.work}/h{i}.out").read() or self.agents[i].poll() is not None,
                 30, f"the agent of host {i}")
            if self.agents[i].poll() is not None:
                raise SystemExit(f"the agent of host {i} exited:\n{self.tail(f'h{i}.log')}")

    def tail(self, name, lines=30):
        try: return "".join(open(os.path.join(self.work, name)).readlines()[-lines:])
        except OSError: return ""

    # --- the job ------------------------------------------------------------

    def api(self, method, path, body=None):
        c = http.client.HTTPConnection(self.addr[1], 7700, timeout=30)
        headers = {"Authorization": "Bearer " + TOKEN}
        if body is not None: headers["Content-Type"] = "application/yaml"
        c.request(method, path, body, headers)
        r = c.getresponse(); data = r.read(); c.close()
        return r.status, data

    def run_job(self):
        # Host port 8080 on both: the scheduler must put one instance on each host.
        job = (f"name: {JOB}\nnumInstances: 2\ncontainers:\n  app:\n    image: {IMAGE}\n    pull: never\n"
               '    memory: 16M\n    ports: ["8080:80"]\n    command: ["sleep", "3600"]\n')
        status, data = self.api("POST", "/v1/jobs", job)
        if status != 201: raise SystemExit(f"POST /v1/jobs: {status} {data.decode()}")
        instances = []
        def healthy():
            nonlocal instances
            status, data = self.api("GET", "/v1/jobs/" + JOB)
            instances = json.loads(data)["instances"] if status == 200 else []
            return len(instances) == 2 and all(i["state"] == "healthy" and i.get("podIp") for i in instances)
        try:
            wait(healthy, 120, "both instances healthy")
        except SystemExit:
            raise SystemExit(f"instances: {instances}\nh1:\n{self.tail('h1.log')}\nh2:\n{self.tail('h2.log')}")
        by_node = {i["node"]: i for i in instances}
        if set(by_node) != {"h1", "h2"}: raise SystemExit(f"expected one instance per host, got {instances}")
        self.pod_ip, self.pod_pid = {}, {}
        for h in (1, 2):
            inst = by_node[f"h{h}"]
            self.pod_ip[h] = inst["podIp"]
            pod = f"ozy-{JOB}-{inst['id']}.h{h}"
            infra = self.in_host(h, "podman", "pod", "inspect", pod, "--format", "{{.InfraContainerID}}")
            self.pod_pid[h] = int(self.in_host(h, "podman", "inspect", infra, "--format", "{{.State.Pid}}"))
        # Each host routes the other's subnet (the agents do it from a watch).
        for h, other in ((1, 2), (2, 1)):
            wait(lambda: f"via {self.addr[other]}" in self.in_host(h, "ip", "-4", "route", "show", "proto", "211"),
                 20, f"host {h}'s route to host {other}'s pod subnet")

    # --- the measurement ------------------------------------------------------

    def paths(self):
        """name -> (server argv prefix, client argv prefix, target address)."""
        return {
            "ozymandias": (self.in_host_argv(2, self.pod_pid[2]), self.in_host_argv(1, self.pod_pid[1]),
                           self.pod_ip[2]),
            "floor": (self.in_host_argv(2), self.in_host_argv(1), self.addr[2]),
        }

    def start_servers(self):
        for name, (server, _, _) in self.paths().items():
            out = f"{self.work}/server-{name}.out"
            p = self.start(f"server {name}", server + ["python3", "-c", SERVER, str(HTTP_PORT), str(SINK_PORT)],
                           open(out, "w"), open(f"{self.work}/server-{name}.log", "w"))
            wait(lambda: "ready" in open(out).read() or p.poll() is not None, 20, f"the {name} server")
            if p.poll() is not None:
                raise SystemExit(f"the {name} server exited:\n{self.tail(f'server-{name}.log')}")

    def run_client(self, argv, timeout=300):
        r = subprocess.run(argv, env=ENV, text=True, capture_output=True, timeout=timeout)
        if r.returncode != 0: raise SystemExit(f"{' '.join(argv[-6:])} failed: {r.stderr}{r.stdout}")
        return r.stdout

    def ab(self, client, target, connections, requests):
        out = self.run_client(client + ["ab", "-q", "-k", "-c", str(connections), "-n", str(requests),
                                        f"http://{target}:{HTTP_PORT}/"])
        fields = {}
        for line in out.splitlines():
            if ":" in line:
                k, v = line.split(":", 1); fields[k.strip()] = v.strip()
        if fields.get("Failed requests") != "0" or fields.get("Keep-Alive requests") != str(requests):
            raise SystemExit(f"ab against {target}: failures or connections not kept alive:\n{out}")
        return float(fields["Requests per second"].split()[0])

    def stream(self, client, target):
        out = self.run_client(client + ["python3", "-c", SENDER, target, str(SINK_PORT), str(STREAM_BYTES)])
        total, seconds, peer = out.split()
        if int(total) != STREAM_BYTES: raise SystemExit(f"the sink got {total} of {STREAM_BYTES} bytes")
        return int(total) / float(seconds), peer

    def describe_paths(self):
        """What the packets go through, printed once so a reader can check the path."""
        ip_get = self.in_host(1, "ip", "-4", "-o", "route", "get", self.pod_ip[2])
        client = self.in_host_argv(1, self.pod_pid[1])
        pod_if = subprocess.run(client + ["ip", "-o", "link", "show", "eth0"], env=ENV, text=True,
                                capture_output=True).stdout
        host_if = self.in_host(1, "ip", "-o", "link", "show", "eth0")
        mtu = lambda line: line.split(" mtu ")[1].split()[0] if " mtu " in line else "?"
        print(f"host 1 {self.addr[1]} (pod {self.pod_ip[1]}), host 2 {self.addr[2]} (pod {self.pod_ip[2]})")
        route = ip_get.split(" cache")[0].rstrip(" \\")  # `ip -o` ends a wrapped line with a backslash
        print(f"host 1 routes host 2's pod: {route}")
        print(f"MTU: pod eth0 {mtu(pod_if)}, host eth0 {mtu(host_if)}")

    def measure(self, reps):
        paths = self.paths()
        # (figure, short name for the per-repetition lines, measurement)
        figures = [("HTTP keep-alive req/s, 1 connection", "req/s c=1", lambda c, t: self.ab(c, t, 1, 30000)),
                   ("HTTP keep-alive req/s, 8 connections", "req/s c=8", lambda c, t: self.ab(c, t, 8, 60000)),
                   ("TCP throughput MB/s (1 GiB)", "MB/s", lambda c, t: self.stream(c, t)[0] / 1e6)]
        # Once, as a check: host 2's pod sees host 1's pod address (no masquerade on the way).
        _, peer = self.stream(paths["ozymandias"][1], paths["ozymandias"][2])
        print(f"host 2's pod sees the client as {peer} (host 1's pod is {self.pod_ip[1]})")
        samples = {(f, p): [] for f, _, _ in figures for p in paths}
        for rep in range(reps):
            # Alternate the order too, so a drift in the machine's load is shared.
            order = ["ozymandias", "floor"] if rep % 2 == 0 else ["floor", "ozymandias"]
            for figure, _, run in figures:
                for p in order:
                    _, client, target = paths[p]
                    samples[(figure, p)].append(run(client, target))
            print(f"rep {rep + 1} (ozymandias / floor): " + ", ".join(
                f"{short} {samples[(f, 'ozymandias')][-1]:.0f} / {samples[(f, 'floor')][-1]:.0f}"
                for f, short, _ in figures), flush=True)
        print(f"\npod to pod across two hosts, median of {reps} (load average {os.getloadavg()[0]:.2f})")
        # "paired": the median of each repetition's own ratio (its two runs are
        # adjacent in time), steadier than the ratio of medians when the
        # machine's load changes during the run.
        print(f"{'figure':<38} {'ozymandias':>11} {'floor':>11} {'ratio':>6} {'paired':>6}  target >= 0.90")
        for figure, _, _ in figures:
            os_, fs = samples[(figure, "ozymandias")], samples[(figure, "floor")]
            o, f = statistics.median(os_), statistics.median(fs)
            paired = statistics.median(a / b for a, b in zip(os_, fs))
            print(f"{figure:<38} {o:11.0f} {f:11.0f} {o / f:6.2f} {paired:6.2f}  {'met' if o / f >= 0.90 else 'MISSED'}",
                  flush=True)

    # --- cleaning up ------------------------------------------------------------

    def stop(self):
        # The servers, then the agents (SIGTERM: they leave their pods running),
        # then the job's pods, then etcd; `down` would end whatever is left.
        for name, p in self.procs:
            if name.startswith("server"): self.terminate(p)
        for p in self.agents.values(): self.terminate(p)
        if os.path.exists(os.path.join(self.state, "testbed.env")):
            for h in (1, 2):
                pods = self.in_host(h, "podman", "pod", "ps", "-q", "--filter", f"label=ozy.job={JOB}", check=False)
                if pods: self.in_host(h, "podman", "pod", "rm", "--force", "--time", "0", *pods.split(), check=False)
        for name, p in self.procs:
            if name == "etcd": self.terminate(p)

    @staticmethod
    def terminate(p):
        if p.poll() is not None: return
        p.terminate()
        try: p.wait(20)
        except subprocess.TimeoutExpired: p.kill(); p.wait()


def main():
    if len(sys.argv) < 2 or os.geteuid() != 0: raise SystemExit(__doc__)
    if not os.path.exists("/usr/bin/ab"): raise SystemExit("needs ab: apt-get install apache2-utils")
    ozy, reps = os.path.abspath(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 5
    # Interrupted, it still cleans up (the finally below).
    def interrupted(signum, _frame):
        print(f"pod_network: {signal.Signals(signum).name}: removing the test bed", file=sys.stderr, flush=True)
        sys.exit(1)
    for s in (signal.SIGTERM, signal.SIGINT): signal.signal(s, interrupted)
    work = tempfile.mkdtemp(prefix="ozy-netbench-")
    bench = Bench(ozy, work)
    down_ok = False
    try:
        print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
        bench.up()
        bench.run_job()
        bench.describe_paths()
        bench.start_servers()
        bench.measure(reps)
    finally:
        # A second signal must not cut the clean-up short.
        for s in (signal.SIGTERM, signal.SIGINT): signal.signal(s, signal.SIG_IGN)
        try:
            bench.stop()
        finally:
            down = subprocess.run([TESTBED, "down", "--state", bench.state], env=ENV, text=True, capture_output=True)
            down_ok = down.returncode == 0
            if down_ok:
                subprocess.run(["rm", "-rf", work])
            else:
                print(f"testbed.sh down failed; {work} is kept:\n{down.stderr}", file=sys.stderr)


if __name__ == "__main__":
    main()
