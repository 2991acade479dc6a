"""A one-node SLURM cluster on this machine, with accounting: ``python -m tests.slurm_cluster
start|stop|status``.

For the SLURM tests (``make test-slurm``) and for trying ``hydra/launcher=slurm`` on a workstation
before a real cluster. Debian only, as root: the packages are installed with apt when missing,
the daemons run in the foreground in sessions of their own (they outlive the command), their
ids are kept in ``STATE/daemons.json``, and ``stop`` ends only those. The cluster uses the
system-wide ``/etc/slurm`` and localhost ports 6817-6819 (mariadb listens on 6820), so there is one
per machine; ``start`` refuses when those ports are taken or ``/etc/slurm/slurm.conf`` is not ours.

Two partitions share the node: ``PARTITION`` (the default, PriorityTier 1) and ``HIGH_PARTITION``
(PriorityTier 2), whose jobs preempt the others' (``PreemptMode=REQUEUE``): the preempted job's
steps get their ``--signal`` at once (``preempt_send_user_signal``), SIGTERM ``GRACE_S`` later,
and the job is requeued. Measured pitfalls the settings below answer, each seen on Slurm 22.05:
without accounting submitit cannot see a job that died without a result and waits forever; a
requeued job waits ``cred_expire`` seconds (default 120) before it restarts; the default scheduler
intervals make jobs wait seconds to start; a job without ``--mem`` takes the whole node unless
``DefMemPerCPU`` is set, and one asking for more than the node has pends forever unless
``EnforcePartLimits=ALL``; a shutdown with jobs still being killed leaves slurmd retrying, so
``stop`` cancels, waits for an empty queue, shuts the controller down, then stops slurmdbd before
mariadb; a cluster whose daemons ended without ``stop`` (a killed session, a restored machine
image) leaves its queue in the controller's state, which the next controller would recover as
jobs still running on the node, holding its CPUs for the rest of their time limit, so ``start``
begins from an empty state: the queue and the accounting database both (job ids start again at 1,
and a kept database answered for an old job of the same id: a new job's launcher saw COMPLETED).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

PACKAGES = ("slurmctld", "slurmd", "slurm-client", "munge", "slurmdbd", "mariadb-server")
CLUSTER = "rvsm"
PARTITION, HIGH_PARTITION = "rvsm", "rvsm_high"
GRACE_S = 30  # preempted job: its --signal at once, SIGTERM this much later
PORTS = {"slurmctld": 6817, "slurmd": 6818, "slurmdbd": 6819, "mariadbd": 6820}
ETC = Path("/etc/slurm")
STATE = Path(os.environ.get("RVSM_SLURM_STATE", "/var/lib/rvsm-slurm"))
MARKER = "# written by tests.slurm_cluster"
# the same script's marker when it lived in the package (rvsm/runtime/slurm_cluster.py): a cluster
# it set up is still ours to start again
MARKERS = (MARKER, "# written by rvsm.runtime.slurm_cluster")
START_TIMEOUT_S = 60


class ClusterError(Exception):
    """Why the cluster cannot be started or stopped, in one line."""


def _run(*cmd: str, timeout: float = 60, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        last = (result.stderr or result.stdout).strip().splitlines()
        raise ClusterError(f"{' '.join(cmd)} failed: {last[-1] if last else result.returncode}")
    return result


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _wait(what: str, ready, timeout: float = START_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise ClusterError(f"{what} not ready after {timeout:.0f} s; logs in {STATE / 'log'}")
        time.sleep(0.1)


def _daemons() -> dict[str, int]:
    """The daemons this script started and that still run: name -> process id."""
    try:
        recorded = json.loads((STATE / "daemons.json").read_text())
    except (OSError, ValueError):
        return {}
    alive = {}
    for name, pid in recorded.items():
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
        except OSError:
            continue
        if Path(cmdline.decode()).name == name:  # not a recycled process id
            alive[name] = pid
    return alive


def _record(daemons: dict[str, int]) -> None:
    from rvsm.utils.io import write_json

    write_json(STATE / "daemons.json", daemons)


def check_can_start() -> None:
    """Refuse, in one line, where a cluster cannot be started here."""
    if os.geteuid() != 0:
        raise ClusterError("needs root (it installs packages and writes /etc/slurm); run as root")
    if shutil.which("apt-get") is None:
        raise ClusterError("needs a Debian machine with apt-get; install Slurm by hand elsewhere")
    if _daemons():
        raise ClusterError(f"already running ({', '.join(_daemons())}); stop it first")
    taken = [f"{port} ({name})" for name, port in PORTS.items() if _listening(port)]
    if taken:
        raise ClusterError(
            f"port {', '.join(taken)} already in use on localhost: another cluster runs here"
        )
    conf = ETC / "slurm.conf"
    if conf.exists() and not any(m in conf.read_text() for m in MARKERS):
        raise ClusterError(f"{conf} exists and was not written by this script; not touching it")


def install() -> None:
    """apt-get install the packages that are missing (the package lists updated once first)."""
    status = _run("dpkg-query", "-W", "-f=${Package} ${Status}\\n", *PACKAGES, check=False)
    installed = {
        line.split()[0] for line in status.stdout.splitlines() if line.endswith(" installed")
    }
    missing = [p for p in PACKAGES if p not in installed]
    if not missing:
        return
    print(f"slurm_cluster: installing {' '.join(missing)}", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    lock = ("-o", "DPkg::Lock::Timeout=300")  # another apt-get may hold the lock for a while
    for cmd in (("update", "-qq"), ("install", "-y", "-qq", "--no-install-recommends", *missing)):
        result = subprocess.run(
            ["apt-get", *lock, *cmd], env=env, capture_output=True, text=True, timeout=900
        )
        if result.returncode != 0:
            last = (result.stderr or result.stdout).strip().splitlines()
            raise ClusterError(f"apt-get {cmd[0]} failed: {last[-1] if last else '?'}")


def _memory_mb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024
    raise ClusterError("cannot read MemTotal from /proc/meminfo")


def slurm_conf(host: str, cpus: int, memory_mb: int) -> str:
    """slurm.conf for one node ``host`` with ``cpus`` and ``memory_mb`` to give to jobs."""
    return f"""{MARKER}; python -m tests.slurm_cluster stop removes the cluster
ClusterName={CLUSTER}
SlurmctldHost={host}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=cred_expire=5
SlurmctldPort={PORTS["slurmctld"]}
SlurmdPort={PORTS["slurmd"]}
StateSaveLocation={STATE}/ctld
SlurmdSpoolDir={STATE}/d
SlurmctldPidFile={STATE}/slurmctld.pid
SlurmdPidFile={STATE}/slurmd.pid
SlurmctldLogFile={STATE}/log/slurmctld.log
SlurmdLogFile={STATE}/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0,bf_interval=1,sched_interval=1,sched_min_interval=0
DefMemPerCPU={min(1024, memory_mb // cpus)}
EnforcePartLimits=ALL
ReturnToService=2
JobRequeue=1
MinJobAge=600
KillWait=5
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort={PORTS["slurmdbd"]}
JobAcctGatherType=jobacct_gather/none
PreemptType=preempt/partition_prio
PreemptMode=REQUEUE
SlurmctldParameters=preempt_send_user_signal
NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={memory_mb} State=UNKNOWN
PartitionName={PARTITION} Nodes={host} Default=YES PriorityTier=1 GraceTime={GRACE_S} State=UP
PartitionName={HIGH_PARTITION} Nodes={host} PriorityTier=2 State=UP
"""


def slurmdbd_conf(password: str) -> str:
    return f"""{MARKER}
AuthType=auth/munge
DbdHost=localhost
DbdPort={PORTS["slurmdbd"]}
SlurmUser=root
PidFile={STATE}/slurmdbd.pid
LogFile={STATE}/log/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort={PORTS["mariadbd"]}
StorageUser=slurm
StoragePass={password}
StorageLoc=slurm_acct_db
"""


class _Starter:
    """Starts daemons in the foreground, each in its own session, output in ``STATE/log``."""

    def __init__(self) -> None:
        self.started: dict[str, int] = {}

    def __call__(self, *cmd: str, user: str | None = None) -> None:
        name = Path(cmd[0]).name
        with open(STATE / "log" / f"{name}.out", "ab") as out:
            proc = subprocess.Popen(
                cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, user=user
            )
        self.started[name] = proc.pid
        _record(self.started)


def _start_database(start: _Starter) -> str:
    """mariadb in ``STATE/mysql`` (made once), with a user for slurmdbd and no accounting left
    from an earlier cluster (slurmdbd makes the tables again); returns the user's password."""
    datadir, sock = STATE / "mysql", STATE / "mysqld.sock"
    if not (datadir / "mysql").is_dir():
        _run("mariadb-install-db", f"--datadir={datadir}", "--user=root", "--skip-test-db",
             timeout=120)  # fmt: skip
    start(
        "/usr/sbin/mariadbd", "--no-defaults", f"--datadir={datadir}", f"--socket={sock}",
        f"--port={PORTS['mariadbd']}", "--bind-address=127.0.0.1", "--user=root",
        f"--pid-file={STATE}/mariadbd.pid", "--skip-log-bin",
    )  # fmt: skip
    _wait("mariadbd", lambda: _listening(PORTS["mariadbd"]))
    password = secrets.token_hex(12)
    sql = (
        "DROP DATABASE IF EXISTS slurm_acct_db; "
        f"CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1'; "
        f"ALTER USER 'slurm'@'127.0.0.1' IDENTIFIED BY '{password}'; "
        "GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';"
    )
    _run("mariadb", "--no-defaults", f"--socket={sock}", "-uroot", "-e", sql)
    return password


def start() -> float:
    """Install if needed, write the configuration, start the daemons; returns the seconds the
    daemons took to come up (installing not counted)."""
    check_can_start()
    install()
    began = time.monotonic()
    host = socket.gethostname().split(".")[0]
    for sub in ("ctld", "d"):  # no daemon of ours runs (checked): what is left here is stale
        shutil.rmtree(STATE / sub, ignore_errors=True)
    for sub in ("ctld", "d", "log"):
        (STATE / sub).mkdir(parents=True, exist_ok=True)
    ETC.mkdir(exist_ok=True)
    (ETC / "slurm.conf").write_text(slurm_conf(host, os.cpu_count() or 1, _memory_mb() * 8 // 10))
    starter = _Starter()
    try:
        Path("/run/munge").mkdir(exist_ok=True)
        shutil.chown("/run/munge", "munge", "munge")
        starter("/usr/sbin/munged", "--foreground", user="munge")
        _wait("munged", lambda: Path("/run/munge/munge.socket.2").exists())
        dbd = ETC / "slurmdbd.conf"
        dbd.write_text(slurmdbd_conf(_start_database(starter)))
        dbd.chmod(0o600)
        starter("/usr/sbin/slurmdbd", "-D")
        _wait("slurmdbd", lambda: _listening(PORTS["slurmdbd"]))
        clusters = _run("sacctmgr", "-n", "-P", "list", "cluster", "format=cluster").stdout
        if CLUSTER not in clusters.split():
            _run("sacctmgr", "-i", "add", "cluster", CLUSTER)
        starter("/usr/sbin/slurmctld", "-D", "-i")
        _wait("slurmctld", lambda: _listening(PORTS["slurmctld"]))
        starter("/usr/sbin/slurmd", "-D", "-N", host)
        _wait("the node", lambda: _node_state() in ("idle", "mixed", "allocated"))
    except BaseException:
        stop()
        raise
    return time.monotonic() - began


def _node_state() -> str:
    result = _run("sinfo", "-h", "-N", "-o", "%T", check=False, timeout=10)
    return result.stdout.split()[0] if result.returncode == 0 and result.stdout.split() else ""


def _end(name: str, pid: int, timeout: float = 30) -> None:
    """SIGTERM one daemon we started, SIGKILL it if it has not ended after ``timeout``."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout
        while name in _daemons() and time.monotonic() < deadline:
            time.sleep(0.1)
        if name not in _daemons():
            return


def queued() -> list[str]:
    """The ids of the jobs in the queue (pending, running or completing)."""
    queue = _run("squeue", "-h", "-o", "%i", check=False, timeout=10)
    return queue.stdout.split() if queue.returncode == 0 else []


def cancel_all(timeout: float = 60) -> list[str]:
    """Cancel every job of both partitions and wait until the queue is empty (or ``timeout``);
    the jobs still queued then."""
    _run("scancel", "--full", "--quiet", f"--partition={PARTITION},{HIGH_PARTITION}",
         check=False)  # fmt: skip
    deadline = time.monotonic() + timeout
    while (left := queued()) and time.monotonic() < deadline:
        time.sleep(0.5)
    return left


def stop() -> None:
    """Cancel every job, wait for an empty queue, then stop our daemons in order."""
    daemons = _daemons()
    if "slurmctld" in daemons:
        cancel_all()
        _run("scontrol", "shutdown", check=False, timeout=30)
    for name in ("slurmd", "slurmctld", "slurmdbd", "mariadbd", "munged"):
        if name in daemons:
            _end(name, daemons[name])
    (STATE / "daemons.json").unlink(missing_ok=True)


def status() -> bool:
    """Print which of our daemons run and the node's state; True when all of them run."""
    daemons = _daemons()
    names = ("munged", "mariadbd", "slurmdbd", "slurmctld", "slurmd")
    for name in names:
        print(f"{name}: {'running, pid ' + str(daemons[name]) if name in daemons else 'stopped'}")
    if "slurmctld" in daemons:
        print(f"node: {_node_state() or 'unknown'}; partitions {PARTITION}, {HIGH_PARTITION}")
    return all(name in daemons for name in names)


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in ("start", "stop", "status"):
        print("usage: python -m tests.slurm_cluster start|stop|status", file=sys.stderr)
        return 2
    try:
        if argv[0] == "start":
            seconds = start()
            print(f"slurm_cluster: up in {seconds:.1f} s; partitions {PARTITION} (default) and "
                  f"{HIGH_PARTITION} (preempts it); stop with "
                  "python -m tests.slurm_cluster stop")  # fmt: skip
        elif argv[0] == "stop":
            stop()
            print("slurm_cluster: stopped")
        else:
            return 0 if status() else 1
    except (ClusterError, subprocess.TimeoutExpired, OSError) as err:
        print(f"slurm_cluster: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
