"""``make test-deploy``: the production stack run for real, on this machine's Docker engine, the
way the deployment guide (docs/deployment.md) runs it on a VPS, one summary line per step.

1. build: the stand-in images (`make images-local`) unless present, then the application's
   images with the guide's `docker compose … build` (plus deploy/compose.build-ca.yaml: pip
   behind this machine's TLS-inspecting proxy needs the host's CA bundle);
2. up: the stack from a copy of the working tree with a generated `.env` / `.env.prod`, an S3
   server (the SeaweedFS stand-in) outside the stack where B2 would be, `make migrate
   STACK=prod`, `up -d`, every container healthy; their idle memory (`docker stats`);
3. site: the host nginx container of guide §2.8 running deploy/nginx/course-supporter.conf
   with a throw-away CA's certificate, checked and reloaded with the guide's command;
4. tenant and smoke: `make create-tenant` / `make create-key STACK=prod`, then
   scripts/smoke_test.sh through TLS;
5. ingestion: a material uploaded through TLS, ingested by the agent-worker container (the
   job's `locked_by` names the container);
6. scale: courses to 3, the gateway reloaded, back to 1, under a steady load: failed requests
   counted;
7. crash: a service container's process and the worker's, mid-job, killed from the host (a
   crash: `docker kill` is a manual stop, which restart policies ignore); both come back,
   /health answers 200 again and the job finishes;
8. backup: `make backup STACK=prod`, a course made after it, the guide's restore: the course
   is gone, the earlier ones are back;
9. read: the course read through TLS with wrk at 16 and 64 connections;
10. swarm: the same services as a Swarm stack (deploy/swarm_stack.py, 2 replicas of every
    stateless service), then a rolling update of courses and auth under a steady load.

Everything it started is removed at the end (the images stay, for the next run's cache); a
dockerd it started is stopped. Exit 1 when a step fails.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from bench import wrk
from bench.course_read import lua_script
from tests.production.engine import Engine
from tests.production.load import SteadyLoad

REPO = Path(__file__).resolve().parents[2]
WORK = REPO / ".data" / "deploy-test"
TREE = WORK / "course-supporter"  # the project name compose derives from the folder
DOMAIN = "api.pythoncourse.me"
HTTPS_PORT, HTTP_PORT, S3_PORT = 18443, 18080, 18333
BUCKET = "course-materials"
# Docker's disk at its peak with the vfs driver (here): ~6 GiB of images, the compose stack, then
# 16 Swarm tasks (each a whole copy of its image) and the rolling update's new ones. A layered
# driver (overlay2, as on CI runners) shares the images' layers and needs far less.
MIN_FREE_GIB = {"vfs": 30}
MIN_FREE_GIB_LAYERED = 10
LOCAL_IMAGES = "course-supporter-local"
STAND_INS = ("python", "postgres", "redis", "nginx", "s3")
HOST_NGINX, S3_CONTAINER, STACK = "nginx", "cs-deploy-s3", "course-supporter"
COMPOSE = ["docker", "compose", "-f", "docker-compose.prod.yaml"]
# Every container of the stack except Netdata, which has no stand-in (its image is only on
# Docker Hub); `up -d` with no names would try to pull it.
SERVICES = ["postgres-cs", "redis", "auth", "uploads", "courses", "agent-api", "agent-worker", "gateway"]


class StepFailed(RuntimeError):
    pass


def run(argv: list[str], *, cwd: Path = TREE, timeout: float = 900, check: bool = True, **kwargs) -> str:
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout, **kwargs)
    if check and done.returncode != 0:
        raise StepFailed(f"{' '.join(argv)} exited {done.returncode}:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    return done.stdout


def compose(*args: str, **kwargs) -> str:
    return run([*COMPOSE, *args], **kwargs)


def wait_for(what: str, ready: Callable[[], bool], timeout: float, interval: float = 1.0) -> float:
    """Seconds until ``ready()``; StepFailed after ``timeout``."""
    started = time.monotonic()
    while True:
        try:
            if ready():
                return time.monotonic() - started
        except (requests.RequestException, subprocess.SubprocessError, StepFailed):
            pass
        if time.monotonic() - started > timeout:
            raise StepFailed(f"{what}: not within {timeout:.0f} s")
        time.sleep(interval)


class Deployment:
    def __init__(self) -> None:
        WORK.mkdir(parents=True, exist_ok=True)
        self.engine = Engine(WORK / "dockerd.log")
        self.summary: list[str] = []
        self.ca_file = str(WORK / "ca.pem")
        self.base = f"https://127.0.0.1:{HTTPS_PORT}"
        self.key = ""
        self.course_id = ""
        self.swarm = False
        self.docker_root = "/var/lib/docker"  # what `docker info` says, once the engine answers
        self.min_free_gib = MIN_FREE_GIB_LAYERED

    # ---- plumbing -----------------------------------------------------------------------

    @contextmanager
    def step(self, name: str) -> Iterator[list[str]]:
        started = time.monotonic()
        figures: list[str] = []
        print(f"{time.strftime('%H:%M:%S')} {name} …", flush=True)
        yield figures
        line = f"{name}: {'; '.join(figures)} ({time.monotonic() - started:.0f} s)"
        self.summary.append(line)
        print(f"{time.strftime('%H:%M:%S')} {line}", flush=True)

    def api(self, method: str, path: str, **kwargs) -> requests.Response:
        headers = {"X-API-Key": self.key, **kwargs.pop("headers", {})}
        return requests.request(method, self.base + path, headers=headers, verify=self.ca_file, timeout=30, **kwargs)

    def course_ids(self) -> list[str]:
        return sorted(c["id"] for c in self.api("GET", "/api/v1/courses?limit=100").json()["items"])

    def healthy(self) -> bool:
        return requests.get(self.base + "/health", verify=self.ca_file, timeout=10).status_code == 200

    def containers(self, service: str) -> list[str]:
        return compose("ps", "-q", service).split()

    def all_healthy(self) -> bool:
        """Every container healthy, or running where it has no healthcheck (the worker)."""
        state = "{{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}"
        return set(run(["docker", "inspect", "-f", state, *compose("ps", "-q").split()]).split()) <= {
            "healthy",
            "running",
        }

    def psql(self, sql: str) -> str:
        script = f'psql -U "$POSTGRES_USER" -d "$POSTGRES_DB" -Atc "{sql}"'
        return compose("exec", "-T", "postgres-cs", "sh", "-c", script).strip()

    # ---- 1. build -----------------------------------------------------------------------

    def free_gib(self) -> float:
        return shutil.disk_usage(self.docker_root).free / 2**30

    def prepare(self) -> None:
        with self.step("engine") as figures:
            self.engine.prepare(REPO)
            self.docker_root, driver = run(["docker", "info", "-f", "{{.DockerRootDir}} {{.Driver}}"], cwd=REPO).split()
            self.min_free_gib = MIN_FREE_GIB.get(driver, MIN_FREE_GIB_LAYERED)
            if self.free_gib() < self.min_free_gib:
                raise StepFailed(
                    f"{self.free_gib():.0f} GiB free in {self.docker_root}; the run needs {self.min_free_gib} "
                    f"with the {driver} storage driver"
                )
            figures.append(", ".join(self.engine.notes) or "docker, compose v2 and buildx already here")
            figures.append(run(["docker", "version", "-f", "engine {{.Server.Version}}"], cwd=REPO).strip())
        # a stack's volumes are named course-supporter_…: never touch an operator's data
        if (
            run(["docker", "ps", "-aq", "-f", f"name=^({HOST_NGINX}|{S3_CONTAINER}|{STACK}.*)$"], cwd=REPO).strip()
            or run(["docker", "volume", "ls", "-q", "-f", f"name={STACK}_"], cwd=REPO).strip()
        ):
            raise StepFailed(
                f"containers named {HOST_NGINX}, {S3_CONTAINER} or {STACK}… or volumes {STACK}_… exist on this engine: "
                "not ours to replace (a deployment kept by KEEP_DEPLOYMENT: python -m tests.production --teardown)"
            )
        shutil.rmtree(TREE, ignore_errors=True)
        TREE.mkdir(parents=True)
        # the working tree as git sees it (committed or not), without .data, .venv or .env files
        files = run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO).split("\0")
        for name in filter(None, files):
            if (REPO / name).is_file():
                (TREE / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(REPO / name, TREE / name)

    def build(self) -> None:
        with self.step("build") as figures:
            missing = [n for n in STAND_INS if not _image_exists(f"{LOCAL_IMAGES}/{n}:latest")]
            if missing:
                started = time.monotonic()
                run(["bash", "deploy/images_local.sh"], timeout=1800)
                figures.append(f"stand-ins built in {time.monotonic() - started:.0f} s")
            else:
                figures.append("stand-ins cached")
            tag = run(["git", "rev-parse", "--short=12", "HEAD"], cwd=REPO).strip() + "-deploytest"
            env = {f"{n.upper()}_IMAGE": f"{LOCAL_IMAGES}/{n}:latest" for n in STAND_INS}
            env |= {
                "IMAGE_TAG": tag,
                "HOST_CA_BUNDLE": os.environ.get("HOST_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt"),
            }
            (TREE / ".env").write_text("".join(f"{k}={v}\n" for k, v in env.items()))
            self.write_env_prod()
            started = time.monotonic()
            compose("-f", "deploy/compose.build-ca.yaml", "build", timeout=1800)
            figures.append(f"app images built in {time.monotonic() - started:.0f} s")
            sizes = run(["docker", "image", "ls", "--format", "{{.Repository}}:{{.Tag}} {{.Size}}"])
            self.images = [line for line in sizes.splitlines() if tag in line or LOCAL_IMAGES in line]
            figures.append("sizes " + ", ".join(line.split("/")[-1] for line in self.images))

    def write_env_prod(self) -> None:
        """.env.prod from the example, as an operator fills it in (guide §2.5)."""
        self.s3_keys = (secrets.token_hex(10), secrets.token_hex(20))
        bridge = bridge_address()
        values = {
            "POSTGRES_PASSWORD": secrets.token_hex(24),
            # the S3 server published on the host, reached from the containers like B2 would be
            "S3_ENDPOINT": f"http://{bridge}:{S3_PORT}",
            "S3_ACCESS_KEY": self.s3_keys[0],
            "S3_SECRET_KEY": self.s3_keys[1],
            "S3_REGION": "us-east-1",
            "S3_BUCKET": BUCKET,
            # no LLM call is made here; a key is all the settings ask for
            "OPENAI_API_KEY": "sk-deploy-test-unused",
        }
        lines = []
        for line in (TREE / ".env.prod.example").read_text().splitlines():
            name = line.split("=", 1)[0]
            lines.append(f"{name}={values.pop(name)}" if name in values else line)
        lines += [f"{k}={v}" for k, v in values.items()]
        (TREE / ".env.prod").write_text("\n".join(lines) + "\n")
        (TREE / ".env.prod").chmod(0o600)

    # ---- 2. up --------------------------------------------------------------------------

    def up(self) -> None:
        with self.step("up") as figures:
            run(
                [
                    "docker",
                    "run",
                    "-d",
                    "--name",
                    S3_CONTAINER,
                    "-p",
                    f"{S3_PORT}:8333",
                    "-e",
                    f"S3_ACCESS_KEY={self.s3_keys[0]}",
                    "-e",
                    f"S3_SECRET_KEY={self.s3_keys[1]}",
                    f"{LOCAL_IMAGES}/s3:latest",
                ]
            )
            wait_for(
                "the S3 server", lambda: requests.get(f"http://127.0.0.1:{S3_PORT}", timeout=2).status_code < 500, 60
            )
            self.create_bucket()
            run(["docker", "network", "create", "shared-net"])
            started = time.monotonic()
            compose("up", "-d", "postgres-cs", "redis")
            migrated = run(["make", "migrate", "STACK=prod"])
            applied = re.findall(r"\b\d{4}\.[a-z-]+", migrated)
            figures.append(f"make migrate STACK=prod: {len(applied)} migrations applied")
            compose("up", "-d", *SERVICES)
            wait_for("every container healthy", self.all_healthy, 180, 2)
            figures.append(f"compose up to healthy {time.monotonic() - started:.0f} s")
            time.sleep(10)  # idle: nothing has been asked of it yet
            stats = run(["docker", "stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}}"])
            self.idle_memory = [line.split(" / ")[0] for line in stats.splitlines()]
            figures.append("idle memory " + ", ".join(self.idle_memory))

    def create_bucket(self) -> None:
        """The bucket, made by the operator in production (the services create none there)."""
        import boto3

        client = boto3.client(
            "s3",
            endpoint_url=f"http://127.0.0.1:{S3_PORT}",
            aws_access_key_id=self.s3_keys[0],
            aws_secret_access_key=self.s3_keys[1],
            region_name="us-east-1",
        )
        wait_for("the S3 bucket", lambda: client.create_bucket(Bucket=BUCKET) is not None, 60)

    # ---- 3. the host site ----------------------------------------------------------------

    def site(self) -> None:
        import trustme

        with self.step("site") as figures:
            ca = trustme.CA()
            ca.cert_pem.write_to_path(self.ca_file)
            live = WORK / "letsencrypt" / "live" / DOMAIN
            live.mkdir(parents=True, exist_ok=True)
            cert = ca.issue_cert(DOMAIN, "127.0.0.1")
            cert.private_key_pem.write_to_path(str(live / "privkey.pem"))
            cert.cert_chain_pems[0].write_to_path(str(live / "fullchain.pem"))
            for pem in cert.cert_chain_pems[1:]:
                pem.write_to_path(str(live / "fullchain.pem"), append=True)
            ca.cert_pem.write_to_path(str(live / "chain.pem"))  # certbot's issuer chain, for OCSP stapling
            password = run(["openssl", "passwd", "-apr1", secrets.token_hex(8)]).strip()
            (WORK / "htpasswd").write_text(f"admin:{password}\n")
            (WORK / "www").mkdir(exist_ok=True)
            run(
                [
                    "docker",
                    "run",
                    "-d",
                    "--name",
                    HOST_NGINX,
                    "--network",
                    "shared-net",
                    "-p",
                    f"127.0.0.1:{HTTPS_PORT}:443",
                    "-p",
                    f"127.0.0.1:{HTTP_PORT}:80",
                    "-v",
                    f"{TREE / 'deploy/nginx/course-supporter.conf'}:/etc/nginx/conf.d/course-supporter.conf:ro",
                    "-v",
                    f"{WORK / 'letsencrypt'}:/etc/letsencrypt:ro",
                    "-v",
                    f"{WORK / 'htpasswd'}:/etc/nginx/.htpasswd_netdata:ro",
                    "-v",
                    f"{WORK / 'www'}:/var/www/html:ro",
                    f"{LOCAL_IMAGES}/nginx:latest",
                ]
            )
            wait_for("the host nginx", lambda: run(["docker", "exec", HOST_NGINX, "nginx", "-t"]) is not None, 30)
            # the guide's check and reload (§2.8)
            run(["sh", "-c", f"docker exec {HOST_NGINX} nginx -t && docker exec {HOST_NGINX} nginx -s reload"])
            seconds = wait_for("/health through TLS", self.healthy, 60)
            figures.append(f"nginx -t ok, /health 200 through TLS after {seconds:.1f} s")
            redirect = requests.get(
                f"http://127.0.0.1:{HTTP_PORT}/health", headers={"Host": DOMAIN}, allow_redirects=False, timeout=5
            )
            figures.append(f"port 80 answers {redirect.status_code} to {redirect.headers.get('Location')}")

    # ---- 4. tenant and smoke test ---------------------------------------------------------

    def tenant(self) -> None:
        with self.step("smoke") as figures:
            name = f"deploy-test-{secrets.token_hex(3)}"
            run(["make", "create-tenant", f"NAME={name}", "STACK=prod"])
            created = run(
                [
                    "make",
                    "create-key",
                    f"TENANT={name}",
                    "SCOPES=prep,check",
                    "LABEL=deploy-test",
                    "RATE_PREP=1000000",
                    "RATE_CHECK=1000000",
                    "STACK=prod",
                ]
            )
            found = re.search(r"^cs_live_\S+$", created, re.MULTILINE)  # the key alone on its line
            if found is None:
                raise StepFailed(f"make create-key printed no key:\n{created}")
            self.key = found.group(0)
            figures.append(f"tenant {name} and a key through make … STACK=prod")
            smoke = subprocess.run(
                [
                    "bash",
                    "scripts/smoke_test.sh",
                    "--resolve",
                    f"{DOMAIN}:{HTTPS_PORT}:127.0.0.1",
                    f"https://{DOMAIN}:{HTTPS_PORT}",
                    self.key,
                ],
                cwd=TREE,
                capture_output=True,
                text=True,
                timeout=120,
                env={**os.environ, "CURL_CA_BUNDLE": self.ca_file},
            )
            passed = smoke.stdout.count("PASS ")
            failed = [line for line in smoke.stdout.splitlines() if line.startswith("FAIL")]
            if smoke.returncode != 0 or failed:
                raise StepFailed(f"smoke_test.sh exited {smoke.returncode}:\n{smoke.stdout}{smoke.stderr}")
            figures.append(f"smoke_test.sh through TLS: {passed} PASS, 0 FAIL")

    # ---- 5. ingestion ---------------------------------------------------------------------

    def make_course(self, title: str) -> str:
        answer = self.api("POST", "/api/v1/courses", json={"title": title, "description": "make test-deploy"})
        if answer.status_code != 201:
            raise StepFailed(f"POST /api/v1/courses answered {answer.status_code}: {answer.text[:300]}")
        return answer.json()["id"]

    def upload(self, name: str, data: bytes) -> str:
        answer = self.api(
            "POST",
            f"/api/v1/courses/{self.course_id}/materials",
            data={"source_type": "text"},
            files={"file": (name, data)},
        )
        if answer.status_code != 201:
            raise StepFailed(f"upload answered {answer.status_code}: {answer.text[:300]}")
        return answer.json()["job_id"]

    def job(self, job_id: str) -> dict:
        return self.api("GET", f"/api/v1/jobs/{job_id}").json()

    def finished(self, job_id: str) -> bool:
        status = self.job(job_id)["status"]
        if status == "failed":
            raise StepFailed(f"job {job_id} failed: {self.job(job_id)}")
        return status == "succeeded"

    def ingestion(self) -> None:
        with self.step("ingestion") as figures:
            self.course_id = self.make_course("Deployed course")
            text = "\n\n".join(f"# Part {i}\n\nParagraph {i} of a material uploaded through TLS." for i in range(50))
            job_id = self.upload("notes.md", text.encode())
            seconds = wait_for("the material's job", lambda: self.finished(job_id), 120)
            worker = self.psql(f"SELECT locked_by FROM jobs WHERE id = '{uuid.UUID(job_id)}'").split(":")[0]  # noqa: S608 a UUID
            containers = {
                run(["docker", "inspect", "-f", "{{.Config.Hostname}}", c]).strip()
                for c in self.containers("agent-worker")
            }
            if worker not in containers:
                raise StepFailed(f"job {job_id} was run by {worker!r}, not the agent-worker container {containers}")
            summary = self.job(job_id).get("result") or {}
            figures.append(f"a material ingested in {seconds:.1f} s by agent-worker container {worker} ({summary})")

    # ---- 6. scale -------------------------------------------------------------------------

    def scale(self) -> None:
        with self.step("scale") as figures:
            with SteadyLoad(self.course_url, self.key, self.ca_file) as load:
                time.sleep(3)
                compose("up", "-d", "--no-deps", "--no-recreate", "--scale", "courses=3", "courses")
                wait_for(
                    "3 healthy courses", lambda: len(self.containers("courses")) == 3 and self.all_healthy(), 120, 2
                )
                compose("exec", "-T", "gateway", "nginx", "-s", "reload")
                time.sleep(5)
                served = self.served_by_courses()
                compose("up", "-d", "--no-deps", "--no-recreate", "--scale", "courses=1", "courses")
                compose("exec", "-T", "gateway", "nginx", "-s", "reload")
                time.sleep(5)
            figures.append(f"courses 1 -> 3 -> 1 with gateway reloads; requests per courses container at 3: {served}")
            figures.append(load.counts())
            if load.failed or min(served) == 0:
                raise StepFailed(f"scale: {'; '.join(figures)}")

    def served_by_courses(self) -> list[int]:
        """GETs each courses container logged in the last 5 s: the gateway balances over all."""
        counts = []
        for container in self.containers("courses"):
            logs = subprocess.run(
                ["docker", "logs", "--since", "5s", container],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            ).stdout
            counts.append(logs.count(f"/api/v1/courses/{self.course_id}"))
        return counts

    @property
    def course_url(self) -> str:
        return f"{self.base}/api/v1/courses/{self.course_id}"

    # ---- 7. crash and recovery --------------------------------------------------------------

    def crash(self, container: str) -> None:
        """The container's main process killed from the host, as a crash or the OOM killer would."""
        pid = run(["docker", "inspect", "-f", "{{.State.Pid}}", container]).strip()
        os.kill(int(pid), 9)

    def restarts(self, container: str) -> int:
        return int(run(["docker", "inspect", "-f", "{{.RestartCount}}", container]).strip())

    def recovery(self) -> None:
        with self.step("crash") as figures:
            courses = self.containers("courses")[0]
            self.crash(courses)
            seconds = wait_for("courses restarted", lambda: self.restarts(courses) >= 1, 60, 0.5)
            healthy = wait_for("/health 200 after the crash", lambda: self.healthy() and self.all_healthy(), 120, 0.5)
            figures.append(f"courses killed: restarted after {seconds:.1f} s, healthy after {seconds + healthy:.1f} s")
            # a job long enough to be caught running: 40 000 paragraphs
            text = "\n\n".join(f"Paragraph {i}: " + "words of a long transcript " * 8 for i in range(40_000))
            job_id = self.upload("long.md", text.encode())
            wait_for("the long job running", lambda: self.job(job_id)["status"] == "running", 60, 0.2)
            worker = self.containers("agent-worker")[0]
            killed = time.monotonic()
            self.crash(worker)
            back = wait_for("the worker restarted", lambda: self.restarts(worker) >= 1, 60, 0.5)
            wait_for("the interrupted job finished", lambda: self.finished(job_id), 300, 1)
            job = self.job(job_id)
            figures.append(
                f"worker killed mid-job: restarted after {back:.1f} s, "
                f"the job finished {time.monotonic() - killed:.0f} s after the kill "
                f"(attempts {job.get('attempts', '?')}; the lease lapses in 30 s)"
            )

    # ---- 8. backup and restore ---------------------------------------------------------------

    def backup(self) -> None:
        with self.step("backup") as figures:
            before = self.course_ids()
            dumped = run(["make", "backup", "STACK=prod"])
            # "backups/course_supporter_….dump (N bytes)", among a sub-make's directory lines
            found = re.search(r"^(backups/\S+\.dump) \((\d+) bytes\)$", dumped, re.MULTILINE)
            if found is None:
                raise StepFailed(f"make backup STACK=prod printed no dump:\n{dumped}")
            path, size = found.groups()
            later = self.make_course("Made after the backup")
            services = ["gateway", "auth", "uploads", "courses", "agent-api", "agent-worker"]
            compose("stop", *services)  # the guide's restore (§7)
            run(["make", "restore", "STACK=prod", f"FILE={path}"])
            compose("up", "-d", *SERVICES)
            wait_for("healthy after the restore", lambda: self.healthy() and self.all_healthy(), 180, 1)
            after = self.course_ids()
            if after != before or self.api("GET", f"/api/v1/courses/{later}").status_code != 404:
                raise StepFailed(f"restore: courses before {before}, after {after}; the later one {later}")
            figures.append(f"{path} ({size} bytes) restored: {len(after)} courses as before, the later one 404")

    # ---- 9. reads through TLS -----------------------------------------------------------------

    def read(self) -> None:
        with self.step("read") as figures:
            script = lua_script(self.key)
            try:
                wrk.run(self.course_url, connections=16, seconds=3, script=script)  # warm-up
                for connections in (16, 64):
                    result = wrk.run(self.course_url, connections=connections, seconds=10, script=script)
                    figures.append(
                        f"{connections} connections {result.requests_per_second:.0f} req/s p50 {result.p50_ms:.1f} ms "
                        f"p99 {result.p99_ms:.1f} ms, {result.non_2xx + result.socket_errors} errors"
                    )
            finally:
                os.unlink(script)

    # ---- 10. swarm ---------------------------------------------------------------------------

    def swarm_stack(self) -> None:
        with self.step("swarm") as figures:
            config = compose("config", "--format", "json", *SERVICES)
            compose("down")  # the volumes stay: the Swarm's postgres-cs takes the same one
            run(["docker", "network", "disconnect", "shared-net", HOST_NGINX])
            run(["docker", "network", "rm", "shared-net"])
            address = bridge_address()
            # one dead task kept per slot, not five: with the vfs driver each is a whole copy of its image
            run(["docker", "swarm", "init", "--advertise-addr", address, "--task-history-limit", "1"])
            self.swarm = True
            run(["docker", "network", "create", "-d", "overlay", "--attachable", "shared-net"])
            run(["docker", "network", "connect", "shared-net", HOST_NGINX])
            # the virtual IP in front of a service's tasks needs the kernel's IPVS
            if shutil.which("modprobe"):
                subprocess.run(["modprobe", "ip_vs"], capture_output=True, check=False)
            vip = Path("/proc/net/ip_vs").exists()
            mode = "vip" if vip else "dnsrr"
            stack = run(["python3", "deploy/swarm_stack.py", "--replicas", "2", "--endpoint-mode", mode], input=config)
            started = time.monotonic()
            run(["docker", "stack", "deploy", "-c", "-", STACK], input=stack)
            try:
                wait_for("every replica running", self.replicas_ready, 240, 2)
            except StepFailed as exc:
                raise StepFailed(f"{exc}; tasks that ended:\n{self.task_errors()}") from None
            wait_for("/health through TLS on the Swarm", self.healthy, 120, 1)
            replicas = run(["docker", "stack", "services", STACK, "--format", "{{.Name}}={{.Replicas}}"]).split()
            figures.append(
                f"stack up ({mode}{'' if vip else ': this kernel has no IPVS'}) and /health 200 in "
                f"{time.monotonic() - started:.0f} s: {' '.join(sorted(replicas))}"
            )
            # Under dnsrr the gateway knows its services' task addresses from its last reload, so
            # only the gateway itself can roll without one; a virtual IP hides every task change.
            rolled = ("courses", "auth", "gateway") if vip else ("gateway",)
            with SteadyLoad(self.course_url, self.key, self.ca_file) as load:
                time.sleep(3)
                started = time.monotonic()
                for service in rolled:
                    run(
                        ["docker", "service", "update", "--force", "--detach=false", "--quiet", f"{STACK}_{service}"],
                        timeout=600,
                    )
                updated = time.monotonic() - started
                time.sleep(3)
            figures.append(f"rolling update of {', '.join(rolled)} (start-first) in {updated:.0f} s: {load.counts()}")
            if load.failed:
                raise StepFailed(f"swarm rolling update: {load.counts()}")

    def task_errors(self) -> str:
        tasks = run(
            ["docker", "stack", "ps", STACK, "--no-trunc", "--format", "{{.Name}} {{.CurrentState}} {{.Error}}"]
        )
        return "\n".join(line for line in tasks.splitlines() if "Running" not in line)[-3000:]

    def replicas_ready(self) -> bool:
        if self.free_gib() < self.min_free_gib / 2:
            raise StepFailed(
                f"only {self.free_gib():.1f} GiB left where Docker keeps its data: stopped before it fills"
            )
        lines = run(["docker", "stack", "services", STACK, "--format", "{{.Replicas}}"]).split()
        return bool(lines) and all(a == b for a, b in (line.split("/") for line in lines))

    # ---- teardown ----------------------------------------------------------------------------

    def teardown(self) -> None:
        quietly = {"check": False, "timeout": 300, "cwd": REPO}
        if self.swarm:
            run(["docker", "stack", "rm", STACK], **quietly)
            try:
                wait_for(
                    "the stack removed",
                    lambda: not run(["docker", "ps", "-aq", "-f", f"name={STACK}_"], **quietly).strip(),
                    120,
                )
            except StepFailed as exc:
                print(f"teardown: {exc}", file=sys.stderr)
            run(["docker", "swarm", "leave", "--force"], **quietly)
        if (TREE / "docker-compose.prod.yaml").exists():
            compose("down", "-v", "--remove-orphans", **{**quietly, "cwd": TREE})
        run(["docker", "rm", "-f", "-v", HOST_NGINX, S3_CONTAINER], **quietly)
        try:  # a task or container still being removed holds its volume for a moment
            wait_for("the stack's volumes removed", lambda: self.remove_volumes(quietly), 60)
        except StepFailed as exc:
            print(f"teardown: {exc}", file=sys.stderr)
        run(["docker", "network", "rm", "shared-net", "docker_gwbridge"], **quietly)  # the latter: the Swarm's
        self.engine.stop()
        shutil.rmtree(WORK, ignore_errors=True)

    def remove_volumes(self, quietly: dict) -> bool:
        """Remove the stack's volumes; True once none is left."""
        volumes = run(["docker", "volume", "ls", "-q", "-f", f"name={STACK}_"], **quietly).split()
        if volumes:
            run(["docker", "volume", "rm", *volumes], **quietly)
        return not volumes


def bridge_address() -> str:
    """The host's address on Docker's default bridge: where containers reach what it publishes."""
    return run(["docker", "network", "inspect", "bridge", "-f", "{{(index .IPAM.Config 0).Gateway}}"], cwd=REPO).strip()


def _image_exists(name: str) -> bool:
    return subprocess.run(["docker", "image", "inspect", name], capture_output=True).returncode == 0


def main(argv: list[str]) -> int:
    if os.geteuid() != 0:
        print("make test-deploy runs Docker and apt-get: run it as root", file=sys.stderr)
        return 2
    deployment = Deployment()
    if argv == ["--teardown"]:
        deployment.swarm = True  # leaving a Swarm that is not there is harmless
        deployment.teardown()
        return 0
    started = time.monotonic()
    failure = None
    try:
        deployment.prepare()
        for step in (
            deployment.build,
            deployment.up,
            deployment.site,
            deployment.tenant,
            deployment.ingestion,
            deployment.scale,
            deployment.recovery,
            deployment.backup,
            deployment.read,
            deployment.swarm_stack,
        ):
            step()
    except Exception as exc:  # any failure is reported, and the stack torn down
        failure = f"{type(exc).__name__}: {exc}"
    finally:
        if failure and os.environ.get("KEEP_DEPLOYMENT"):
            print("KEEP_DEPLOYMENT: left running; remove it with .venv/bin/python -m tests.production --teardown")
        else:
            print(f"{time.strftime('%H:%M:%S')} teardown …", flush=True)
            deployment.teardown()
    print("\nmake test-deploy summary")
    for line in deployment.summary:
        print(f"  {line}")
    total = time.monotonic() - started
    if failure:
        print(f"FAILED after {total:.0f} s: {failure}")
        return 1
    print(f"passed: {len(deployment.summary)} steps in {total:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
