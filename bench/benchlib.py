"""What the podman benchmarks share (submit_to_healthy.py, deploy.py).

A Bench owns a temporary directory and every process it starts: a private
etcd, one `ozy agent` with its own podman service, and a second private
podman service for the raw reference, driven through podman's REST API on
its unix socket. close() ends those processes (by the Popen it holds),
removes the pods the run made (the raw ones by their label rawbench=1, the
agent's by its node's label) and the directory. Run as root.
"""
import http.client, json, os, signal, socket, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONF = os.path.join(ROOT, "config", "containers.conf")
IMAGE = "localhost/ozy-bench-busybox:1"
CMD = ["sh", "-c", "mkdir -p /www && echo ok > /www/health && exec httpd -f -p 8080 -h /www"]
ENV = dict(os.environ, CONTAINERS_CONF=CONF)
HEALTHCHECK = "{type: http, port: 8080, path: /health, interval: 1s, timeout: 1s}"


def exit_on_sigterm():
    # Interrupted, a script still runs its finally blocks.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))


def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p


def wait(pred, timeout, what, every=0.02):
    end = time.time() + timeout
    while time.time() < end:
        if pred(): return
        time.sleep(every)
    raise SystemExit("timed out waiting for " + what)


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost"); self.path = path
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX); self.sock.connect(self.path)


def podman(sock, method, path, body=None):
    """One call to podman's libpod REST API on the unix socket `sock`."""
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


def raw_start(sock, name, image=IMAGE, memory=32 << 20, command=CMD):
    """Makes and starts one pod as the agent would (its container runs `command`)."""
    pod = podman(sock, "POST", "/pods/create", {"name": name, "labels": {"rawbench": "1"},
                                                "portmappings": [{"container_port": 8080, "host_ip": "127.0.0.1"}]})["Id"]
    podman(sock, "POST", "/containers/create", {"name": name + "-web", "pod": pod, "image": image, "command": command,
                                                "resource_limits": {"memory": {"limit": memory, "swap": memory}},
                                                "stop_timeout": 1})  # as the agent's --stop-grace 1
    podman(sock, "POST", f"/containers/{name}-web/start")


def raw_ip(sock, name):
    infra = podman(sock, "GET", f"/pods/{name}/json")["InfraContainerID"]
    return podman(sock, "GET", f"/containers/{infra}/json")["NetworkSettings"]["IPAddress"]


def raw_remove(sock, name):
    podman(sock, "DELETE", f"/pods/{name}?force=true")


def busybox_root(path):
    """A root file system of busybox and the applets CMD uses, at `path`."""
    subprocess.run(["rm", "-rf", path]); os.makedirs(path + "/bin")
    subprocess.run(["cp", "/usr/bin/busybox", path + "/bin/busybox"], check=True)
    for l in ["sh", "httpd", "mkdir", "echo", "sleep"]: os.symlink("busybox", f"{path}/bin/{l}")


def import_image(root, ref):
    subprocess.run(f"tar -C {root} -c . | podman import - {ref} >/dev/null 2>&1", shell=True, env=ENV, check=True)


def job_yaml(name, n, image=IMAGE, memory="32M", environment=None, update=None, command=CMD):
    """A job of `n` instances of `command` with the HTTP health check on /health."""
    text = f"name: {name}\nnumInstances: {n}\n"
    if update: text += f"update: {json.dumps(update)}\n"
    text += (f"containers:\n  web:\n    image: {image}\n    command: {json.dumps(command)}\n"
             f"    memory: {memory}\n    ports: [\"8080\"]\n    healthcheck: {HEALTHCHECK}\n")
    if environment: text += f"    environment: {json.dumps(environment)}\n"
    return text


def pods_of_job(name):
    return subprocess.run(["podman", "pod", "ps", "-q", "--filter", f"label=ozy.job={name}"],
                          env=ENV, capture_output=True, text=True).stdout.split()


class Bench:
    def __init__(self, prefix="ozy-bench-"):
        self.work = tempfile.mkdtemp(prefix=prefix)
        self.procs = []
        self.node = f"bench{os.getpid()}"
        self.raw_sock = None
        self.token = None

    def spawn(self, args, **kwargs):
        kwargs.setdefault("stdout", subprocess.DEVNULL); kwargs.setdefault("stderr", subprocess.DEVNULL)
        p = subprocess.Popen(args, **kwargs); self.procs.append(p); return p

    def ensure_image(self):
        # The image the tests use (no registry here).
        if subprocess.run(["podman", "image", "exists", IMAGE], env=ENV).returncode != 0:
            busybox_root(self.work + "/root"); import_image(self.work + "/root", IMAGE)

    def start_etcd(self):
        cp, pp = free_port(), free_port()
        self.etcd = f"http://127.0.0.1:{cp}"
        self.spawn(["etcd", "--data-dir", self.work + "/etcd", "--listen-client-urls", self.etcd,
                    "--advertise-client-urls", self.etcd, "--listen-peer-urls", f"http://127.0.0.1:{pp}",
                    "--initial-advertise-peer-urls", f"http://127.0.0.1:{pp}",
                    "--initial-cluster", f"default=http://127.0.0.1:{pp}"])

    def start_agent(self, ozy, memory="8G", flags=()):
        d = self.work + "/agent"
        os.makedirs(d, mode=0o700)
        self.agent_log = d + "/log"
        self.spawn([ozy, "agent", "--node", self.node, "--etcd", self.etcd, "--memory", memory, "--disk", "50G",
                    "--listen", "127.0.0.1:0", "--data-dir", d, "--containers-conf", CONF, "--stop-grace", "1",
                    "--pod-network", "host", *flags],
                   stdout=open(d + "/out", "w"), stderr=open(self.agent_log, "w"))
        wait(lambda: "listening on" in open(d + "/out").read(), 30, "the agent")
        api_url = open(d + "/out").read().split("listening on ")[1].split()[0]
        self.host, port = api_url.split("//")[1].split(":")
        self.port = int(port)
        self.token = open(d + "/token").read().strip()  # made by the agent

    def start_raw_podman(self):
        self.raw_sock = self.work + "/raw.sock"
        self.spawn(["podman", "system", "service", "--time=0", "unix://" + self.raw_sock], env=ENV)
        wait(lambda: os.path.exists(self.raw_sock), 20, "the raw podman service")
        time.sleep(0.5)

    def ozy(self, method, path, body=None, timeout=30):
        """One call to the agent's API: (status, body bytes)."""
        c = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        headers = {"Authorization": "Bearer " + self.token}
        if body is not None:
            headers["Content-Type"] = "application/yaml"
        c.request(method, path, body, headers)
        r = c.getresponse(); data = r.read(); c.close()
        return r.status, data

    def stop_job(self, name, timeout=120):
        """DELETE the job and wait until its pods are gone."""
        self.ozy("DELETE", "/v1/jobs/" + name)
        wait(lambda: not pods_of_job(name), timeout, f"the pods of {name} to go", every=0.2)

    def agent_log_tail(self, lines=40):
        try:
            return "".join(open(self.agent_log).readlines()[-lines:])
        except OSError:
            return ""

    def close(self):
        for p in reversed(self.procs):
            p.terminate()
            try: p.wait(20)
            except subprocess.TimeoutExpired: p.kill(); p.wait()
        # Again while any is left: a pod whose making a stopped service was
        # in the middle of can turn up after the first look.
        for label in ("rawbench=1", f"ozy.node={self.node}"):
            for _ in range(30):
                pods = subprocess.run(["podman", "pod", "ps", "-q", "--filter", "label=" + label], env=ENV,
                                      capture_output=True, text=True).stdout.split()
                if not pods: break
                subprocess.run(["podman", "pod", "rm", "-f", *pods], env=ENV, capture_output=True)
                time.sleep(1)
        subprocess.run(["rm", "-rf", self.work])
