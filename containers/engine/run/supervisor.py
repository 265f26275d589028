"""dockerweb's per-container supervisor (in the manner of Podman's conmon).

Run as `python3 -I -S supervisor.py CONTAINER_DIR STATUS_FD` by containers/engine/
supervision.py. Standard library only, and the heavy modules (json, socket) are imported
only after the container has been launched, to keep start latency low.

Contract:
- Forks once and lives in its own session, so it outlives the worker and the web server.
- Owns `lxc-execute`; holds the container's stdin/stdout/stderr as pipes, or a pty (tty).
- Writes every output line as a JSON record {"log", "stream", "time"} to container.log as
  it arrives (binary-safe: undecodable bytes survive as surrogate escapes).
- Rotates the log (Docker json-file's max-size/max-file, spec log_max_size/log_max_file):
  before a write that would take container.log past log_max_size bytes, renames
  container.log.N-2 -> .N-1, ..., container.log -> .1 (each an atomic rename; the oldest is
  replaced) and starts a new container.log. Readers (engine/run/logfile.py) read the files
  in order and follow across the rename.
- Serves attach on CONTAINER_DIR/attach.sock with the framing of frames.py.
- Reports "started" or "failed" on STATUS_FD, after writing state.json.
- After the container exits: drains output, unmounts the rootfs, removes the container's
  cgroups, then writes exit.json atomically (fsync + rename) *before* it exits itself.
"""

import _signal as signal  # the C module: `signal` would import enum (~4 ms at start-up)
import marshal
import os
import select
import struct
import sys
import time

if __package__:
    from .frames import (
        CLOSE_STDIN,
        EXIT,
        FRAME,
        HELLO,
        LIVE,
        RESIZE,
        STDERR,
        STDIN,
        STDOUT,
        STREAM_NAMES,
        split,
    )
else:  # run as a script: -I leaves the script's directory out of sys.path
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from frames import (
        CLOSE_STDIN,
        EXIT,
        FRAME,
        HELLO,
        LIVE,
        RESIZE,
        STDERR,
        STDIN,
        STDOUT,
        STREAM_NAMES,
        split,
    )

SCROLLBACK_BYTES = 256 * 1024
MAX_RECORD = 16 * 1024
MAX_CLIENT_BACKLOG = 16 * 1024 * 1024
READ_SIZE = 256 * 1024
DRAIN_GRACE_S = 2.0
LXC_INIT_DIED = 1  # lxc-execute's status when LXC's init was killed (lxc.log says by what)
CHILD_SIGNALS = (signal.SIGINT, signal.SIGHUP, signal.SIGTERM, signal.SIGPIPE, signal.SIGQUIT,
                 signal.SIGTTOU, signal.SIGTTIN)  # back to the default in the child
IGNORED_SIGNALS = (signal.SIGINT, signal.SIGHUP, signal.SIGTERM, signal.SIGQUIT,
                   signal.SIGTTOU, signal.SIGTTIN)  # by the supervisor itself


def rfc3339_now() -> str:
    ns = time.time_ns()
    secs, frac = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{frac:09d}Z"


def proc_start_time(pid: int) -> int:
    with open(f"/proc/{pid}/stat", "rb") as f:
        data = f.read()
    return int(data[data.rindex(b")") + 2:].split()[19])


def write_atomic(path: str, data: bytes, durable: bool = True) -> None:
    """Write via a temp file and rename; with `durable`, fsync file and directory."""
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, data)
        if durable:
            os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(tmp, path)
    if not durable:
        return
    dfd = os.open(os.path.dirname(path) or ".", os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


class Client:
    """One attached connection."""

    def __init__(self, sock):
        self.sock = sock
        self.inbuf = b""
        self.outbuf = bytearray()
        self.wants_stdin = False
        self.sent_stdin = False
        self.ready = False  # HELLO handled: live output only after its scrollback


class Supervisor:
    """Supervisor of one container (`lxc-execute`). Variants (exec_supervisor.py) override
    the hooks: prepare_pty, in_child, prepare_cgroup, filter_output, write_state, cleanup,
    and uses_start_hook."""

    uses_start_hook = True  # "started" = LXC's start-host hook wrote to the fifo

    def __init__(self, spec: dict, status_fd: int):
        self.spec = spec
        self.status_fd = status_fd
        self.tty = bool(spec["tty"])
        self.poller = select.poll()
        self.outputs: dict[int, int] = {}  # fd -> stream type
        self.partial: dict[int, bytearray] = {STDOUT: bytearray(), STDERR: bytearray()}
        self.stdin_fd: int | None = None
        self.stdin_pending = bytearray()
        self.stdin_close_requested = False
        self.pty_master: int | None = None
        self.clients: dict[int, Client] = {}
        self.listener = None
        self.scrollback: list[tuple[int, bytes]] = []
        self.scrollback_size = 0
        self.log_fd = -1
        self.log_size = 0  # bytes in container.log (for rotation)
        self.child_pid = 0
        self.init_pid = 0
        self.started = False
        self.oom_efd = -1
        self.json = None

    # ---- set-up -------------------------------------------------------------------------
    def prepare_cgroup(self) -> None:
        """Create our per-container memory cgroup, apply limits, arm the OOM eventfd."""
        cg = self.spec["memory_cgroup"]
        os.makedirs(cg, exist_ok=True)
        for directory, key, value in self.spec["cgroup_limits"]:
            os.makedirs(directory, exist_ok=True)
            with open(os.path.join(directory, key), "w") as f:
                f.write(str(value))
        self.oom_efd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        ofd = os.open(os.path.join(cg, "memory.oom_control"), os.O_RDONLY | os.O_CLOEXEC)
        with open(os.path.join(cg, "cgroup.event_control"), "w") as f:
            f.write(f"{self.oom_efd} {ofd}")
        os.close(ofd)

    def spawn(self) -> None:
        """Fork and exec spec["argv"] with the child's stdio: pipes, or a pty."""
        spec = self.spec
        argv = spec["argv"]
        if self.tty:
            master, slave = os.openpty()
            self.prepare_pty(slave)
            self.pty_master = master
            rows, cols = spec["console_size"] or (24, 80)
            self.resize(rows, cols)
            child_fds = (slave, slave, slave)
            self.outputs[master] = STDOUT
            # stdin gets its own descriptor of the master so that pending input can wait
            # for POLLOUT independently of output (a 1 MB paste must not stall)
            self.stdin_fd = os.dup(master) if spec["open_stdin"] else None
            close_after = [slave]
        else:
            out_r, out_w = os.pipe()
            err_r, err_w = os.pipe()
            if spec["open_stdin"]:
                in_r, in_w = os.pipe()
                self.stdin_fd = in_w
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
                self.in_child(child_fds)
                for target, fd in enumerate(child_fds):
                    os.dup2(fd, target)
                for sig in CHILD_SIGNALS:
                    signal.signal(sig, signal.SIG_DFL)
                os.execvp(argv[0], argv)
            finally:
                os._exit(127)
        self.child_pid = pid
        for fd in close_after:
            os.close(fd)
        for fd in self.outputs:
            os.set_blocking(fd, False)
            self.poller.register(fd, select.POLLIN)
        if self.stdin_fd is not None and not self.tty:
            os.set_blocking(self.stdin_fd, False)

    def prepare_pty(self, slave: int) -> None:
        """Set up the pty's slave side before the fork: a container's stays as it is (LXC's
        init takes it as the console: one "\n" -> "\r\n" translation, by its line discipline)."""

    def in_child(self, child_fds: tuple[int, int, int]) -> None:
        """In the forked child, after setsid and before its stdio is in place.

        No TIOCSCTTY here: LXC's init takes the pty as the container's controlling terminal
        (lxc.console.path = none), so SIGWINCH reaches the foreground job. The init
        confinement library is preloaded into lxc-execute (see initconfine.py): containers
        only, an exec supervisor overrides this hook."""
        if self.spec["preload"]:
            os.environ["LD_PRELOAD"] = self.spec["preload"]

    def wait_started(self, pidfd: int) -> bool:
        """Wait for the start-host hook (container init pid) or an early exit of lxc."""
        fifo = os.open(self.spec["hook_fifo"], os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        p = select.poll()
        p.register(fifo, select.POLLIN)
        p.register(pidfd, select.POLLIN)
        data = b""
        try:
            while True:
                fired = {fd for fd, _ in p.poll()}
                try:
                    data += os.read(fifo, 64)
                except BlockingIOError:
                    pass
                if b"\n" in data:  # the hook fired (even if a fast command already exited)
                    self.init_pid = int(data.split()[0])
                    return True
                if pidfd in fired:
                    return False
                if fifo in fired and not data:
                    p.unregister(fifo)  # writer closed without data: wait for the exit
        finally:
            os.close(fifo)

    def report(self, word: str) -> None:
        if self.status_fd >= 0:
            try:
                os.write(self.status_fd, word.encode() + b"\n")
            except OSError:
                pass
            os.close(self.status_fd)
            self.status_fd = -1

    def write_state(self, started_at: str) -> None:
        me = os.getpid()
        try:
            init_start = proc_start_time(self.init_pid)
        except (OSError, ValueError):
            init_start = 0  # a fast command may be gone already
        doc = (
            f'{{"supervisor_pid": {me}, "supervisor_start": {proc_start_time(me)}, '
            f'"lxc_pid": {self.child_pid}, "init_pid": {self.init_pid}, '
            f'"init_start": {init_start}, "started_at": "{started_at}"}}'
        )
        # not fsynced: after a host crash no process it names exists any more
        write_atomic(self.spec["state_path"], doc.encode(), durable=False)

    def open_attach(self) -> None:
        # the C module: `socket` would import enum and selectors (~10 ms before "started")
        import _socket

        path = os.path.basename(self.spec["attach_path"])
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
        sock.bind(path)  # relative: we chdir'ed into the container dir
        os.chmod(path, 0o600)
        sock.listen(64)
        sock.setblocking(False)
        self.listener = sock
        self.poller.register(sock.fileno(), select.POLLIN)

    # ---- output ---------------------------------------------------------------------------
    def on_output(self, fd: int) -> bool:
        """Read from an output fd; False at EOF."""
        try:
            data = os.read(fd, READ_SIZE)
        except BlockingIOError:
            return True
        except OSError:  # EIO on a pty master once the slave side is closed
            data = b""
        stream = self.outputs[fd]
        out = self.filter_output(data, eof=not data)
        if out:
            self.log(stream, out)
            self.remember(stream, out)
            self.broadcast(stream, out)
        return bool(data)

    def filter_output(self, data: bytes, eof: bool) -> bytes:
        """What of `data` (b"" at EOF) goes out now; the exec supervisor's hook."""
        return data

    def log(self, stream: int, data: bytes) -> None:
        buf = self.partial[stream]
        buf += data
        out = []
        while True:
            nl = buf.find(b"\n")
            if nl < 0:
                break
            out.append(bytes(buf[: nl + 1]))
            del buf[: nl + 1]
        while len(buf) >= MAX_RECORD:
            out.append(bytes(buf[:MAX_RECORD]))
            del buf[:MAX_RECORD]
        if out:
            self.write_records(stream, out)

    def write_records(self, stream: int, chunks: list[bytes]) -> None:
        ts = rfc3339_now()
        name = STREAM_NAMES[stream]
        dumps = self.json.dumps
        records = [
            (dumps({"log": c.decode("utf-8", "surrogateescape"), "stream": name, "time": ts}) + "\n").encode()
            for c in chunks
        ]
        limit = self.spec["log_max_size"]
        if not limit:
            self.write_log(b"".join(records))
            return
        batch: list[bytes] = []
        size = 0
        for rec in records:
            if self.log_size + size + len(rec) > limit and (self.log_size or size):
                self.write_log(b"".join(batch))
                batch, size = [], 0
                self.rotate_log()
            batch.append(rec)
            size += len(rec)
        self.write_log(b"".join(batch))

    def write_log(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            n = os.write(self.log_fd, view)
            view = view[n:]
        self.log_size += len(data)

    def open_log(self) -> None:
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC
        self.log_fd = os.open(self.spec["log_path"], flags, 0o600)
        self.log_size = os.fstat(self.log_fd).st_size

    def rotate_log(self) -> None:
        """container.log -> .1 -> ... -> .N-1 (N = log_max_file; the oldest is replaced, or
        with N = 1 the log is removed), then a new container.log."""
        path, keep = self.spec["log_path"], self.spec["log_max_file"]
        os.close(self.log_fd)
        if keep <= 1:
            os.unlink(path)
        else:
            for n in range(keep - 2, 0, -1):
                try:
                    os.rename(f"{path}.{n}", f"{path}.{n + 1}")
                except FileNotFoundError:
                    pass
            os.rename(path, path + ".1")
        self.open_log()

    def flush_partials(self) -> None:
        for stream, buf in self.partial.items():
            if buf:
                self.write_records(stream, [bytes(buf)])
                buf.clear()

    def remember(self, stream: int, data: bytes) -> None:
        self.scrollback.append((stream, data))
        self.scrollback_size += len(data)
        while self.scrollback_size > SCROLLBACK_BYTES and len(self.scrollback) > 1:
            self.scrollback_size -= len(self.scrollback.pop(0)[1])

    def broadcast(self, kind: int, data: bytes) -> None:
        frame = FRAME.pack(kind, len(data)) + data
        for fd in list(self.clients):
            client = self.clients.get(fd)
            if client is not None and client.ready:
                self.send(fd, frame)

    def send(self, fd: int, frame: bytes) -> None:
        client = self.clients[fd]
        client.outbuf += frame
        if len(client.outbuf) > MAX_CLIENT_BACKLOG:
            self.drop_client(fd)  # a slow reader never blocks the container or its logs
            return
        self.flush_client(fd)

    def flush_client(self, fd: int) -> None:
        client = self.clients.get(fd)
        if client is None:
            return
        try:
            while client.outbuf:
                n = client.sock.send(client.outbuf)
                del client.outbuf[:n]
        except BlockingIOError:
            pass
        except OSError:
            self.drop_client(fd)
            return
        self.poller.modify(fd, select.POLLIN | (select.POLLOUT if client.outbuf else 0))

    # ---- attach clients -------------------------------------------------------------------
    def accept(self) -> None:
        while True:
            try:
                fd, _ = self.listener._accept()  # close-on-exec, as every fd Python makes
            except BlockingIOError:
                return
            sock = type(self.listener)(fileno=fd)
            sock.setblocking(False)
            self.clients[sock.fileno()] = Client(sock)
            self.poller.register(sock.fileno(), select.POLLIN)

    def drop_client(self, fd: int) -> None:
        client = self.clients.pop(fd, None)
        if client is None:
            return
        try:
            self.poller.unregister(fd)
        except KeyError:
            pass
        client.sock.close()
        if self.spec["stdin_once"] and client.wants_stdin and client.sent_stdin:
            self.close_stdin()

    def on_client(self, fd: int) -> None:
        client = self.clients[fd]
        try:
            data = client.sock.recv(READ_SIZE)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self.drop_client(fd)
            return
        frames, client.inbuf = split(client.inbuf + data)
        for kind, payload in frames:
            self.on_frame(fd, client, kind, payload)
            if fd not in self.clients:
                return

    def on_frame(self, fd: int, client: Client, kind: int, payload: bytes) -> None:
        if kind == HELLO:
            opts = self.json.loads(payload or b"{}")
            client.wants_stdin = bool(opts.get("stdin"))
            if opts.get("scrollback"):
                for stream, data in self.scrollback:
                    self.send(fd, FRAME.pack(stream, len(data)) + data)
            if opts.get("mark_live") and fd in self.clients:
                self.send(fd, FRAME.pack(LIVE, 0))  # the boundary: history above, live below
            client.ready = True
        elif kind == STDIN:
            client.sent_stdin = True
            self.write_stdin(payload)
        elif kind == CLOSE_STDIN:
            self.close_stdin()
        elif kind == RESIZE and len(payload) == 4:
            self.resize(*struct.unpack(">HH", payload))

    def write_stdin(self, data: bytes) -> None:
        if self.stdin_fd is None or self.stdin_close_requested:
            return
        self.stdin_pending += data
        self.flush_stdin()

    def flush_stdin(self) -> None:
        fd = self.stdin_fd
        if fd is None:
            return
        try:
            while self.stdin_pending:
                n = os.write(fd, self.stdin_pending)
                del self.stdin_pending[:n]
        except BlockingIOError:
            pass
        except OSError:  # reader gone
            self.stdin_pending.clear()
        if self.stdin_pending:
            self.poller.register(fd, select.POLLOUT)
        else:
            try:
                self.poller.unregister(fd)
            except KeyError:
                pass
            if self.stdin_close_requested:
                os.close(fd)
                self.stdin_fd = None

    def close_stdin(self) -> None:
        if self.stdin_fd is None or self.stdin_close_requested:
            return
        if self.tty:
            self.stdin_pending += b"\x04"  # EOF on a terminal is ^D, after pending input
        self.stdin_close_requested = True
        self.flush_stdin()

    def resize(self, rows: int, cols: int) -> None:
        if self.pty_master is None:
            return
        import fcntl
        import termios

        fcntl.ioctl(self.pty_master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    # ---- main loop and exit ---------------------------------------------------------------
    def loop(self, pidfd: int) -> None:
        self.poller.register(pidfd, select.POLLIN)
        exited_at = None
        while True:
            if exited_at is not None:
                left = DRAIN_GRACE_S - (time.monotonic() - exited_at)
                if not self.outputs or left <= 0:
                    return
                events = self.poller.poll(left * 1000)
            else:
                events = self.poller.poll()
            for fd, ev in events:
                if fd in self.outputs:
                    if not self.on_output(fd):
                        self.poller.unregister(fd)
                        del self.outputs[fd]
                        if fd != self.pty_master:
                            os.close(fd)
                elif fd == pidfd:
                    self.poller.unregister(pidfd)
                    exited_at = time.monotonic()
                elif self.listener is not None and fd == self.listener.fileno():
                    self.accept()
                elif fd in self.clients:
                    if ev & select.POLLOUT:
                        self.flush_client(fd)
                    if ev & (select.POLLIN | select.POLLHUP | select.POLLERR) and fd in self.clients:
                        self.on_client(fd)
                elif fd == self.stdin_fd:
                    if ev & (select.POLLERR | select.POLLHUP):
                        self.stdin_pending.clear()
                    self.flush_stdin()

    def exit_code(self) -> int:
        _, status = os.waitpid(self.child_pid, 0)
        code = os.waitstatus_to_exitcode(status)
        code = 128 - code if code < 0 else code
        if code == LXC_INIT_DIED:
            return self.init_signal_code() or code
        return code

    def init_signal_code(self) -> int:
        """128 + the signal that killed LXC's init (lxc-execute then exits 1: an init killed
        by the OOM killer, or by the engine's last resort), from LXC's own log line
        "Child <init pid> ended on signal Killed(9)"; 0 when init was not killed."""
        if not self.init_pid:
            return 0
        mark = f"Child <{self.init_pid}> ended on signal "
        try:
            with open(self.spec["lxc_log"], errors="replace") as f:
                for line in f:
                    at = line.find(mark)
                    if at >= 0 and line.rstrip().endswith(")"):
                        number = line.rstrip()[:-1].rsplit("(", 1)[-1]
                        if number.isdigit():
                            return 128 + int(number)
        except OSError:
            pass
        return 0

    def oom_events(self) -> int:
        if self.oom_efd < 0:
            return 0
        try:
            return os.eventfd_read(self.oom_efd)
        except BlockingIOError:
            return 0

    def lxc_error(self) -> str:
        try:
            with open(self.spec["lxc_log"], errors="replace") as f:
                lines = [ln.strip() for ln in f if " ERROR " in ln]
        except OSError:
            return ""
        return "\n".join(lines[-5:])

    def cleanup(self) -> list[str]:
        """Unmount the rootfs and remove the container's cgroups; return what failed."""
        problems = []
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            target = self.spec["rootfs"].encode()
            if libc.umount2(target, 0) != 0 and ctypes.get_errno() not in (22,):  # EINVAL: not mounted
                if libc.umount2(target, 2) != 0:
                    problems.append(f"umount: {os.strerror(ctypes.get_errno())}")
        except Exception as e:  # noqa: BLE001 - report, never die before exit.json
            problems.append(f"umount: {e}")
        for path in self.spec["cgroup_dirs"]:
            for dirpath, dirnames, _ in os.walk(path, topdown=False):
                for d in dirnames:
                    try:
                        os.rmdir(os.path.join(dirpath, d))
                    except OSError:
                        pass
            try:
                os.rmdir(path)
            except FileNotFoundError:
                pass
            except OSError as e:
                problems.append(f"rmdir {path}: {e.strerror}")
        return problems

    def finish(self, started: bool) -> None:
        code = self.exit_code() if self.child_pid else 255
        if self.log_fd >= 0:
            self.flush_partials()
            os.fsync(self.log_fd)
        oom = self.oom_events() > 0
        error = ""
        if not started:
            error = self.lxc_error() or f"lxc-execute exited with {code} before the container started"
        if started and code == 255 and not oom:
            error = self.lxc_error()
        problems = self.cleanup()
        result = {
            "exit_code": code,
            "oom_killed": oom,
            "finished_at": rfc3339_now(),
            "error": error,
            "started": started,
            "cleanup_problems": problems,
        }
        import json

        raw = json.dumps(result).encode()
        write_atomic(self.spec["exit_path"], raw)
        if not started:
            self.report("failed")
        for fd in list(self.clients):
            if fd in self.clients and not self.clients[fd].ready:
                self.on_client(fd)  # a HELLO that came with the exit: its scrollback first
            if fd in self.clients:
                self.send(fd, FRAME.pack(EXIT, len(raw)) + raw)
        deadline = time.monotonic() + 1.0
        for fd in list(self.clients):
            client = self.clients.get(fd)
            while client and client.outbuf and time.monotonic() < deadline:
                try:
                    client.sock.setblocking(True)
                    client.sock.settimeout(max(0.01, deadline - time.monotonic()))
                    n = client.sock.send(client.outbuf)
                    del client.outbuf[:n]
                except OSError:
                    break
            self.drop_client(fd)
        for path in (self.spec["attach_path"], self.spec["hook_fifo"]):
            try:
                if path:
                    os.unlink(path)
            except OSError:
                pass

    def run(self) -> None:
        started = False
        try:
            self.prepare_cgroup()
            if self.uses_start_hook:
                os.mkfifo(self.spec["hook_fifo"], 0o600)
            self.spawn()
            pidfd = os.pidfd_open(self.child_pid)
            started = self.wait_started(pidfd) if self.uses_start_hook else True
            if started:
                self.open_log()
                self.write_state(rfc3339_now())
                self.open_attach()
                self.report("started")
            import json  # after the report: output waits in the pipe meanwhile

            self.json = json
            if started:
                self.loop(pidfd)
        finally:
            self.finish(started)


def main(argv: list[str], cls: type[Supervisor] = Supervisor) -> None:
    """`argv[1]` is the directory holding supervisor.spec, `argv[2]` the status fd."""
    directory, status_fd = argv[1], int(argv[2])
    with open(os.path.join(directory, "supervisor.spec"), "rb") as f:
        spec = marshal.load(f)
    if os.fork():
        os._exit(0)  # the launcher reaps this one at once; the supervisor is re-parented
    os.set_inheritable(status_fd, False)
    os.chdir(directory)
    os.umask(0o077)
    for sig in IGNORED_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
    cls(spec, status_fd).run()


if __name__ == "__main__":
    main(sys.argv)
