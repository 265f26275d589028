"""The default seccomp profile, equivalent to Docker's, as LXC's text format (version 2).

Docker's profile (moby profiles/seccomp/default.json) is an allowlist: every syscall it does
not list fails with EPERM, and a few are allowed only when the container holds a capability.
LXC's format takes a denylist just as well, so this module lists what Docker's allowlist
leaves out on x86_64 (kernel 6.x syscall table), each group with the capability that would
allow it in Docker. `render(caps)` leaves out the groups whose capability the container
keeps, exactly as Docker's `includes.caps`. Differences: a syscall newer than this table is
allowed (Docker's allowlist would deny it); personality's query is denied (see below).

Contract: the text names only syscalls and numbers from this module (no user input).
"""

from __future__ import annotations

import functools
import hashlib
import os
import threading

EPERM, ENOSYS = 1, 38

# Denied whatever the capabilities (not in Docker's allowlist at all).
ALWAYS = (
    "add_key", "keyctl", "request_key",  # the kernel keyring is not namespaced
    "kexec_load", "kexec_file_load", "create_module", "get_kernel_syms", "query_module",
    "pivot_root", "swapon", "swapoff", "_sysctl", "sysfs", "uselib", "ustat",
    "userfaultfd", "move_pages", "migrate_pages", "nfsservctl",
    "getpmsg", "putpmsg", "afs_syscall", "tuxcall", "security", "vserver",
)

# Allowed only with the capability (Docker's `includes: {caps: [...]}`).
BY_CAPABILITY = {
    "dac_read_search": ("open_by_handle_at",),
    "sys_admin": ("bpf", "fanotify_init", "fsconfig", "fsmount", "fsopen", "fspick",
                  "lookup_dcookie", "mount", "mount_setattr", "move_mount", "open_tree",
                  "perf_event_open", "quotactl", "quotactl_fd", "setdomainname",
                  "sethostname", "setns", "syslog", "umount2", "unshare"),
    "sys_boot": ("reboot",),
    "sys_chroot": ("chroot",),
    "sys_module": ("init_module", "finit_module", "delete_module"),
    "sys_pacct": ("acct",),
    "sys_ptrace": ("kcmp", "pidfd_getfd", "process_madvise"),
    "sys_rawio": ("iopl", "ioperm"),
    "sys_time": ("settimeofday", "stime", "clock_settime", "clock_settime64"),
    "sys_tty_config": ("vhangup",),
    "sys_nice": ("get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node"),
    "syslog": ("syslog",),
    "bpf": ("bpf",),
    "perfmon": ("perf_event_open",),
}

# clone with any of these flags creates namespaces: denied without sys_admin (Docker's mask
# 0x7E020000), one rule per flag since a denylist rule matches `arg & flag == flag`.
CLONE_NS_FLAGS = (0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000,
                  0x40000000)  # NEWNS NEWCGROUP NEWUTS NEWIPC NEWUSER NEWPID NEWNET
AF_VSOCK = 40
# personality: Docker allows 0, PER_LINUX32 (8), UNAME26 (0x20000), both, and the query
# 0xffffffff. libseccomp takes one comparison per argument, so everything above 0x20008 is
# denied here, the query included (a difference: the query fails with EPERM).
PERSONALITY_MAX_ALLOWED = 0x20008


def denied(caps: frozenset[str]) -> list[str]:
    """Syscalls denied outright for a container keeping `caps` (sorted, unique)."""
    out = set(ALWAYS)
    for cap, names in BY_CAPABILITY.items():
        if cap not in caps:
            out.update(names)
    # a syscall allowed by any capability held is allowed (syslog: sys_admin or syslog)
    for cap in caps:
        out.difference_update(BY_CAPABILITY.get(cap, ()))
    return sorted(out)


@functools.lru_cache(maxsize=64)
def render(caps: frozenset[str]) -> str:
    """The LXC seccomp profile (format 2, denylist, EPERM) for a container keeping `caps`
    (made once per set of capabilities in a process: a start only writes it)."""
    lines = ["2", "denylist", "[all]"]
    lines += [f"{name} errno {EPERM}" for name in denied(caps)]
    if "sys_admin" not in caps:
        lines += [f"clone errno {EPERM} [0,{flag},SCMP_CMP_MASKED_EQ,{flag}]"
                  for flag in CLONE_NS_FLAGS]
        lines.append(f"clone3 errno {ENOSYS}")  # so that libc falls back to clone
    lines.append(f"socket errno {EPERM} [0,{AF_VSOCK},SCMP_CMP_EQ]")
    lines.append(f"personality errno {EPERM} [0,{PERSONALITY_MAX_ALLOWED},SCMP_CMP_GT]")
    return "\n".join(lines) + "\n"


@functools.lru_cache(maxsize=64)
def _file_name(caps: frozenset[str]) -> str:
    return f"seccomp-{hashlib.sha256(render(caps).encode()).hexdigest()[:16]}.profile"


def shared(lib_dir: str, caps: frozenset[str]) -> str:
    """The path of the profile for `caps` under `lib_dir` (root's only), one file per
    distinct profile, named by its digest and written once (atomically, by whichever start
    needs it first): LXC reads it at each start, and nothing changes it afterwards. A file
    per container cost an inode allocation at every start and a deletion at every removal,
    which on ext4 without a journal make every later allocation scan past the recently
    deleted inodes (issue 13: a third of the worker's CPU in a burst of starts)."""
    path = os.path.join(lib_dir, _file_name(caps))
    if not os.path.exists(path):
        os.makedirs(lib_dir, mode=0o700, exist_ok=True)
        write(path, caps, tmp=f"{path}.{os.getpid()}.{threading.get_ident()}.tmp")
    return path


def write(path: str, caps: frozenset[str], tmp: str = "") -> None:
    """Write the profile for `caps` to `path` (0600, replaced atomically through `tmp`,
    default `path`.tmp)."""
    tmp = tmp or f"{path}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(render(caps))
    os.replace(tmp, path)
