"""The command line, checked before Hydra starts any job: one line per problem, no traceback.

Group choices must exist (on Hydra's search path too), keys must exist, and every point of every
sweep must build (``rvsm.runtime.build``: each part validates its own settings). Sweeps are read
in all of Hydra's syntax: ``a,b``, ``choice()``, ``range()`` and ``glob()`` are enumerated value
by value; an ``interval()`` (with or without ``tag()``) is checked at its two bounds, and only a
search sweeper can sample it, so with the basic sweeper it is refused. Grids and search spaces
set inside presets (``hydra.sweeper.params``) are expanded the same way; a command-line value for
the same key replaces the preset's, as the basic sweeper does; a searched key under a condition
(``hydra.sweeper.conditions``) is composed only with its condition. The search's own settings
are checked by ``rvsm.search.checks``. Sweeps are walked side by side, not as their
full product: each value is composed at least once.
"""

from __future__ import annotations

import difflib
import os
import shlex
from collections.abc import Sequence
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Glob, IntervalSweep, Override
from hydra.errors import (
    ConfigCompositionException,
    HydraException,
    InstantiationException,
    OverrideParseException,
)
from hydra.utils import get_class
from omegaconf import DictConfig, OmegaConf, open_dict

from rvsm.runtime.checks import (
    CONF_DIR,
    MOVED,
    ConfigError,
    moved,
    root_cause,
    root_message,
    validate,
)
from rvsm.runtime.sweep_outcome import BASIC_SWEEPER


def _search_dirs(overrides: list[Override]) -> list[Path] | None:
    """The config folders: ours and those of ``hydra.searchpath`` (None if one is not a folder,
    e.g. a ``pkg://`` path, whose groups cannot be listed here)."""
    dirs = [CONF_DIR]
    for override in overrides:
        if override.key_or_group == "hydra.searchpath":
            for entry in override.value() or []:
                if not str(entry).startswith("file://"):
                    return None
                dirs.append(Path(str(entry)[len("file://") :]))
    return dirs


def group_options(group: str, dirs: Sequence[Path] = (CONF_DIR,)) -> list[str]:
    """A group's options, those in its subfolders as ``sweep/default``."""
    return sorted(
        {
            p.relative_to(Path(d) / group).with_suffix("").as_posix()
            for d in dirs
            for p in (Path(d) / group).rglob("*.yaml")
        }
    )


def nearest(name: str, candidates: Sequence[str]) -> str | None:
    """The candidate closest to a misspelt ``name`` (difflib's ratio >= 0.6), or None."""
    found = difflib.get_close_matches(name, list(candidates), n=1)
    return found[0] if found else None


def task_groups(cfg: DictConfig) -> list[str]:
    """The config groups a composed task config took (its defaults list), Hydra's own aside."""
    choices = OmegaConf.select(cfg, "hydra.runtime.choices", default=None) or {}
    return sorted(g for g in choices if g != "hydra" and not g.startswith("hydra/"))


def _groups(dirs: Sequence[Path]) -> set[str]:
    """Config groups, nested ones as ``model/optimizer``."""
    return {
        p.relative_to(d).as_posix()
        for d in map(Path, dirs)
        if d.is_dir()
        for p in d.rglob("*")
        if p.is_dir()
    }


class _Values:
    """The values one override stands for: enumerated, or an interval's two bounds."""

    def __init__(self, override: Override, options: list[str] | None) -> None:
        self.override, self.interval = override, isinstance(override.value(), IntervalSweep)
        value = override.value()
        if isinstance(value, Glob):
            self.items = value.filter(options or [])
            if not self.items:
                raise ConfigError(f"{override.input_line}: the glob matches no choice")
        elif self.interval:
            self.items = [repr(value.start), repr(value.end)]
        elif override.is_sweep_override():
            self.items = list(override.sweep_string_iterator())
        else:
            self.items = [override.get_value_element_as_str()]

    def text(self, i: int) -> str:
        if not self.override.is_sweep_override():
            return self.override.input_line  # as given (1e-4, not 0.0001)
        prefix = {"ADD": "+", "FORCE_ADD": "++", "DEL": "~"}.get(self.override.type.name, "")
        value = self.items[i % len(self.items)]
        return f"{prefix}{self.override.get_key_element()}={value}"


def _parse(argv: Sequence[str]) -> list[Override]:
    # overrides: key=value, and deletions (~key, ~group), not flags (--cfg=job)
    overrides = [a for a in argv if ("=" in a or a.startswith("~")) and not a.startswith("-")]
    return OverridesParser.create().parse_overrides(overrides)


def _values(overrides: list[Override], dirs: list[Path] | None) -> list[_Values]:
    """Each user override's values; group choices must exist."""
    groups = _groups(dirs) if dirs else set()
    out = []
    for override in overrides:
        group = override.key_or_group
        options = group_options(group, dirs) if group in groups else None
        values = _Values(override, options)
        if options is not None and not override.is_delete():
            for choice in values.items:
                if choice not in options and choice != "null":
                    near = nearest(choice, options)
                    hint = f"did you mean {group}={near}? " if near else ""
                    raise ConfigError(
                        f"{group}={choice} is not a known choice; {hint}choose from {options}"
                    )
        out.append(values)
    return out


def _refuse_intervals(values: list[_Values], sweeper: str | None) -> None:
    if sweeper not in (None, BASIC_SWEEPER):
        return
    for v in values:
        if v.interval:
            raise ConfigError(
                f"{v.override.input_line}: an interval is sampled only by a search sweeper "
                "(e.g. -m hparams_search=...); the basic sweeper enumerates choice, range and "
                "glob values"
            )


def _compose(config_name: str, line: list[str], command: str = "") -> DictConfig:
    try:
        return compose(config_name=config_name, overrides=line, return_hydra_config=True)
    except ConfigCompositionException as err:
        raise ConfigError(_composition_message(err, config_name, line, command)) from None
    except HydraException as err:
        raise ConfigError(" ".join(str(err).split())) from None


def _check_point(cfg: DictConfig) -> None:
    """Everything a job checks before it generates data: the run's settings, then its parts."""
    with open_dict(cfg):  # what Hydra sets when it runs a job, for ${hydra:...} paths
        cfg.hydra.runtime.cwd = cfg.hydra.runtime.output_dir = os.getcwd()
    HydraConfig.instance().set_config(cfg)
    cfg = OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"])
    if all(k in cfg for k in ("data", "model", "method", "splitting")):
        from rvsm.runtime.build import build  # imports the training stack only when needed

        try:
            build(cfg)
        except (ValueError, InstantiationException) as err:  # a part refused its settings
            if isinstance(root_cause(err), ValueError):
                raise ConfigError(root_message(err)) from None
            raise
    else:
        validate(cfg)


def check_command_line(
    argv: Sequence[str], config_name: str = "train", command: str | None = None
) -> None:
    """Raise ConfigError for the first problem of a command line, before any job starts
    (``command``, e.g. ``rvsm.eval``, names the command in the messages)."""
    command = command or f"rvsm.{config_name}"
    _check_flags(argv, command)
    try:
        parsed = _parse(argv)
    except OverrideParseException:  # malformed: Hydra itself reports it
        return
    dirs = _search_dirs(parsed)
    user = _values([o for o in parsed if not o.key_or_group.startswith("hydra")], dirs)
    if not user:  # the config as written: each job's build checks it, no need to compose
        return
    hydra_line = [o.input_line for o in parsed if o.key_or_group.startswith("hydra")]
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        # the plain values pick the configs, and with them the sweeper and a search's conditions
        plain = [v.text(0) for v in user if not v.override.is_sweep_override()]
        probe = _compose(config_name, hydra_line + plain, command)
        _sweeper_precheck(probe, [v.override.input_line for v in user])
        conditions = OmegaConf.select(probe, "hydra.sweeper.conditions", default=None) or {}
        # a key searched under a condition is composed with its condition, as the preset's are
        held = [v for v in user if _key(v) in conditions]
        user = [v for v in user if _key(v) not in conditions]
        for values in _walk(user):
            line = hydra_line + values
            cfg = probe if line == hydra_line + plain else _compose(config_name, line, command)
            sweeper = OmegaConf.select(cfg, "hydra.sweeper._target_", default=None)
            _refuse_intervals(user + held, sweeper)
            preset = held + _preset_values(cfg, {_key(v) for v in user + held}, dirs)
            _refuse_intervals(preset, sweeper)
            for extra in _preset_lines(preset, conditions, dirs):
                _check_point(_compose(config_name, line + extra, command) if extra else cfg)


def _sweeper_precheck(cfg: DictConfig, overrides: list[str]) -> None:
    """The configured sweeper's own check of its settings (a ``precheck(cfg, overrides)``
    static method, as the search's sweeper has), found through its ``_target_``: a sweeper
    registers its check by carrying it, so this floor imports no sweeper."""
    target = OmegaConf.select(cfg, "hydra.sweeper._target_", default=None)
    if not target or target.startswith("hydra._internal"):  # Hydra's own sweepers
        return
    check = getattr(get_class(target), "precheck", None)
    if check is not None:
        check(cfg, overrides)


def _key(values: _Values) -> str:
    return values.override.get_key_element()


def _walk(values: list[_Values]) -> list[list[str]]:
    """The values side by side: line j takes each sweep's j-th value (cycling the shorter)."""
    return [[v.text(j) for v in values] for j in range(max([len(v.items) for v in values] or [1]))]


def _preset_lines(
    preset: list[_Values], conditions: dict[str, str], dirs: list[Path] | None
) -> list[list[str]]:
    """Lines that compose each preset value at least once; a key of a search's ``conditions``
    (``key: other=value``) only in lines that also set ``other=value``, as its trials do."""
    plain = [v for v in preset if _key(v) not in conditions]
    lines = _walk(plain)
    for condition in sorted({str(c) for c in conditions.values()}):
        other = condition.partition("=")[0]
        branch = [v for v in plain if _key(v) != other] + _values(_parse([condition]), dirs)
        lines += _walk(branch + [v for v in preset if str(conditions.get(_key(v))) == condition])
    return lines


def _preset_values(cfg: DictConfig, given: set[str], dirs: list[Path] | None) -> list[_Values]:
    """The sweeps a preset set in ``hydra.sweeper.params`` (keys not given on the command line)."""
    params = OmegaConf.select(cfg, "hydra.sweeper.params", default=None) or {}
    lines = [f"{k}={v}" for k, v in params.items() if k not in given]
    try:
        return _values(_parse(lines), dirs)
    except OverrideParseException as err:
        raise ConfigError(f"hydra.sweeper.params: {' '.join(str(err).split())}") from None


# Hydra's flags that choose what it does, of which it takes one at most (short: long)
MODES = {"-r": "--run", "-m": "--multirun", "-c": "--cfg", "-i": "--info"}
MODES = {**MODES, **{f: f for f in MODES.values()}, "--shell-completion": "--shell-completion"}


def _check_flags(argv: Sequence[str], command: str) -> None:
    """Hydra takes one of --run, --multirun, --cfg, --info, --shell-completion (it refuses two
    in a traceback); --cfg with -m gets the line that prints one job's config instead."""
    given = sorted({MODES[a.partition("=")[0]] for a in argv if a.partition("=")[0] in MODES})
    if len(given) < 2:
        return
    if given == ["--cfg", "--multirun"]:
        try:
            firsts = {o.input_line: _Values(o, None).text(0) for o in _parse(argv)}
        except (OverrideParseException, ConfigError):
            firsts = {}
        line = [firsts.get(a, a) for a in argv if a not in ("-m", "--multirun")]
        raise ConfigError(
            "--cfg prints the config of one job, not of a sweep (-m): drop -m and give each "
            f"swept key one value, e.g. python -m {command} {shlex.join(line)}"
        )
    raise ConfigError(f"{' and '.join(given)} cannot be given together: give one of them")


def _composition_message(
    err: Exception, config_name: str, line: list[str], command: str = ""
) -> str:
    """Hydra's multi-line composition error as one line: an unknown key or group gets the nearest
    name, a group the task does not take says why."""
    cause = err.__cause__ or err
    text = " ".join(str(err).split())
    key = getattr(cause, "full_key", None)
    bare = _bare(config_name, line)
    refused = _group_not_taken(bare, line, command)
    if refused is None and "not in struct" in str(cause) and key:
        return _unknown_key(key, cause, bare, line)
    return refused or text


def _bare(config_name: str, line: list[str]) -> DictConfig | None:
    """The task's config with only the ``hydra.*`` settings of ``line`` (None if that fails)."""
    hydra_line = [a for a in line if a.lstrip("+~").startswith("hydra")]
    try:
        return compose(config_name=config_name, overrides=hydra_line, return_hydra_config=True)
    except HydraException:
        return None


def _unknown_key(key: str, cause: Exception, bare: DictConfig | None, line: list[str]) -> str:
    """``key: unknown key``, with the nearest key beside it (or group, at the top) if one is
    close: ``did you mean method.beta=0.2?``."""
    overrides = _parse(line)
    given = next((o for o in overrides if f"{o.key_or_group}.".startswith(f"{key}.")), None)
    if key in MOVED:
        return moved(key, given.input_line if given else None)
    head, _, name = key.rpartition(".")
    parent = getattr(cause, "parent_node", None)
    candidates = [str(k) for k in parent.keys() if k != "hydra"] if parent is not None else []
    if not head and bare is not None:
        candidates += task_groups(bare)
    near = nearest(name, candidates)
    if near is None or given is None:
        return f"{key}: unknown key (a typo? to add a new key use +{key}=...)"
    fixed = given.input_line.replace(key, f"{head}.{near}" if head else near, 1)
    return f"{key}: unknown key; did you mean {fixed}? (to add a new key: +{key}=...)"


def _group_not_taken(bare: DictConfig | None, line: list[str], command: str) -> str | None:
    """A group of the training config (or a key in it) set for a task that rebuilds its model
    from a checkpoint (eval, severity, export; ``bare`` its config): said so, with the groups the
    task takes; None for other errors."""
    if bare is None or "model" in bare:
        return None
    overrides = _parse(line)
    on_disk, taken = _groups(_search_dirs(overrides) or [CONF_DIR]), task_groups(bare)
    for override in overrides:
        group = override.key_or_group.split(".")[0]
        if group == "hydra" or override.type.name != "CHANGE":
            continue
        if group in on_disk and group not in taken:
            return (
                f"{override.input_line}: {command} takes no {group} group: it reads the trained "
                "model's settings (method, penalty, model...) from its checkpoint; the groups it "
                f"takes: {', '.join(taken) or 'none'}"
            )
    return None
