"""The process-wide Engine, built from settings (the only place settings meet the engine),
and the few host settings the request path needs."""

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

from django.conf import settings

from containers.engine.facade import Engine, EngineConfig
from containers.engine.logconfig import LogLimits, parse_count, parse_size

_override: Engine | None = None  # set by use() only


def engine() -> Engine:
    """The engine in use: the one `use()` put in place, else the real one."""
    return _override if _override is not None else _real()


@lru_cache(maxsize=1)
def _real() -> Engine:
    eng = Engine(EngineConfig(settings.STATE_ROOT, settings.DOCKERWEB_CGROUP_PARENT,
                              pids_limit=settings.DOCKERWEB_PIDS_LIMIT,
                              log_limits=_log_limits()))
    eng.layout.restrict()  # the state root is root's only, also when an older version made it
    return eng


def _log_limits() -> LogLimits:
    """The default log rotation (settings DOCKERWEB_LOG_MAX_SIZE, DOCKERWEB_LOG_MAX_FILE)."""
    return LogLimits(parse_size(settings.DOCKERWEB_LOG_MAX_SIZE, "DOCKERWEB_LOG_MAX_SIZE"),
                     parse_count(settings.DOCKERWEB_LOG_MAX_FILE))


@contextmanager
def use(eng: Engine) -> Iterator[Engine]:
    """Make `eng` the engine of this process for the block (the fast tests' FakeEngine);
    the previous one is back afterwards."""
    global _override
    before, _override = _override, eng
    try:
        yield eng
    finally:
        _override = before


def host_name() -> str:
    """This host's name (settings.DOCKERWEB_HOST): stamped on the containers it runs."""
    return settings.DOCKERWEB_HOST


def state_root() -> str:
    """The engine's state directory (settings.STATE_ROOT)."""
    return settings.STATE_ROOT


def build_context_max() -> int:
    """The largest build context accepted, in bytes (settings.DOCKERWEB_BUILD_CONTEXT_MAX)."""
    return settings.DOCKERWEB_BUILD_CONTEXT_MAX
