"""The command lines run as processes of their own, without paying Python's start-up each time.

``python -m rvsm.train`` spends most of a tiny run importing torch and Lightning (about 4 of its
6 s). Here each run is a new process forked from a server that imported them once
(multiprocessing's forkserver, with ``rvsm.train`` preloaded; the server is single-threaded, so
forking it is safe): the run gets its own pid, arguments, environment, working folder, output
files, signals and exit status, and runs the module as ``python -m`` would
(``runpy.run_module(..., run_name="__main__")``). ``fresh=True`` in the helpers starts a real
interpreter instead, for the tests that check start-up itself.
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
import runpy
import subprocess
import sys
import tempfile
from pathlib import Path

_context = multiprocessing.get_context("forkserver")
_context.set_forkserver_preload(["rvsm.train"])


def _main(module: str, args: list[str], cwd: str, env: dict, out: str, err: str) -> None:
    """The forked process: ``python -m module args`` with this environment and these files."""
    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    # as an interpreter started with this environment: PYTHONPATH before the installed packages
    sys.path[:0] = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    for fd, path in ((1, out), (2, err)):
        target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        os.dup2(target, fd)
        os.close(target)
    sys.argv = [module, *args]
    sys.modules.pop(module, None)  # as under python -m: run as __main__, not yet imported
    code = 0
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
        if not isinstance(exit_.code, int | None):
            print(exit_.code, file=sys.stderr)
    except BaseException:
        import traceback

        traceback.print_exc()
        code = 1
    finally:
        atexit._run_exitfuncs()  # as an interpreter that ends does (W&B, loggers)
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(code)


class Run:
    """A started command line, with the part of ``subprocess.Popen`` the tests use."""

    def __init__(self, module: str, args: list[str], cwd: Path, env: dict, out: Path, err: Path):
        for path in {out, err}:
            Path(path).write_bytes(b"")
        self._process = _context.Process(
            target=_main, args=(module, list(args), str(cwd), dict(env), str(out), str(err))
        )
        self._process.start()
        self.pid = self._process.pid

    @property
    def returncode(self) -> int | None:
        return self._process.exitcode

    def poll(self) -> int | None:
        return self._process.exitcode

    def wait(self, timeout: float | None = None) -> int:
        self._process.join(timeout)
        if self._process.exitcode is None:
            raise subprocess.TimeoutExpired(self._process.name, timeout)
        return self._process.exitcode

    def send_signal(self, signum: int) -> None:
        if self._process.exitcode is None:
            os.kill(self.pid, signum)

    def kill(self) -> None:
        if self._process.exitcode is None:
            self._process.kill()
        self._process.join()


def run(module: str, args: list[str], cwd: Path, env: dict, timeout: float):
    """``python -m module args`` to its end, as ``subprocess.run(..., capture_output=True,
    text=True)`` gives it."""
    with tempfile.TemporaryDirectory(prefix="rvsm-cli-") as logs:
        out, err = Path(logs) / "stdout", Path(logs) / "stderr"
        started = Run(module, args, cwd, env, out, err)
        try:
            code = started.wait(timeout)
        except subprocess.TimeoutExpired:
            started.kill()
            raise
        stdout, stderr = (p.read_text(errors="replace") for p in (out, err))
    return subprocess.CompletedProcess([module, *args], code, stdout, stderr)
