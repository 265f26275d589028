"""The process-wide Engine, built from settings (the only place settings meet the engine)."""

from functools import lru_cache

from django.conf import settings

from containers.engine.runtime import Engine, EngineConfig


@lru_cache(maxsize=1)
def engine() -> Engine:
    eng = Engine(EngineConfig(settings.STATE_ROOT, settings.DOCKERWEB_CGROUP_PARENT,
                              pids_limit=settings.DOCKERWEB_PIDS_LIMIT))
    eng.layout.restrict()  # the state root is root's only, also when an older version made it
    return eng
