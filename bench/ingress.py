#!/usr/bin/env python3
"""The HTTP ingress against nginx and HAProxy, over the same backends, in one run.

Starts a private etcd and one `ozy agent --pod-network host --ingress
127.0.0.1:PORT --ingress-threads N` (its own podman service), and submits a
job of 3 instances whose container claims the host `bench.example` for the
ingress. Each instance's pod runs Debian's nginx (the host's /usr/sbin/nginx
and its libraries, imported into a local image; one worker per pod,
keep-alive on, no access log) answering every request with the same 100-byte
body. The pods' addresses (`podIp` of GET /v1/jobs/NAME, on podman's bridge,
which the host reaches) are the backends of every case:

  direct    wrk -> one backend pod, no proxy: the ceiling
  ingress   wrk -> the agent's ingress -> the 3 pods (routes by Host itself)
  nginx     wrk -> nginx (Debian's package, started here with its own config)
            -> the 3 pods: `upstream { keepalive 192; }` (see below),
            `proxy_http_version 1.1; proxy_set_header Connection "";`, round
            robin, a server_name bench.example and a default server
            answering 404
  haproxy   wrk -> HAProxy (Debian's package, likewise) -> the 3 pods:
            `option http-keep-alive`, `http-reuse always`, `balance
            roundrobin`, use_backend on `hdr(host) -i bench.example`, else 404

Every proxy gets the same number of workers N (--threads, default 1): nginx
`worker_processes N`, HAProxy `nbthread N`, the agent `--ingress-threads N`.
Every proxy listens on a loopback port; every wrk request says `Host:
bench.example`. Before measuring, each proxy is checked to answer that host
with the body, to spread 30 requests over all 3 backends (their stub_status
request counts), and to answer another host with something other than 200.
Upstream pools are sized so that no proxy has to close idle connections:
nginx `keepalive` = connections x backends per worker (with `keepalive 64`
it opened ~1000 upstream connections a second here); HAProxy's idle pool
(pool-max-conn) is unbounded by default, though every 5 s it closes some
idle connections beyond recent use (pool-purge-delay): a few dozen new ones
in a run.

The client is wrk (Debian's package): `wrk -c64 -d10s`, after a warm-up of
2 s on the same target (connections, upstream pools and caches made before
the clock starts), with a Lua done() hook that prints the exact request
count, errors and percentiles (microseconds) instead of wrk's rounded text.
Any wrk error (connect, read, write, timeout, a status >= 400) fails the
run. 64 connections keep 3 backends and the proxy busy without so many that
the run measures the listen queue; over 10 s that is 10^5 and more requests,
enough for a stable p99.

CPUs. With more CPUs than N (2 cores and N = 1 on our machine) the proxy is
pinned to the first N CPUs and wrk to the others, one wrk thread per CPU it
has (taskset; for the ingress, every thread of the agent, and only while the
ingress is measured, so its podman service and the pods it starts keep
every CPU). Then the client never runs on the proxy's core, and every proxy
has the same core and the same client on the other in every run; one wrk
thread saturates 3 backends through any of these proxies (direct: 30,000 to
70,000 requests/s here, 2 to 5 times the proxies). The backend pods are not
pinned (the agent makes them): they run wherever there is room, alike for
every case. --no-pin (or N >= the CPUs) leaves the placement to the kernel,
with wrk -t2. On 2 cores everything competes with everything, and with
anything else the machine runs: requests/s and p99 move with the load
average (printed), CPU per request much less; compare the ratios, and
compare runs made at the same load only.

Figures, for each case and run: requests/s, p50 and p99 latency, and CPU per
request: utime+stime (/proc/PID/stat) over the measured run, divided by the
requests, of the proxy's processes (nginx: master and workers; HAProxy: its
process; ingress: the agent's process, every thread, so its own background
work (etcd lease, health checks every 10 s) counts against it: the summary
says how much, measured while the other cases run) and of the backend pods'
nginx processes (with the split between the
3: round robin shows as thirds). "backend conns" is how many connections
the backends accepted during the measured run (their stub_status on port
8081, less our own query; the agent's health checks add about one per
backend): a few when the proxy reuses its upstream connections, near the
request count when it does not; 64 and the health checks for direct. The
order of the cases rotates from run to run, so a drift in the machine's load
is shared. Then, over the runs: medians, and ratios of the medians
(ingress / HAProxy, ingress / nginx, ingress / direct, each proxy against
direct, nginx / HAProxy; and the ingress's CPU per request against the
others'), with "paired", the median of each run's own ratio; as markdown
tables at the end.

--no-ingress leaves the ingress case out (and the ingress flags and the
job's ingress block), for before the ingress exists: the agent then only
runs the backends.

Usage: bench/ingress.py BUILD/ozy [reps] [--no-ingress] [--threads N]
           [--connections C] [--duration S] [--warmup S] [--no-pin]   (as root; reps: 3)
It takes /tmp/ozy-podman-tests.lock itself (waiting while another podman test
holds it), unless it already runs under `flock /tmp/ozy-podman-tests.lock`.
"""
import argparse, fcntl, hashlib, http.client, json, os, shutil, signal, socket, statistics, subprocess, sys
import tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONF = os.path.join(ROOT, "config", "containers.conf")
ENV = dict(os.environ, CONTAINERS_CONF=CONF)
LOCK = "/tmp/ozy-podman-tests.lock"
JOB = "ingbench"
HOST = "bench.example"
PORT, STATUS_PORT = 8080, 8081  # the backends' ports, in their pods
INSTANCES = 3
NGINX = "/usr/sbin/nginx"
# Every response's body: 100 bytes, the same for every backend and request.
BODY = "ozymandias ingress benchmark: the same 100-byte body from every one of the pods, for every request.\n"
assert len(BODY) == 100 and not set(BODY) & set('"$;\\')  # it goes into nginx's config as a quoted string

# The backend pods' nginx: one worker, keep-alive without a request limit (as
# the proxies are configured towards them), no access log, the body for
# every path on PORT; stub_status on STATUS_PORT, which only this script asks.
BACKEND_CONF = """\
daemon off;
master_process on;
worker_processes 1;
user nobody nogroup;
pid /tmp/nginx.pid;
error_log stderr warn;
events { worker_connections 1000; }
http {
  access_log off;
  server_tokens off;
  client_body_temp_path /tmp/body;
  proxy_temp_path /tmp/proxy;
  fastcgi_temp_path /tmp/fastcgi;
  uwsgi_temp_path /tmp/uwsgi;
  scgi_temp_path /tmp/scgi;
  keepalive_requests 1000000;
  keepalive_timeout 300s;
  server {
    listen %(port)d;
    location / { default_type text/plain; return 200 "%(body)s"; }
  }
  server {
    listen %(status_port)d;
    location / { stub_status; }
  }
}
""" % {"port": PORT, "status_port": STATUS_PORT, "body": BODY.replace("\n", "\\n")}

# wrk's own text rounds (e.g. "1.23ms"); this prints the exact figures.
WRK_LUA = r'''
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("ozy-bench requests=%d duration_us=%d bytes=%d p50_us=%d p99_us=%d max_us=%d " ..
                         "connect=%d read=%d write=%d status=%d timeout=%d\n",
                         summary.requests, summary.duration, summary.bytes, latency:percentile(50),
                         latency:percentile(99), latency.max, e.connect, e.read, e.write, e.status, e.timeout))
end
'''

CASES = ["direct", "ingress", "nginx", "haproxy"]
LABEL = {"direct": "direct (1 backend)", "ingress": "ozy ingress", "nginx": "nginx", "haproxy": "HAProxy"}


def wait(pred, timeout, what, interval=0.1):
    end = time.time() + timeout
    while time.time() < end:
        if pred(): return
        time.sleep(interval)
    raise SystemExit("timed out waiting for " + what)


def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p


def get(addr, port, host, path="/", timeout=2):
    """(status, body) of one GET, or (None, reason)."""
    try:
        c = http.client.HTTPConnection(addr, port, timeout=timeout)
        c.request("GET", path, headers={"Host": host})
        r = c.getresponse(); body = r.read(); c.close()
        return r.status, body
    except OSError as e:
        return None, str(e)


def cpu_ticks(pid):
    """utime + stime of one process (every thread), in clock ticks; 0 once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f: fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])  # fields 14 and 15 of proc(5), after pid and comm


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f: return [int(c) for c in f.read().split()]
    except OSError:
        return []


def ancestors():
    pids, pid = set(), os.getpid()
    while pid > 1:
        try:
            with open(f"/proc/{pid}/stat") as f: pid = int(f.read().rsplit(")", 1)[1].split()[1])
        except OSError:
            break
        pids.add(pid)
    return pids


def podman_lock():
    """Holds LOCK (the podman tests' lock) until the process ends; None if an ancestor holds it already."""
    fd = os.open(LOCK, os.O_RDWR | os.O_CREAT, 0o666)  # not inherited: the children do not keep it
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return fd
    except BlockingIOError:
        pass
    # Run as `flock LOCK bench/ingress.py`: flock(1), an ancestor, holds it.
    st, mine = os.stat(LOCK), ancestors()
    with open("/proc/locks") as f:
        for line in f:
            parts = line.split()
            if len(parts) > 5 and parts[1] == "FLOCK" and parts[5].rsplit(":", 1)[-1] == str(st.st_ino):
                if parts[4].isdigit() and int(parts[4]) in mine:
                    os.close(fd)
                    return None
    print(f"waiting for {LOCK} (another podman test holds it)", flush=True)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


class Interrupted(BaseException):
    """A signal: unwinds through every except clause to main's clean-up."""


class Bench:
    def __init__(self, args, work):
        self.args, self.work = args, work
        self.ozy = os.path.abspath(args.ozy)
        self.procs = []          # (name, Popen), stopped in reverse order
        self.agent = None
        self.api_addr = None
        self.node = f"ingbench{os.getpid()}"
        self.job_submitted = False
        self.backends = []       # pod IPs
        self.backend_pids = []   # their nginx masters (host pid namespace)
        self.ports = {}          # case -> the loopback port wrk targets
        self.proxy_pid = {}      # case -> the pid whose process (and children) is the proxy
        self.cases = [c for c in CASES if c != "ingress" or not args.no_ingress]
        # The CPUs this script may use: the first N for the proxy, the rest for wrk.
        n, cpus = args.threads, sorted(os.sched_getaffinity(0))
        self.pin = not args.no_pin and n < len(cpus)
        self.proxy_cpus = ",".join(map(str, cpus[:n]))
        self.wrk_cpus = ",".join(map(str, cpus[n:]))
        self.wrk_threads = len(cpus) - n if self.pin else min(2, len(cpus))
        self.all_cpus = ",".join(map(str, cpus))
        self.ncpus = len(cpus)

    # --- processes -------------------------------------------------------------

    def start(self, name, argv, log, pin=False):
        if pin and self.pin: argv = ["taskset", "-c", self.proxy_cpus] + argv
        out = open(os.path.join(self.work, log), "w")
        # Sessions of their own: a ^C reaches this script only, which stops
        # them in order (the job before the agent, the agent before etcd).
        p = subprocess.Popen(argv, env=ENV, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                             start_new_session=True)
        self.procs.append((name, p))
        return p

    def tail(self, log, lines=20):
        try: return "".join(open(os.path.join(self.work, log)).readlines()[-lines:])
        except OSError: return ""

    @staticmethod
    def terminate(p, grace=20):
        if p.poll() is not None: return
        p.terminate()
        try: p.wait(grace)
        except subprocess.TimeoutExpired: p.kill(); p.wait()

    # --- the backend image ----------------------------------------------------

    def image(self):
        """localhost/ozy-bench-nginx:<hash of its files>, imported if missing."""
        # nginx and its shared libraries, as real files where ldd says they
        # are (the image has no /lib -> /usr/lib link, so each path as given).
        files = [NGINX]
        for line in subprocess.run(["ldd", NGINX], capture_output=True, text=True, check=True).stdout.splitlines():
            path = line.split("=>")[-1].split("(")[0].strip()
            if path.startswith("/"): files.append(path)
        h = hashlib.sha256(BACKEND_CONF.encode())
        for path in files:
            with open(path, "rb") as f: h.update(path.encode() + b"\0" + f.read())
        name = f"localhost/ozy-bench-nginx:{h.hexdigest()[:12]}"
        if subprocess.run(["podman", "image", "exists", name], env=ENV).returncode == 0: return name
        # Images of an older config, nginx or library: nothing needs them any more.
        old = subprocess.run(["podman", "images", "-q", "--filter", "reference=localhost/ozy-bench-nginx"],
                             env=ENV, capture_output=True, text=True).stdout.split()
        if old: subprocess.run(["podman", "rmi", *set(old)], env=ENV, capture_output=True)
        r = os.path.join(self.work, "image-root")
        for d in ("etc/nginx", "tmp"): os.makedirs(os.path.join(r, d))
        os.chmod(r + "/tmp", 0o1777)
        for path in files:
            os.makedirs(r + os.path.dirname(path), exist_ok=True)
            shutil.copy(os.path.realpath(path), r + path)
        # The workers' user (nobody: uid 65534 of the pod's user namespace).
        with open(r + "/etc/passwd", "w") as f:
            f.write("root:x:0:0:root:/:/bin/false\nnobody:x:65534:65534:nobody:/:/bin/false\n")
        with open(r + "/etc/group", "w") as f: f.write("root:x:0:\nnogroup:x:65534:\n")
        with open(r + "/etc/nginx/nginx.conf", "w") as f: f.write(BACKEND_CONF)
        subprocess.run(f"tar -C {r} -c . | podman import --quiet - {name} >/dev/null", shell=True, env=ENV, check=True)
        return name

    # --- etcd, the agent, the job -----------------------------------------------

    def up(self):
        image = self.image()
        cp, pp = free_port(), free_port()
        url = f"http://127.0.0.1:{cp}"
        self.start("etcd", ["etcd", "--name", "ingbench", "--data-dir", self.work + "/etcd",
                            "--listen-client-urls", url, "--advertise-client-urls", url,
                            "--listen-peer-urls", f"http://127.0.0.1:{pp}",
                            "--initial-advertise-peer-urls", f"http://127.0.0.1:{pp}",
                            "--initial-cluster", f"ingbench=http://127.0.0.1:{pp}"], "etcd.log")
        wait(lambda: subprocess.run(["curl", "-sf", url + "/health"], stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL).returncode == 0, 20, "etcd")
        data = self.work + "/agent"
        os.makedirs(data, mode=0o700)
        argv = [self.ozy, "agent", "--node", self.node, "--etcd", url, "--memory", "8G", "--disk", "50G",
                "--listen", "127.0.0.1:0", "--data-dir", data, "--containers-conf", CONF,
                "--stop-grace", "1", "--pod-network", "host"]
        if not self.args.no_ingress:
            self.ports["ingress"] = free_port()
            argv += ["--ingress", f"127.0.0.1:{self.ports['ingress']}", "--ingress-threads", str(self.args.threads)]
        out = os.path.join(self.work, "agent.out")
        self.agent = subprocess.Popen(argv, env=ENV, stdin=subprocess.DEVNULL, stdout=open(out, "w"),
                                      stderr=open(self.work + "/agent.log", "w"), start_new_session=True)
        self.procs.append(("agent", self.agent))
        wait(lambda: "listening on" in open(out).read() or self.agent.poll() is not None, 30, "the agent")
        if self.agent.poll() is not None:
            log = self.tail("agent.log")
            hint = ("\n(no --ingress in this ozy yet? bench/ingress.py --no-ingress measures the rest)"
                    if "--ingress" in log else "")
            raise SystemExit(f"the agent exited ({self.agent.returncode}):\n{log}{hint}")
        self.api_addr = open(out).read().split("listening on ")[1].split()[0].split("//")[-1]
        self.token = open(data + "/token").read().strip()  # made by the agent
        self.proxy_pid["ingress"] = self.agent.pid

        ingress = "" if self.args.no_ingress else f"    ingress:\n      hosts: [{HOST}]\n      port: {PORT}\n"
        job = (f"name: {JOB}\nnumInstances: {INSTANCES}\ncontainers:\n  web:\n    image: {image}\n    pull: never\n"
               f'    command: ["{NGINX}", "-c", "/etc/nginx/nginx.conf"]\n    memory: 64M\n'
               f'    ports: ["{PORT}"]\n'
               f"    healthcheck: {{type: http, port: {PORT}, path: /, interval: 10s, timeout: 1s}}\n" + ingress)
        status, body = self.api("POST", "/v1/jobs", job)
        if status != 201: raise SystemExit(f"POST /v1/jobs: {status} {body.decode()}")
        self.job_submitted = True
        instances = []
        def healthy():
            nonlocal instances
            status, body = self.api("GET", "/v1/jobs/" + JOB)
            instances = json.loads(body)["instances"] if status == 200 else []
            return (len(instances) == INSTANCES
                    and all(i["state"] == "healthy" and i.get("podIp") for i in instances))
        try:
            wait(healthy, 120, "every instance healthy", 0.2)
        except SystemExit:
            raise SystemExit(f"instances: {instances}\nagent:\n{self.tail('agent.log')}")
        self.backends = [i["podIp"] for i in instances]
        for i in instances:
            name = f"ozy-{JOB}-{i['id']}.{self.node}.web"
            pid = subprocess.run(["podman", "inspect", name, "--format", "{{.State.Pid}}"], env=ENV,
                                 capture_output=True, text=True, check=True).stdout.strip()
            self.backend_pids.append(int(pid))
        for ip in self.backends:
            status, body = get(ip, PORT, HOST)
            if status != 200 or body != BODY.encode():
                raise SystemExit(f"backend {ip}:{PORT} answered {status} {body[:200]!r}")

    def api(self, method, path, body=None):
        host, port = self.api_addr.rsplit(":", 1)
        c = http.client.HTTPConnection(host, int(port), timeout=30)
        headers = {"Authorization": "Bearer " + self.token}
        if body is not None: headers["Content-Type"] = "application/yaml"
        c.request(method, path, body, headers)
        r = c.getresponse(); data = r.read(); c.close()
        return r.status, data

    # --- the proxies --------------------------------------------------------------

    def start_nginx(self):
        d = self.work + "/nginx"
        os.makedirs(d)
        port = self.ports["nginx"] = free_port()
        servers = "".join(f"    server {ip}:{PORT};\n" for ip in self.backends)
        # keepalive: idle upstream connections each worker keeps (the least
        # recently used beyond it are closed). One per client connection per
        # backend, so that a burst to one backend never evicts another's:
        # with only `keepalive 64` it opened ~1000 connections a second here.
        # HAProxy's idle pool (pool-max-conn) has no bound by default.
        conf = f"""\
daemon off;
master_process on;
worker_processes {self.args.threads};
user nobody nogroup;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
worker_rlimit_nofile 8192;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {d}/body;
  proxy_temp_path {d}/proxy;
  fastcgi_temp_path {d}/fastcgi;
  uwsgi_temp_path {d}/uwsgi;
  scgi_temp_path {d}/scgi;
  keepalive_requests 1000000;
  keepalive_timeout 300s;
  upstream bench {{
{servers}    keepalive {self.args.connections * INSTANCES};
    keepalive_requests 1000000;
    keepalive_timeout 300s;
  }}
  server {{
    listen 127.0.0.1:{port} default_server;
    return 404;
  }}
  server {{
    listen 127.0.0.1:{port};
    server_name {HOST};
    location / {{
      proxy_pass http://bench;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
    }}
  }}
}}
"""
        with open(d + "/nginx.conf", "w") as f: f.write(conf)
        check = subprocess.run([NGINX, "-t", "-q", "-c", d + "/nginx.conf"], capture_output=True, text=True)
        if check.returncode != 0: raise SystemExit(f"nginx -t: {check.stderr}")
        p = self.start("nginx", [NGINX, "-c", d + "/nginx.conf"], "nginx.out", pin=True)
        self.proxy_pid["nginx"] = p.pid  # under taskset: taskset execs nginx, same pid

    def start_haproxy(self):
        d = self.work + "/haproxy"
        os.makedirs(d)
        port = self.ports["haproxy"] = free_port()
        servers = "".join(f"  server b{i} {ip}:{PORT}\n" for i, ip in enumerate(self.backends))
        conf = f"""\
global
  nbthread {self.args.threads}
  maxconn 4096

defaults
  mode http
  option http-keep-alive
  http-reuse always
  timeout connect 5s
  timeout client 300s
  timeout server 300s
  timeout http-keep-alive 300s

frontend bench
  bind 127.0.0.1:{port}
  use_backend bench if {{ hdr(host) -i {HOST} }}
  default_backend unknown

backend bench
  balance roundrobin
{servers}
backend unknown
  http-request return status 404
"""
        with open(d + "/haproxy.cfg", "w") as f: f.write(conf)
        check = subprocess.run(["haproxy", "-c", "-q", "-f", d + "/haproxy.cfg"], capture_output=True, text=True)
        if check.returncode != 0: raise SystemExit(f"haproxy -c: {check.stdout}{check.stderr}")
        p = self.start("haproxy", ["haproxy", "-db", "-f", d + "/haproxy.cfg"], "haproxy.out", pin=True)
        self.proxy_pid["haproxy"] = p.pid

    def check_routes(self):
        """Each case answers HOST with the body; each proxy answers another host with something
        else, and spreads requests over every backend."""
        self.ports["direct"] = PORT
        for case in self.cases:
            addr = self.backends[0] if case == "direct" else "127.0.0.1"
            port = self.ports[case]
            wait(lambda: get(addr, port, HOST)[0] == 200, 30, f"{case} to answer {HOST}", 0.2)
            if case == "direct": continue
            status, body = get(addr, port, "other.example")
            if status == 200: raise SystemExit(f"{case} answered other.example with 200: {body[:200]!r}")
            # Round robin: 30 requests reach every backend (the ingress may
            # take a moment to see them all healthy, hence the retries).
            for attempt in range(30):
                before = self.backend_counters("requests")
                seen = {get(addr, port, HOST)[1] for _ in range(30)}
                spread = [y - x - 1 for x, y in zip(before, self.backend_counters("requests"))]  # less our query
                if seen != {BODY.encode()}: raise SystemExit(f"{case} answered {HOST} with {seen}")
                if all(spread): break
                time.sleep(1)
            else:
                raise SystemExit(f"{case}: 30 requests reached the backends as {spread}, not all of them")
            print(f"{case:>8}: {HOST} -> 200, {len(BODY)}-byte body, 30 requests to the backends as "
                  f"{'/'.join(map(str, spread))}; other.example -> {status}")

    # --- the measurement ----------------------------------------------------------

    def proxy_ticks(self, case):
        if case == "direct": return 0
        pid = self.proxy_pid[case]
        # The agent: its own process only (not its podman service); nginx and HAProxy: with their workers.
        return cpu_ticks(pid) + (0 if case == "ingress" else sum(cpu_ticks(c) for c in children(pid)))

    def backend_ticks(self):
        return [cpu_ticks(p) + sum(cpu_ticks(c) for c in children(p)) for p in self.backend_pids]

    def backend_counters(self, which):
        """Each backend's stub_status count of "accepts" (connections) or "requests"; our query is one of each."""
        out = []
        for ip in self.backends:
            status, body = get(ip, STATUS_PORT, "status")
            if status != 200: raise SystemExit(f"stub_status of {ip}: {status} {body!r}")
            accepts, _handled, requests = body.decode().splitlines()[2].split()
            out.append(int(accepts if which == "accepts" else requests))
        return out

    def wrk(self, case, seconds):
        addr = self.backends[0] if case == "direct" else "127.0.0.1"
        argv = ["wrk", "-t", str(self.wrk_threads), "-c", str(self.args.connections), "-d", f"{seconds}s",
                "--timeout", "5s", "-s", self.work + "/report.lua", "-H", f"Host: {HOST}",
                f"http://{addr}:{self.ports[case]}/"]
        if self.pin: argv = ["taskset", "-c", self.wrk_cpus] + argv
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             start_new_session=True)
        self.procs.append(("wrk", p))
        out, _ = p.communicate(timeout=seconds + 60)
        self.procs.remove(("wrk", p))
        line = next((l for l in out.splitlines() if l.startswith("ozy-bench ")), None)
        if p.returncode != 0 or line is None: raise SystemExit(f"wrk against {case} failed:\n{out}")
        r = {k: int(v) for k, v in (f.split("=") for f in line.split()[1:])}
        errors = sum(r[k] for k in ("connect", "read", "write", "status", "timeout"))
        if errors: raise SystemExit(f"wrk against {case}: errors {line}\n{out}")
        return r

    def measure_one(self, case):
        seconds = self.args.duration
        pinned = self.pin and case == "ingress"
        if pinned:  # every thread of the agent, for this run only
            subprocess.run(["taskset", "-a", "-p", "-c", self.proxy_cpus, str(self.agent.pid)],
                           check=True, stdout=subprocess.DEVNULL)
        try:
            if self.args.warmup: self.wrk(case, self.args.warmup)
            a0, b0, p0 = self.backend_counters("accepts"), self.backend_ticks(), self.proxy_ticks(case)
            g0 = cpu_ticks(self.agent.pid)
            r = self.wrk(case, seconds)
            g1 = cpu_ticks(self.agent.pid)
            p1, b1, a1 = self.proxy_ticks(case), self.backend_ticks(), self.backend_counters("accepts")
        finally:
            if pinned:
                subprocess.run(["taskset", "-a", "-p", "-c", self.all_cpus, str(self.agent.pid)],
                               stdout=subprocess.DEVNULL)
        usec = 1e6 / os.sysconf("SC_CLK_TCK")
        n = r["requests"]
        backend = [y - x for x, y in zip(b0, b1)]
        return {"rps": n / (r["duration_us"] / 1e6), "p99": r["p99_us"] / 1000, "p50": r["p50_us"] / 1000,
                "requests": n, "proxy_cpu": (p1 - p0) * usec / n if case != "direct" else None,
                "backend_cpu": sum(backend) * usec / n,
                "split": [100 * b / max(1, sum(backend)) for b in backend],
                # The agent's CPU, ms per second: its background while another case runs.
                "agent_ms": (g1 - g0) * usec / 1000 / (r["duration_us"] / 1e6),
                # Less one: the "after" query's own connection.
                "conns": sum(y - x - 1 for x, y in zip(a0, a1))}

    def measure(self, reps):
        runs = []
        cpu = lambda v: "-" if v is None else f"{v:.1f}"
        for rep in range(reps):
            k = rep % len(self.cases)
            order = self.cases[k:] + self.cases[:k]
            run = {case: self.measure_one(case) for case in order}
            runs.append(run)
            print(f"\nrun {rep + 1} of {reps} (order: {', '.join(order)}; load average {os.getloadavg()[0]:.2f})")
            print(f"{'case':<20} {'req/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'proxy CPU':>10} {'backend CPU':>12}"
                  f" {'backend conns':>13}  backend CPU split")
            for case in self.cases:
                m = run[case]
                print(f"{LABEL[case]:<20} {m['rps']:9.0f} {m['p50']:7.2f} {m['p99']:7.2f} {cpu(m['proxy_cpu']):>10}"
                      f" {cpu(m['backend_cpu']):>12} {m['conns']:13d}  " + "/".join(f"{s:.0f}" for s in m["split"]))
            print("ratios: " + ", ".join(f"{a} / {b} req/s {run[a]['rps'] / run[b]['rps']:.2f} "
                                         f"p99 {run[a]['p99'] / run[b]['p99']:.2f}" for a, b in self.ratios()),
                  flush=True)
        return runs

    def ratios(self):
        pairs = [("ingress", "haproxy"), ("ingress", "nginx"), ("ingress", "direct")] if "ingress" in self.cases else []
        return pairs + [(p, "direct") for p in ("nginx", "haproxy")] + [("nginx", "haproxy")]

    def summary(self, runs):
        med = lambda case, key: statistics.median(r[case][key] for r in runs)
        reps = len(runs)
        n = self.args.threads
        pin = (f"proxy on CPU {self.proxy_cpus}, wrk on CPU {self.wrk_cpus}" if self.pin else "not pinned")
        print(f"\n## Ingress benchmark: median of {reps} run(s)\n")
        print(f"wrk -t{self.wrk_threads} -c{self.args.connections} -d{self.args.duration}s (after {self.args.warmup} s "
              f"of warm-up), Host: {HOST}; {INSTANCES} nginx backend pods of one worker, {len(BODY)}-byte body; "
              f"{n} worker(s)/thread(s) per proxy; {pin}; {self.ncpus} CPUs, load average "
              f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}. CPU in µs per request.\n")
        print("| case | req/s | p50 ms | p99 ms | proxy CPU µs/req | backend CPU µs/req | backend conns opened |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        for case in self.cases:
            pc = "-" if case == "direct" else f"{med(case, 'proxy_cpu'):.1f}"
            print(f"| {LABEL[case]} | {med(case, 'rps'):.0f} | {med(case, 'p50'):.2f} | {med(case, 'p99'):.2f} | {pc} "
                  f"| {med(case, 'backend_cpu'):.1f} | {statistics.median(r[case]['conns'] for r in runs):.0f} |")
        print("\n| ratio | req/s | p99 | req/s, paired | p99, paired |")
        print("| --- | ---: | ---: | ---: | ---: |")
        for a, b in self.ratios():
            paired = lambda key: statistics.median(r[a][key] / r[b][key] for r in runs)
            print(f"| {LABEL[a]} / {LABEL[b]} | {med(a, 'rps') / med(b, 'rps'):.2f} | {med(a, 'p99') / med(b, 'p99'):.2f} "
                  f"| {paired('rps'):.2f} | {paired('p99'):.2f} |")
        if "ingress" in self.cases:
            print("\n| CPU per request | ratio |")
            print("| --- | ---: |")
            for p in ("haproxy", "nginx"):
                print(f"| ozy ingress / {LABEL[p]} | {med('ingress', 'proxy_cpu') / med(p, 'proxy_cpu'):.2f} |")
        idle = statistics.median(r[c]["agent_ms"] for r in runs for c in self.cases if c != "ingress")
        print(f"\nThe agent's own CPU while it proxies nothing (the other cases' runs): {idle:.1f} ms per second"
              + (f", {idle * 1000 / med('ingress', 'rps'):.2f} µs per request at the ingress's rate (counted in its"
                 " CPU per request)." if "ingress" in self.cases else "."))
        print("(paired: the median of each run's own ratio; ratios of p99 below 1 mean the first is faster)")

    # --- cleaning up ------------------------------------------------------------------

    def stop(self):
        # wrk and the proxies; then the job (the agent removes its pods), the
        # agent, whatever pods are left of this node, and etcd.
        for name, p in reversed(self.procs):
            if name in ("wrk", "nginx", "haproxy"): self.terminate(p, 10)
        pods = lambda: subprocess.run(["podman", "pod", "ps", "-q", "--filter", f"label=ozy.node={self.node}"],
                                      env=ENV, capture_output=True, text=True).stdout.split()
        if self.job_submitted and self.agent and self.agent.poll() is None:
            try:
                self.api("DELETE", "/v1/jobs/" + JOB)
                wait(lambda: not pods(), 60, "the job's pods to go", 0.5)
            except (OSError, SystemExit) as e:
                print(f"ingress bench: stopping the job: {e}", file=sys.stderr)
        if self.agent: self.terminate(self.agent)
        # What the agent left (it was killed, or the job's removal timed out).
        # podman sometimes fails with "userdata/shm: device or resource busy"
        # and succeeds when tried again (PodmanRuntime::removePod retries too).
        for attempt in range(5):
            left = pods()
            if not left: break
            if attempt: time.sleep(1)
            subprocess.run(["podman", "pod", "rm", "--force", "--time", "0", *left], env=ENV,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL if attempt < 4 else None)
        if pods(): print(f"ingress bench: pods of node {self.node} are left: podman pod rm -f them", file=sys.stderr)
        for name, p in reversed(self.procs):
            if name == "etcd": self.terminate(p)


def main():
    ap = argparse.ArgumentParser(description="The ingress against nginx and HAProxy (see the header of this file).")
    ap.add_argument("ozy", help="the ozy binary, e.g. build/ozy")
    ap.add_argument("reps", nargs="?", type=int, default=3, help="runs (default 3)")
    ap.add_argument("--no-ingress", action="store_true", help="leave the ingress case out")
    ap.add_argument("--threads", type=int, default=1, help="workers of every proxy (default 1)")
    ap.add_argument("--connections", type=int, default=64, help="wrk connections (default 64)")
    ap.add_argument("--duration", type=int, default=10, help="seconds of each measured wrk run (default 10)")
    ap.add_argument("--warmup", type=int, default=2, help="seconds of the warm-up before each (default 2)")
    ap.add_argument("--no-pin", action="store_true", help="no taskset for wrk and the proxies")
    args = ap.parse_args()
    if os.geteuid() != 0: raise SystemExit("bench/ingress.py: run it as root (podman, the agent)")
    for tool in ("wrk", "haproxy", "etcd", "taskset"):
        if not shutil.which(tool): raise SystemExit(f"bench/ingress.py: no {tool}; scripts/setup.sh installs it")
    if not os.path.exists(NGINX): raise SystemExit(f"bench/ingress.py: no {NGINX}; scripts/setup.sh installs it")
    if args.reps < 1 or args.threads < 1: raise SystemExit("bench/ingress.py: reps and --threads must be >= 1")

    # Interrupted, it still cleans up (the finally below). Not SystemExit,
    # which the waits raise and catch to say more.
    def interrupted(signum, _frame):
        print(f"ingress bench: {signal.Signals(signum).name}: cleaning up", file=sys.stderr, flush=True)
        raise Interrupted()
    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP): signal.signal(s, interrupted)
    try:
        lock = podman_lock()
        work = tempfile.mkdtemp(prefix="ozy-ingbench-")
        os.chmod(work, 0o755)  # nginx's workers (nobody) reach their temp dirs in it; the agent's dir stays 0700
        bench = Bench(args, work)
        try:
            with open(work + "/report.lua", "w") as f: f.write(WRK_LUA)
            print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
            bench.up()
            print(f"backends: {', '.join(f'{ip}:{PORT}' for ip in bench.backends)} (pods of job {JOB})", flush=True)
            bench.start_nginx()
            bench.start_haproxy()
            bench.check_routes()
            bench.summary(bench.measure(args.reps))
        finally:
            # A second signal must not cut the clean-up short.
            for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP): signal.signal(s, signal.SIG_IGN)
            try:
                bench.stop()
            finally:
                shutil.rmtree(work, ignore_errors=True)
                if lock is not None: os.close(lock)
    except Interrupted:
        sys.exit(1)


if __name__ == "__main__":
    main()
