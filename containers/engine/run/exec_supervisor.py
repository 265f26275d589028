"""The per-exec supervisor: the container supervisor's I/O loop around `lxc-attach`.

Run as `python3 -I -S exec_supervisor.py EXEC_DIR STATUS_FD` by containers/engine/run/exec.py.
It is supervisor.Supervisor (pipes or a pty, the output log, the attach socket and its
framing, scrollback, exit.json written atomically before it exits, the double fork into its
own session, so an exec outlives the web process that launched it) with only the hooks that
differ for an exec overridden:
- the child is `lxc-attach ... -- CMD` (argv prepared by exec.py), never under the init
  confinement library (lxc-attach takes the container's confinement from its monitor);
- "started" once lxc-attach runs: no start hook fifo;
- nothing to set up or tear down: no cgroup, no rootfs to unmount;
- with a tty the pty is made raw and becomes lxc-attach's controlling terminal, so
  lxc-attach allocates the terminal inside the container and a resize (TIOCSWINSZ on our
  master) reaches it as SIGWINCH; the outer pty's "\r\n" is undone (filter_output).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # -I leaves the script dir out

from supervisor import Supervisor, main, proc_start_time, write_atomic  # noqa: E402


class ExecSupervisor(Supervisor):
    """Supervisor of one `lxc-attach` process."""

    uses_start_hook = False
    held_cr = False  # a trailing b"\r" kept until the next read (it may start b"\r\n")

    def prepare_pty(self, slave: int) -> None:
        """Raw: lxc-attach's own pty inside the container does the tty work."""
        import termios
        import tty

        tty.setraw(slave)
        # setraw leaves ONLCR set and lxc-attach turns OPOST back on for its terminal:
        # without this every "\r\n" of the inner pty would come out as "\r\r\n"
        attrs = termios.tcgetattr(slave)
        attrs[1] &= ~termios.ONLCR
        termios.tcsetattr(slave, termios.TCSANOW, attrs)

    def in_child(self, child_fds: tuple[int, int, int]) -> None:
        """The pty becomes lxc-attach's controlling terminal; no LD_PRELOAD (containers only)."""
        if self.tty:
            import fcntl
            import termios

            fcntl.ioctl(child_fds[0], termios.TIOCSCTTY, 0)
        os.chdir("/")  # lxc-attach enters the container's cwd of the same name

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


if __name__ == "__main__":
    main(sys.argv, ExecSupervisor)
