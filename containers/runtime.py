"""The process-wide Engine, built from settings (the only place settings meet the engine),
and the few host settings the request path needs."""

from functools import lru_cache

from django.conf import settings

from containers.engine.runtime import Engine, EngineConfig


@lru_cache(maxsize=1)
def engine() -> Engine:
    eng = Engine(EngineConfig(settings.STATE_ROOT, settings.DOCKERWEB_CGROUP_PARENT,
                              pids_limit=settings.DOCKERWEB_PIDS_LIMIT))
    eng.layout.restrict()  # the state root is root's only, also when an older version made it
    return eng


def host_name() -> str:
    """This host's name (settings.DOCKERWEB_HOST): stamped on the containers it runs."""
    return settings.DOCKERWEB_HOST


def state_root() -> str:
    """The engine's state directory (settings.STATE_ROOT)."""
    return settings.STATE_ROOT
