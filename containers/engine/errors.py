"""Typed engine errors. The HTTP mapping lives in one place: containers/api/errors.py."""


class EngineError(Exception):
    """Base of every error the engine raises on purpose."""

    kind = "engine_error"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class InvalidArgument(EngineError):
    """The caller passed a value the engine refuses (maps to 400)."""

    kind = "invalid_argument"


class NotFound(EngineError):
    """No such container, image or resource (maps to 404)."""

    kind = "not_found"


class Ambiguous(EngineError):
    """A prefix matches more than one object (maps to 400)."""

    kind = "ambiguous"


class Conflict(EngineError):
    """The request clashes with current state, e.g. a name in use (maps to 409)."""

    kind = "conflict"


class IllegalTransition(Conflict):
    """The container's state does not allow the action (maps to 409)."""

    kind = "illegal_transition"


class NotModified(EngineError):
    """The action had nothing to do, e.g. stop of a stopped container (maps to 304)."""

    kind = "not_modified"


class StartFailed(EngineError):
    """LXC or the supervisor could not start the container (maps to 500)."""

    kind = "start_failed"


class CommandNotFound(StartFailed):
    """The command does not exist in the container (exit code 127, maps to 400)."""

    kind = "command_not_found"


class Unavailable(EngineError):
    """The worker did not answer in time (maps to 503)."""

    kind = "unavailable"


class Unreachable(Unavailable):
    """Redis, the channel layer between the API servers and the worker, cannot be reached:
    refused or closed at once, so the caller knows without waiting (maps to 503)."""

    kind = "unreachable"


class Elsewhere(EngineError):
    """The container runs on another host, and what was asked is served only where it runs
    (issue 16: its files, streams and cgroups); maps to 421 Misdirected Request."""

    kind = "elsewhere"


class Unauthorized(EngineError):
    """A remote (a registry) refused us: no, or wrong, credentials, or no access (401)."""

    kind = "unauthorized"


class Forbidden(EngineError):
    """The caller sees the object but may not change it (a shared tag) (maps to 403)."""

    kind = "forbidden"


class NotSupported(EngineError):
    """The container's configuration does not offer this, e.g. logs of the `none` log driver
    (maps to 501, as Docker's NotImplemented)."""

    kind = "not_supported"


class ExitUnreadable(EngineError):
    """A container's exit record exists but cannot be read (damaged): the engine reports it
    as Status kind "unreadable"; it never reaches HTTP (500 if it did)."""

    kind = "exit_unreadable"


ERRORS_BY_KIND: dict[str, type[EngineError]] = {
    cls.kind: cls
    for cls in (
        EngineError, InvalidArgument, NotFound, Ambiguous, Conflict, IllegalTransition,
        NotModified, StartFailed, CommandNotFound, Unavailable, Unreachable, Unauthorized,
        Forbidden, ExitUnreadable, NotSupported,
    )
}


def from_kind(kind: str, message: str) -> EngineError:
    """Rebuild a typed error from its `kind` (errors cross the worker RPC as data)."""
    return ERRORS_BY_KIND.get(kind, EngineError)(message)


SHOWN_MAX = 100


def shown(value: object, limit: int = SHOWN_MAX) -> str:
    """`value` as an error message may echo it: its repr, cut to about `limit` characters,
    with the full length when cut (user-supplied names can be a megabyte long)."""
    if isinstance(value, str | bytes) and len(value) > limit:
        return f"{value[:limit - 3]!r}... ({len(value)} characters)"
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."
