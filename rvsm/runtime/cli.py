"""The command lines' error handling: bad settings as one line and exit status 2, before Hydra.

Shared by every entry point (``rvsm.train``, ``rvsm.eval``, ``rvsm.severity``, ``rvsm.export``),
so that none of them imports another to report an error.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import hydra
from omegaconf import DictConfig

from rvsm.runtime.checks import CONF_DIR, ConfigError, root_message
from rvsm.runtime.local_launchers import quiet_launcher_schema_warning
from rvsm.runtime.precheck import check_command_line


def fail(err: BaseException) -> None:
    """Report a bad setting as one line on stderr and exit with status 2."""
    print(f"rvsm: error: {root_message(err)}", file=sys.stderr, flush=True)
    sys.exit(2)


def run_task(task: Callable[[DictConfig], object], config_name: str) -> None:
    """A command line: checked in one line per problem, then Hydra runs ``task`` on
    ``conf/<config_name>.yaml``."""
    quiet_launcher_schema_warning()
    try:
        check_command_line(sys.argv[1:], config_name=config_name)
    except ConfigError as err:
        fail(err)
    hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name=config_name)(task)()
