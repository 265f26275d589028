"""The per-exec supervisor: the container supervisor's I/O loop around `lxc-attach`.

Run as `python3 -I -S exec_supervisor.py EXEC_DIR STATUS_FD` by containers/engine/exec.py.
It reuses supervisor.Supervisor (pipes or a pty, the output log, the attach socket and its
framing, scrollback, exit.json written atomically before it exits) and replaces only what
differs for an exec:
- the child is `lxc-attach ... -- CMD` (argv prepared by exec.py), not `lxc-execute`;
- nothing to set up or tear down: no cgroup, no hook fifo, no rootfs to unmount;
- with a tty the pty is made raw and becomes lxc-attach's controlling terminal, so
  lxc-attach allocates the terminal inside the container and a resize (TIOCSWINSZ on our
  master) reaches it as SIGWINCH.

Like the container supervisor it forks away into its own session, so an exec outlives the
web process that launched it.
"""

import _signal as signal
import marshal
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # -I leaves the script dir out

from supervisor import (  # noqa: E402
    STDERR,
    STDOUT,
    Supervisor,
    proc_start_time,
    rfc3339_now,
    write_atomic,
)

CHILD_SIGNALS = (signal.SIGINT, signal.SIGHUP, signal.SIGTERM, signal.SIGPIPE, signal.SIGQUIT,
                 signal.SIGTTOU, signal.SIGTTIN)


class ExecSupervisor(Supervisor):
    """Supervisor of one `lxc-attach` process."""

    def spawn(self) -> None:
        """Fork and exec lxc-attach with pipes, or with a raw pty as controlling terminal."""
        import fcntl
        import termios
        import tty

        spec = self.spec
        if self.tty:
            master, slave = os.openpty()
            tty.setraw(slave)  # lxc-attach's own pty inside the container does the tty work
            # setraw leaves ONLCR set and lxc-attach turns OPOST back on for its terminal:
            # without this every "\r\n" of the inner pty would come out as "\r\r\n"
            attrs = termios.tcgetattr(slave)
            attrs[1] &= ~termios.ONLCR
            termios.tcsetattr(slave, termios.TCSANOW, attrs)
            self.pty_master = master
            rows, cols = spec.get("console_size") or (24, 80)
            self.resize(rows, cols)
            child_fds = (slave, slave, slave)
            self.outputs[master] = STDOUT
            self.stdin_fd = os.dup(master) if spec["open_stdin"] else None
            close_after = [slave]
        else:
            out_r, out_w = os.pipe()
            err_r, err_w = os.pipe()
            if spec["open_stdin"]:
                in_r, in_w = os.pipe()
                self.stdin_fd = in_w
                os.set_blocking(in_w, False)
            else:
                in_r = os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC)
            child_fds = (in_r, out_w, err_w)
            self.outputs[out_r] = STDOUT
            self.outputs[err_r] = STDERR
            close_after = [in_r, out_w, err_w]
        pid = os.fork()
        if pid == 0:  # child
            try:
                os.setsid()
                if self.tty:
                    fcntl.ioctl(child_fds[0], termios.TIOCSCTTY, 0)
                for target, fd in enumerate(child_fds):
                    os.dup2(fd, target)
                for sig in CHILD_SIGNALS:
                    signal.signal(sig, signal.SIG_DFL)
                os.chdir("/")  # lxc-attach enters the container's cwd of the same name
                os.execvp(spec["argv"][0], spec["argv"])
            finally:
                os._exit(127)
        self.child_pid = pid
        for fd in close_after:
            os.close(fd)
        import select

        for fd in self.outputs:
            os.set_blocking(fd, False)
            self.poller.register(fd, select.POLLIN)

    held_cr = False  # a trailing b"\r" kept until the next read (it may start b"\r\n")

    def filter_output(self, data: bytes, eof: bool) -> bytes:
        """With a tty, undo the outer pty's ONLCR. lxc-attach relays the inner pty (which
        already wrote "\n" as "\r\n") through our pty, whose line discipline it sets to
        OPOST|ONLCR: every "\n" it writes gains a "\r". That is exactly undone by turning
        each "\r\n" back into "\n" (a "\r" at the end of a read waits for the next one)."""
        if not self.tty:
            return data
        if self.held_cr:
            data = b"\r" + data
            self.held_cr = False
        if data.endswith(b"\r") and not eof:
            data = data[:-1]
            self.held_cr = True
        return data.replace(b"\r\n", b"\n")

    def prepare_cgroup(self) -> None:
        """Nothing to prepare: lxc-attach joins the container's own cgroups."""

    def cleanup(self) -> list[str]:
        """Nothing to tear down: the container owns its rootfs and cgroups."""
        return []

    def write_state(self, started_at: str) -> None:
        me = os.getpid()
        doc = (
            f'{{"supervisor_pid": {me}, "supervisor_start": {proc_start_time(me)}, '
            f'"pid": {self.child_pid}, "started_at": "{started_at}"}}'
        )
        write_atomic(self.spec["state_path"], doc.encode(), durable=False)

    def run(self) -> None:
        started = False
        try:
            self.spawn()
            pidfd = os.pidfd_open(self.child_pid)
            started = True
            self.log_fd = os.open(self.spec["log_path"],
                                  os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
            self.write_state(rfc3339_now())
            self.open_attach()
            self.report("started")
            import json

            self.json = json
            self.loop(pidfd)
        finally:
            self.finish(started)


def main(argv: list[str]) -> None:
    exec_dir, status_fd = argv[1], int(argv[2])
    with open(os.path.join(exec_dir, "supervisor.spec"), "rb") as f:
        spec = marshal.load(f)
    if os.fork():
        os._exit(0)  # the launcher reaps this one at once; the supervisor is re-parented
    os.set_inheritable(status_fd, False)
    os.chdir(exec_dir)
    os.umask(0o077)
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM, signal.SIGQUIT,
                signal.SIGTTOU, signal.SIGTTIN):
        signal.signal(sig, signal.SIG_IGN)
    ExecSupervisor(spec, status_fd).run()


if __name__ == "__main__":
    main(sys.argv)
