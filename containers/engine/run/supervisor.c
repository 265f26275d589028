/* dockerweb's supervisor of one container (`lxc-execute`) or one exec (`lxc-attach`), in
 * the manner of Podman's conmon. Built by containers/engine/run/supervision.py (program())
 * with the host's gcc into <state root>/lib, and run as `supervisor DIR STATUS_FD`.
 *
 * Contract (the rest of the engine relies on each point):
 * - reads DIR/supervisor.spec (the format of supervision.SupervisorSpec.to_bytes: a magic
 *   field, then NUL-terminated key and value fields); a malformed spec is refused: exit.json
 *   with the error, "failed" on STATUS_FD;
 * - forks once more and lives in its own session (the launcher started it with setsid), so
 *   it outlives the worker and the web server; ignores SIGINT/HUP/TERM/QUIT/TTOU/TTIN (its
 *   child gets the defaults back); umask 077; chdir DIR;
 * - container mode: creates the memory cgroup, writes the limits, arms the OOM eventfd
 *   (cgroup v1 cgroup.event_control), runs lxc-execute with LD_PRELOAD=spec preload (the
 *   init confinement library, initconfine.c) and STARTED_FD_ENV naming the one end of a
 *   socket pair it inherits, and waits for the init's message on the other end (sent by the
 *   library when LXC's init forks the command, the container set up; its sender pid, which
 *   the kernel translates into our pid namespace, is the init's) or for lxc-execute's early
 *   exit; once started it sends lxc-execute the init's pid on that socket (MSG_INIT), and it
 *   names the spec's host_veth in HOST_VETHS_ENV: the library leaves those to the kernel at
 *   the container's end (initconfine.c);
 *   exec mode: no cgroup, start message or rootfs; a tty is made raw without ONLCR and becomes the
 *   child's controlling terminal; the child starts in "/"; the tty's "\r\n" become "\n";
 * - writes state.json, then reports "started" (or "failed") on STATUS_FD;
 * - writes every output line as a JSON record {"log", "stream", "time"} to the log as it
 *   arrives (lines end at "\n" or after MAX_RECORD bytes without one; bytes that are not
 *   UTF-8 are written as the escapes \udcXX of Python's surrogateescape, so
 *   engine/run/logfile.py reads back exactly the bytes written), rotated as Docker's
 *   json-file max-size/max-file;
 * - serves attach on the spec's attach_path (0600; DIR/attach.sock for an exec, the runtime
 *   directory's for a container: Layout.runtime) with the framing of frames.py;
 * - a container (without a tty) ends when lxc-execute reaps its init: lxc-execute's
 *   initconfine reports the init's pid and wait status (MSG_ENDED) before LXC's own
 *   teardown; the container's processes are gone then (its pid namespace ends with the
 *   init), so the output is drained without waiting and the exit code is the init's (its
 *   exit status, or 128 + the signal), as lxc-execute would pass it on; lxc-execute's
 *   teardown (~7 ms: cgroups, network) goes on under the cleaner below. Without that report
 *   (a tty, whose last output a pty hands on asynchronously; no log kept, Docker's none
 *   driver, where an attach that came late could not replay it; an init that died before
 *   lxc-execute knew its pid), the container ends when lxc-execute exits:
 * - after the child exited: drains the output (DRAIN_GRACE_MS), flushes partial lines,
 *   unlinks the attach socket's path, then writes exit.json atomically (a rename) *before*
 *   it exits itself, and sends it to attached clients as the EXIT frame. The fsyncs that
 *   make the log and exit.json durable (an exec's and a failed start's: here, before the
 *   rename), the rootfs's unmount and the removal of the container's cgroups come after
 *   exit.json, in a forked cleaner that holds an exclusive flock on exit.json until the
 *   unmount and the cgroups are done (then it fsyncs) (engine/run/supervision.py
 *   await_cleanup: a start or removal waits for it), after an early end first waiting for
 *   lxc-execute to exit (what it still writes goes to the supervisor log; killed after
 *   TEARDOWN_MS); the supervisor itself exits without waiting for them (a start that failed
 *   cleans up first, as before);
 * - records 128 + the signal when LXC's init was killed (lxc-execute exits 1 then), from
 *   lxc-execute's own report on the started socket (initconfine.c); LXC logs at WARN.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define SPEC_MAGIC "dockerweb-supervisor-spec 1"
#define SPEC_MAX (32 << 20)
#define SCROLLBACK_BYTES (256 * 1024)
#define MAX_RECORD (16 * 1024)
#define MAX_CLIENT_BACKLOG (16 * 1024 * 1024)
#define MAX_FRAME (64 << 20)  /* a client sending a bigger frame is dropped */
#define READ_SIZE (64 * 1024) /* a pipe holds 64 KiB: one read takes all of it */
#define LOG_BUF (32 * 1024)
#define DRAIN_GRACE_MS 2000
#define GATE_MS 3000     /* at most this long an exec's tty input waits for lxc-attach */
#define TS_SIZE 96 /* a timestamp: 31 bytes, room for what the compiler cannot bound */
#define LXC_INIT_DIED 1 /* lxc-execute's status when LXC's init was killed */
#define STARTED_FD_ENV "DOCKERWEB_STARTED_FD" /* read by initconfine.c: keep both in step */
#define HOST_VETHS_ENV "DOCKERWEB_HOST_VETHS" /* the same: the spec's host_veth, comma-separated */
#define MAX_VETHS 16 /* host_veth values at most (initconfine.c and supervision.py: the same) */

enum { F_STDIN, F_STDOUT, F_STDERR, F_EXIT, F_CLOSE_STDIN, F_RESIZE, F_HELLO, F_LIVE };

/* ---- small helpers ----------------------------------------------------------------------- */
struct buf {
	char *p;
	size_t off, len, cap; /* data is p[off .. off+len) */
};

static void die_oom(void)
{
	static const char m[] = "supervisor: out of memory\n";
	(void)!write(2, m, sizeof m - 1);
	_exit(70);
}

static void buf_reserve(struct buf *b, size_t more)
{
	if (b->off && b->off + b->len + more > b->cap) {
		memmove(b->p, b->p + b->off, b->len);
		b->off = 0;
	}
	if (b->len + more > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + more)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (!p)
			die_oom();
		b->p = p;
		b->cap = cap;
	}
}

static void buf_add(struct buf *b, const void *data, size_t n)
{
	if (!n)
		return;
	buf_reserve(b, n);
	memcpy(b->p + b->off + b->len, data, n);
	b->len += n;
}

static void buf_drop(struct buf *b, size_t n)
{
	b->off += n;
	b->len -= n;
	if (!b->len)
		b->off = 0;
	if (!b->len && b->cap > 65536) { /* give a big paste's memory back */
		free(b->p);
		b->p = NULL;
		b->cap = 0;
	}
}

static void buf_free(struct buf *b)
{
	free(b->p);
	memset(b, 0, sizeof *b);
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* RFC 3339 UTC with nanoseconds: 2026-01-01T00:00:00.123456789Z (31 bytes + NUL). */
static void rfc3339_now(char out[TS_SIZE])
{
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm); /* not strftime: it reads the time zone file */
	snprintf(out, TS_SIZE, "%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (long)ts.tv_nsec);
}

static int write_all(int fd, const void *data, size_t n)
{
	const char *p = data;
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static void warn(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("supervisor: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

/* Field 22 of /proc/PID/stat (start time in clock ticks since boot); 0 when unreadable. */
static unsigned long long proc_start_time(pid_t pid)
{
	char path[64], data[1024];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, data, sizeof data - 1);
	close(fd);
	if (n <= 0)
		return 0;
	data[n] = 0;
	char *p = strrchr(data, ')');
	if (!p)
		return 0;
	p += 2; /* ") " then field 3 */
	for (int i = 0; i < 19 && p; i++) {
		p = strchr(p, ' ');
		if (p)
			p++;
	}
	return p ? strtoull(p, NULL, 10) : 0;
}

/* fsync the directory holding `path` (a rename or creation in it becomes durable). */
static int fsync_dir_of(const char *path)
{
	char dir[4096];
	snprintf(dir, sizeof dir, "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash == dir)
		slash[1] = 0;
	else if (slash)
		*slash = 0;
	else
		strcpy(dir, ".");
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -1;
	fsync(dfd);
	close(dfd);
	return 0;
}

/* Write `data` to `path` through `path`.tmp and a rename; `durable`: fsync file and dir.
 * `locked`: NULL, or where the file's descriptor goes, flocked exclusively before the
 * rename (so nobody sees the file unlocked); the caller's to close once the file is in
 * place, whatever is returned (-1 when it is not). */
static int write_atomic_locked(const char *path, const char *data, size_t n, int durable, int *locked)
{
	char tmp[4096];
	if (locked)
		*locked = -1;
	if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
		return -1;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	if ((locked && flock(fd, LOCK_EX) != 0) || write_all(fd, data, n) ||
	    (durable && fsync(fd) != 0) || rename(tmp, path) != 0) {
		close(fd);
		return -1;
	}
	if (locked)
		*locked = fd;
	else
		close(fd);
	return durable ? fsync_dir_of(path) : 0;
}

static int write_atomic(const char *path, const char *data, size_t n, int durable)
{
	return write_atomic_locked(path, data, n, durable, NULL);
}

/* ---- JSON strings, exactly as Python's json.dumps (ensure_ascii) -------------------------- */
/* Appends to `out` (or, with out == NULL, only counts) the JSON string of bytes s[0..n):
 * valid UTF-8 as its code points (\uXXXX beyond ASCII, surrogate pairs beyond the BMP); each
 * byte that is not part of a valid UTF-8 sequence as \udcXX (Python's surrogateescape);
 * with `replace`, as \ufffd instead (text for exit.json). Returns the length. */
static const char HEX[] = "0123456789abcdef";

static size_t utf8_seq(const unsigned char *s, size_t n, unsigned *cp)
{
	unsigned c = s[0];
	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	size_t len;
	unsigned lo = 0x80, hi = 0xbf;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2;
	else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f; /* no surrogates */
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
	} else
		return 0;
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	if (len == 2)
		*cp = ((c & 0x1f) << 6) | (s[1] & 0x3f);
	else if (len == 3)
		*cp = ((c & 0x0f) << 12) | ((s[1] & 0x3f) << 6) | (s[2] & 0x3f);
	else
		*cp = ((c & 0x07) << 18) | ((s[1] & 0x3f) << 12) | ((s[2] & 0x3f) << 6) | (s[3] & 0x3f);
	return len;
}

struct out {
	void (*put)(struct out *, const char *, size_t);
	size_t n;
};

static void put_u(struct out *o, unsigned u)
{
	char e[6] = {'\\', 'u', HEX[(u >> 12) & 15], HEX[(u >> 8) & 15], HEX[(u >> 4) & 15], HEX[u & 15]};
	if (o->put)
		o->put(o, e, 6);
	o->n += 6;
}

static void put(struct out *o, const char *s, size_t n)
{
	if (o->put)
		o->put(o, s, n);
	o->n += n;
}

static void json_string(struct out *o, const void *data, size_t n, int replace)
{
	const unsigned char *s = data;
	size_t i = 0;
	put(o, "\"", 1);
	while (i < n) {
		size_t run = i;
		while (run < n && s[run] >= 0x20 && s[run] < 0x7f && s[run] != '"' && s[run] != '\\')
			run++;
		if (run > i) {
			put(o, (const char *)s + i, run - i);
			i = run;
			continue;
		}
		unsigned c = s[i], cp;
		const char *short_esc = NULL;
		switch (c) {
		case '"': short_esc = "\\\""; break;
		case '\\': short_esc = "\\\\"; break;
		case '\n': short_esc = "\\n"; break;
		case '\r': short_esc = "\\r"; break;
		case '\t': short_esc = "\\t"; break;
		case '\b': short_esc = "\\b"; break;
		case '\f': short_esc = "\\f"; break;
		}
		if (short_esc) {
			put(o, short_esc, 2);
			i++;
		} else if (c < 0x80) {
			put_u(o, c); /* other control characters and DEL */
			i++;
		} else {
			size_t len = utf8_seq(s + i, n - i, &cp);
			if (!len) {
				put_u(o, replace ? 0xfffd : 0xdc00 | c);
				i++;
			} else if (cp >= 0x10000) {
				cp -= 0x10000;
				put_u(o, 0xd800 | (cp >> 10));
				put_u(o, 0xdc00 | (cp & 0x3ff));
				i += len;
			} else {
				put_u(o, cp);
				i += len;
			}
		}
	}
	put(o, "\"", 1);
}

struct bufout { /* a JSON document being built in memory */
	struct out o; /* first: put_buf gets the bufout through it */
	struct buf b;
};

static void put_buf(struct out *o, const char *s, size_t n)
{
	buf_add(&((struct bufout *)o)->b, s, n);
}

static void bufout_json(struct bufout *bo, const char *s, int replace)
{
	json_string(&bo->o, s, strlen(s), replace);
}

static void bufout_str(struct bufout *bo, const char *s)
{
	put(&bo->o, s, strlen(s));
}

/* ---- the spec ----------------------------------------------------------------------------- */
struct limit {
	const char *dir, *key;
	long long value;
};

static struct spec {
	int exec_mode, tty, open_stdin, stdin_once;
	unsigned rows, cols;
	char **argv;
	size_t argc, nsize;
	const char *attach_path, *log_path, *exit_path, *state_path, *lxc_log;
	const char *memory_cgroup, *rootfs, *preload;
	struct limit *limits;
	size_t nlimits;
	const char **cgroup_dirs;
	size_t ndirs;
	const char **host_veths; /* a container's veths' host ends: LXC leaves them to the kernel */
	size_t nveths;
	long long log_max_size, log_max_file;
} spec;

static char spec_error[512];

static int spec_fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(spec_error, sizeof spec_error, fmt, ap);
	va_end(ap);
	return -1;
}

static int parse_int(const char *s, long long lo, long long hi, long long *out)
{
	char *end;
	if (!isdigit((unsigned char)s[0]) && !(s[0] == '-' && isdigit((unsigned char)s[1])))
		return -1; /* as Python's int() of what to_bytes writes: no space, no "+" */
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || *end || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

static void *grow(void *p, size_t n, size_t size)
{
	p = realloc(p, (n + 1) * size);
	if (!p)
		die_oom();
	return p;
}

/* A network interface name: 1-15 of [A-Za-z0-9_.-] (no comma: HOST_VETHS_ENV's separator). */
static int valid_ifname(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 15)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("_.-", s[i]))
			return 0;
	return 1;
}

static const char *const STRING_KEYS[] = {"mode", "attach_path", "log_path", "exit_path",
	"state_path", "lxc_log", "memory_cgroup", "rootfs", "preload", "tty",
	"open_stdin", "stdin_once", "log_max_size", "log_max_file", NULL};

/* Parse and validate the spec file's bytes (NUL-terminated fields, see to_bytes). */
static int parse_spec(char *raw, size_t n)
{
	const char *scalar[14] = {0};
	char *p = raw, *end = raw + n;
	if (n == 0 || raw[n - 1] != 0)
		return spec_fail("not a sequence of NUL-terminated fields");
	if (strcmp(p, SPEC_MAGIC) != 0)
		return spec_fail("not a dockerweb supervisor spec (bad magic)");
	p += strlen(p) + 1;
	while (p < end) {
		char *key = p;
		p += strlen(p) + 1;
		int arity = strcmp(key, "cgroup_limit") == 0 ? 3 : 1;
		char *val[3];
		for (int i = 0; i < arity; i++) {
			if (p >= end)
				return spec_fail("key %.40s without a value", key);
			val[i] = p;
			p += strlen(p) + 1;
		}
		if (strcmp(key, "argv") == 0) {
			spec.argv = grow(spec.argv, spec.argc + 1, sizeof *spec.argv);
			spec.argv[spec.argc++] = val[0];
		} else if (strcmp(key, "console_size") == 0) {
			long long v;
			if (parse_int(val[0], 1, 65535, &v))
				return spec_fail("bad console_size %.40s", val[0]);
			if (spec.nsize == 0)
				spec.rows = (unsigned)v;
			else if (spec.nsize == 1)
				spec.cols = (unsigned)v;
			else
				return spec_fail("console_size has more than 2 values");
			spec.nsize++;
		} else if (strcmp(key, "cgroup_dir") == 0) {
			if (val[0][0] != '/')
				return spec_fail("cgroup_dir is not an absolute path");
			spec.cgroup_dirs = grow(spec.cgroup_dirs, spec.ndirs + 1, sizeof *spec.cgroup_dirs);
			spec.cgroup_dirs[spec.ndirs++] = val[0];
		} else if (strcmp(key, "host_veth") == 0) {
			if (!valid_ifname(val[0]) || spec.nveths >= MAX_VETHS)
				return spec_fail("bad host_veth %.40s", val[0]);
			spec.host_veths = grow(spec.host_veths, spec.nveths + 1, sizeof *spec.host_veths);
			spec.host_veths[spec.nveths++] = val[0];
		} else if (strcmp(key, "cgroup_limit") == 0) {
			long long v;
			if (val[0][0] != '/' || !val[1][0] || strchr(val[1], '/'))
				return spec_fail("bad cgroup_limit directory or file");
			if (parse_int(val[2], INT64_MIN, INT64_MAX, &v))
				return spec_fail("bad cgroup_limit value %.40s", val[2]);
			spec.limits = grow(spec.limits, spec.nlimits + 1, sizeof *spec.limits);
			spec.limits[spec.nlimits++] = (struct limit){val[0], val[1], v};
		} else {
			int i = 0;
			while (STRING_KEYS[i] && strcmp(STRING_KEYS[i], key) != 0)
				i++;
			if (!STRING_KEYS[i])
				return spec_fail("unknown key %.40s", key);
			if (scalar[i])
				return spec_fail("key %s given twice", key);
			scalar[i] = val[0];
		}
	}
	for (int i = 0; STRING_KEYS[i]; i++)
		if (!scalar[i])
			return spec_fail("key %s missing", STRING_KEYS[i]);
	if (strcmp(scalar[0], "exec") == 0)
		spec.exec_mode = 1;
	else if (strcmp(scalar[0], "container") != 0)
		return spec_fail("mode must be container or exec");
	const char **paths[] = {&spec.attach_path, &spec.log_path, &spec.exit_path, &spec.state_path,
				&spec.lxc_log, &spec.memory_cgroup, &spec.rootfs, &spec.preload};
	for (int i = 0; i < 8; i++) {
		*paths[i] = scalar[i + 1];
		if (**paths[i] && **paths[i] != '/')
			return spec_fail("%s is not an absolute path", STRING_KEYS[i + 1]);
		if (i < 5 && !**paths[i])
			return spec_fail("%s is empty", STRING_KEYS[i + 1]);
	}
	int *flags[] = {&spec.tty, &spec.open_stdin, &spec.stdin_once};
	for (int i = 0; i < 3; i++) {
		const char *v = scalar[9 + i];
		if (strcmp(v, "0") != 0 && strcmp(v, "1") != 0)
			return spec_fail("%s must be 0 or 1", STRING_KEYS[9 + i]);
		*flags[i] = v[0] == '1';
	}
	if (parse_int(scalar[12], 0, INT64_MAX, &spec.log_max_size))
		return spec_fail("bad log_max_size");
	if (parse_int(scalar[13], 1, 1000, &spec.log_max_file))
		return spec_fail("bad log_max_file");
	if (spec.argc == 0 || !spec.argv[0][0])
		return spec_fail("argv is empty");
	spec.argv = grow(spec.argv, spec.argc + 1, sizeof *spec.argv);
	spec.argv[spec.argc] = NULL;
	if (spec.nsize == 1)
		return spec_fail("console_size needs rows and cols");
	int container_only = spec.memory_cgroup[0] || spec.rootfs[0] || spec.preload[0] ||
			     spec.nlimits || spec.ndirs || spec.nveths;
	if (spec.exec_mode && container_only)
		return spec_fail("an exec spec has container-only fields");
	if (!spec.exec_mode && (!spec.memory_cgroup[0] || !spec.rootfs[0] || !spec.preload[0]))
		return spec_fail("a container spec needs memory_cgroup, rootfs and preload");
	return 0;
}

static int read_spec(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return spec_fail("cannot open %s: %s", path, strerror(errno));
	struct stat st;
	if (fstat(fd, &st) != 0 || st.st_size > SPEC_MAX) {
		close(fd);
		return spec_fail("spec file too large");
	}
	char *raw = malloc((size_t)st.st_size + 1);
	if (!raw)
		die_oom();
	size_t got = 0;
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, raw + got, (size_t)st.st_size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	return parse_spec(raw, got); /* raw stays: the spec points into it */
}

/* ---- supervisor state ----------------------------------------------------------------- */
struct chunk {
	struct chunk *next;
	int stream;
	size_t len;
	char data[];
};

struct client {
	struct client *next;
	int fd, dead, ready, wants_stdin, sent_stdin;
	struct buf in, out;
};

static int status_fd = -1;
static int out_fd[2] = {-1, -1}; /* stdout, stderr readers (a tty: [0] is the master) */
static int pty_master = -1;
static int stdin_fd = -1, stdin_close_requested;
static struct buf stdin_pending;
static struct client *clients;
static int listener = -1;
static long long listener_paused_until; /* out of descriptors: accept again later */
static struct chunk *sb_head, *sb_tail;
static size_t sb_size, sb_count;
static int log_fd = -1;
static int log_dirty; /* a record was written: the log is fsynced at the exit */
static long long log_size; /* bytes in container.log, including those in log_buf */
static char log_buf[LOG_BUF];
static size_t log_buf_len;
static char partial[2][MAX_RECORD];
static size_t partial_len[2];
static pid_t child_pid, init_pid;
static int oom_efd = -1;
static int started_fd[2] = {-1, -1}; /* a container's: [0] ours (SO_PASSCRED), [1] the init's */
#define MSG_STARTED 1 /* the init's message; initconfine.c sends both kinds: keep them in step */
#define MSG_DIED 2    /* lxc-execute's: this byte, a child's pid and the signal that killed it */
#define MSG_INIT 3    /* ours to lxc-execute, once started: this byte and the init's pid */
#define MSG_ENDED 4   /* lxc-execute's: this byte, the init's pid and its wait status, when
		       * LXC reaped it and before LXC's own teardown (the container's end) */
static int init_ended, init_status; /* MSG_ENDED came (from lxc-execute, about our init) */
static int early_end; /* the run ended at MSG_ENDED: lxc-execute still tears down (finish) */
static int child_pidfd = -1;
#define MAX_DEATHS 16
static struct death { pid_t pid; int signo; } deaths[MAX_DEATHS];
static size_t ndeaths;
static int held_cr;
static int stdin_gated; /* an exec's tty: input waits until lxc-attach set up the terminal */
static long long gate_until;
static char setup_error[512];
static char read_buf[READ_SIZE + 1];

static void setup_fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(setup_error, sizeof setup_error, fmt, ap);
	va_end(ap);
	warn("%s", setup_error);
}

static void report(const char *word)
{
	if (status_fd < 0)
		return;
	char line[16];
	int n = snprintf(line, sizeof line, "%s\n", word);
	(void)!write(status_fd, line, (size_t)n);
	close(status_fd);
	status_fd = -1;
}

/* ---- set-up ------------------------------------------------------------------------------ */
static int mkdirs(const char *path)
{
	char p[4096];
	if (mkdir(path, 0755) == 0 || errno == EEXIST)
		return 0; /* the usual case: only the leaf is new (one syscall, not one per level) */
	if (errno != ENOENT || snprintf(p, sizeof p, "%s", path) >= (int)sizeof p)
		return -1;
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = 0;
		if (mkdir(p, 0755) != 0 && errno != EEXIST)
			return -1;
		*s = '/';
	}
	return mkdir(p, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

static int prepare_cgroup(void)
{
	char path[4096], line[64];
	if (mkdirs(spec.memory_cgroup) != 0) {
		setup_fail("cannot create cgroup %s: %s", spec.memory_cgroup, strerror(errno));
		return -1;
	}
	for (size_t i = 0; i < spec.nlimits; i++) {
		struct limit *l = &spec.limits[i];
		snprintf(path, sizeof path, "%s/%s", l->dir, l->key);
		int n = snprintf(line, sizeof line, "%lld", l->value);
		int fd = mkdirs(l->dir) == 0 ? open(path, O_WRONLY | O_CLOEXEC) : -1;
		if (fd < 0 || write_all(fd, line, (size_t)n) != 0) {
			setup_fail("cannot write %lld to %s: %s", l->value, path, strerror(errno));
			if (fd >= 0)
				close(fd);
			return -1;
		}
		close(fd);
	}
	oom_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	snprintf(path, sizeof path, "%s/memory.oom_control", spec.memory_cgroup);
	int ofd = open(path, O_RDONLY | O_CLOEXEC);
	snprintf(path, sizeof path, "%s/cgroup.event_control", spec.memory_cgroup);
	int cfd = open(path, O_WRONLY | O_CLOEXEC);
	int n = snprintf(line, sizeof line, "%d %d", oom_efd, ofd);
	int bad = oom_efd < 0 || ofd < 0 || cfd < 0 || write_all(cfd, line, (size_t)n) != 0;
	int err = errno;
	if (ofd >= 0)
		close(ofd);
	if (cfd >= 0)
		close(cfd);
	if (bad) {
		setup_fail("cannot arm the OOM notification of %s: %s", spec.memory_cgroup, strerror(err));
		return -1;
	}
	return 0;
}

static void resize(unsigned rows, unsigned cols)
{
	if (pty_master < 0)
		return;
	struct winsize ws = {.ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols};
	ioctl(pty_master, TIOCSWINSZ, &ws);
}

/* An exec's pty: raw as Python's tty.setraw, then without ONLCR (lxc-attach turns OPOST back
 * on for its terminal: every "\r\n" of the inner pty would otherwise come out "\r\r\n"). */
static void make_raw(int fd)
{
	struct termios t;
	if (tcgetattr(fd, &t) != 0)
		return;
	t.c_iflag &= ~(tcflag_t)(BRKINT | ICRNL | INPCK | ISTRIP | IXON);
	t.c_oflag &= ~(tcflag_t)OPOST;
	t.c_cflag &= ~(tcflag_t)(CSIZE | PARENB);
	t.c_cflag |= CS8;
	t.c_lflag &= ~(tcflag_t)(ECHO | ICANON | IEXTEN | ISIG);
	t.c_cc[VMIN] = 1;
	t.c_cc[VTIME] = 0;
	tcsetattr(fd, TCSAFLUSH, &t);
	if (tcgetattr(fd, &t) == 0) {
		t.c_oflag &= ~(tcflag_t)ONLCR;
		tcsetattr(fd, TCSANOW, &t);
	}
}

static const int CHILD_SIGNALS[] = {SIGINT, SIGHUP, SIGTERM, SIGPIPE, SIGQUIT, SIGTTOU, SIGTTIN};

static void set_nonblock(int fd)
{
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

/* Fork and exec spec.argv with the child's stdio: pipes, or a pty. */
static int spawn(void)
{
	int child_fds[3], close_after[3] = {-1, -1, -1};
	if (spec.tty) {
		int master, slave;
		if (openpty(&master, &slave, NULL, NULL, NULL) != 0) {
			setup_fail("openpty: %s", strerror(errno));
			return -1;
		}
		fcntl(master, F_SETFD, FD_CLOEXEC);
		fcntl(slave, F_SETFD, FD_CLOEXEC);
		if (spec.exec_mode)
			make_raw(slave);
		pty_master = master;
		resize(spec.nsize ? spec.rows : 24, spec.nsize ? spec.cols : 80);
		child_fds[0] = child_fds[1] = child_fds[2] = slave;
		out_fd[0] = master;
		/* stdin has its own descriptor of the master, so that pending input waits for
		 * POLLOUT independently of output (a 1 MB paste must not stall) */
		if (spec.open_stdin)
			stdin_fd = fcntl(master, F_DUPFD_CLOEXEC, 3);
		stdin_gated = spec.exec_mode && spec.open_stdin;
		gate_until = now_ms() + GATE_MS;
		close_after[0] = slave;
	} else {
		int o[2], e[2], in[2] = {-1, -1};
		if (pipe2(o, O_CLOEXEC) || pipe2(e, O_CLOEXEC) ||
		    (spec.open_stdin ? pipe2(in, O_CLOEXEC) : (in[0] = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0)) {
			setup_fail("pipe: %s", strerror(errno));
			return -1;
		}
		if (spec.open_stdin)
			stdin_fd = in[1];
		child_fds[0] = in[0];
		child_fds[1] = o[1];
		child_fds[2] = e[1];
		out_fd[0] = o[0];
		out_fd[1] = e[0];
		close_after[0] = in[0];
		close_after[1] = o[1];
		close_after[2] = e[1];
	}
	pid_t pid = fork();
	if (pid < 0) {
		setup_fail("fork: %s", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		sigset_t none;
		setsid();
		if (spec.exec_mode) {
			/* the pty becomes lxc-attach's controlling terminal; lxc-attach enters the
			 * container's cwd of the same name; no LD_PRELOAD (containers only) */
			if (spec.tty)
				ioctl(child_fds[0], TIOCSCTTY, 0);
			if (chdir("/") != 0)
				_exit(127);
		} else {
			/* no TIOCSCTTY: LXC's init takes the pty as the container's console. The
			 * library closes the started fd in the init before the command is forked
			 * (and the command's environment is LXC's, without these variables). */
			char num[16];
			snprintf(num, sizeof num, "%d", started_fd[1]);
			if (fcntl(started_fd[1], F_SETFD, 0) != 0 || setenv(STARTED_FD_ENV, num, 1) != 0 ||
			    setenv("LD_PRELOAD", spec.preload, 1) != 0)
				_exit(127);
			if (spec.nveths) {
				char veths[MAX_VETHS * 16] = "";
				for (size_t i = 0; i < spec.nveths; i++)
					snprintf(veths + strlen(veths), sizeof veths - strlen(veths), "%s%s",
						 i ? "," : "", spec.host_veths[i]);
				if (setenv(HOST_VETHS_ENV, veths, 1) != 0)
					_exit(127);
			}
		}
		for (int t = 0; t < 3; t++)
			if (dup2(child_fds[t], t) < 0)
				_exit(127);
		for (size_t i = 0; i < sizeof CHILD_SIGNALS / sizeof *CHILD_SIGNALS; i++)
			signal(CHILD_SIGNALS[i], SIG_DFL);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		execvp(spec.argv[0], spec.argv);
		_exit(127);
	}
	child_pid = pid;
	for (int i = 0; i < 3; i++)
		if (close_after[i] >= 0)
			close(close_after[i]);
	if (started_fd[1] >= 0) {
		close(started_fd[1]); /* ours is [0]: at lxc-execute's exit it reads end-of-file */
		started_fd[1] = -1;
	}
	for (int i = 0; i < 2; i++)
		if (out_fd[i] >= 0)
			set_nonblock(out_fd[i]);
	if (stdin_fd >= 0 && !spec.tty)
		set_nonblock(stdin_fd);
	return 0;
}

/* A socket pair for the init's "started" message: [0] ours, with SO_PASSCRED (the kernel
 * adds the sender's pid to each message, in our pid namespace), [1] for lxc-execute. */
static int open_started(void)
{
	int on = 1;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, started_fd) != 0 ||
	    setsockopt(started_fd[0], SOL_SOCKET, SO_PASSCRED, &on, sizeof on) != 0) {
		setup_fail("socketpair: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/* The pid the kernel gave as the sender of `msg` (SO_PASSCRED), or -1. */
static pid_t sender_pid(struct msghdr *msg)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c)) {
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
			struct ucred cred;
			memcpy(&cred, CMSG_DATA(c), sizeof cred);
			return cred.pid > 0 ? cred.pid : -1;
		}
	}
	return -1;
}

/* One message on our started socket: >0 the init's "started" (the pid the kernel gave as
 * its sender's), 0 at the end of file (lxc-execute and its children are gone) or an error,
 * -1 nothing to read yet, -2 a message that is neither kind or has no credentials, -3
 * lxc-execute's report of a child a signal killed (kept in `deaths`), -4 its report of the
 * init's end (MSG_ENDED: `init_ended` and `init_status` when it is about our init). */
static pid_t read_started(void)
{
	char buf[16], control[CMSG_SPACE(sizeof(struct ucred))];
	struct iovec iov = {buf, sizeof buf};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control,
			     .msg_controllen = sizeof control};
	ssize_t r;
	while ((r = recvmsg(started_fd[0], &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR)
		;
	if (r < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? -1 : 0;
	if (r == 0)
		return 0;
	if (r == 1 + 2 * sizeof(int32_t) && buf[0] == MSG_DIED && !(msg.msg_flags & MSG_TRUNC)) {
		int32_t pid, signo;
		memcpy(&pid, buf + 1, sizeof pid);
		memcpy(&signo, buf + 1 + sizeof pid, sizeof signo);
		if (ndeaths < MAX_DEATHS)
			deaths[ndeaths++] = (struct death){pid, signo};
		return -3;
	}
	if (r == 1 + 2 * sizeof(int32_t) && buf[0] == MSG_ENDED && !(msg.msg_flags & MSG_TRUNC)) {
		int32_t pid, status;
		memcpy(&pid, buf + 1, sizeof pid);
		memcpy(&status, buf + 1 + sizeof pid, sizeof status);
		/* only lxc-execute's word about our init counts (the kernel names the sender) */
		if (init_pid > 0 && pid == init_pid && child_pid > 0 && sender_pid(&msg) == child_pid &&
		    (WIFEXITED(status) || WIFSIGNALED(status))) {
			init_ended = 1;
			init_status = status;
		}
		return -4;
	}
	if (r != 1 || buf[0] != MSG_STARTED)
		return -2;
	pid_t sender = sender_pid(&msg);
	return sender > 0 ? sender : -2;
}

/* Tell lxc-execute (its initconfine) which of its children is the container's init, so that
 * it knows the container's end when it reaps that one (the init, which shared the socket,
 * closed it before the command existed and never reads). */
static void tell_init_pid(void)
{
	char msg[1 + sizeof(int32_t)];
	int32_t pid = (int32_t)init_pid;
	msg[0] = MSG_INIT;
	memcpy(msg + 1, &pid, sizeof pid);
	while (send(started_fd[0], msg, sizeof msg, MSG_DONTWAIT | MSG_NOSIGNAL) < 0 && errno == EINTR)
		;
}

/* Wait for the init's "started" message (its pid) or an early exit of lxc-execute:
 * 1 started, 0 not. A message that came with a fast command's exit still counts. Our end
 * stays open: lxc-execute reports on it how the init died (init_signal_code). */
static int wait_started(int pidfd)
{
	int watch = 1, started = 0;
	for (;;) {
		struct pollfd p[2] = {{pidfd, POLLIN, 0}, {watch ? started_fd[0] : -1, POLLIN, 0}};
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (watch) {
			pid_t pid = read_started();
			if (pid > 0) {
				init_pid = pid;
				started = 1;
				tell_init_pid();
				break;
			}
			if (pid == -2) {
				setup_fail("the container's init sent no usable start message");
				break;
			}
			if (pid == 0)
				watch = 0; /* every sender is gone without a word: wait for the exit */
		}
		if (p[0].revents)
			break;
	}
	return started;
}

static pid_t me;
static unsigned long long my_start; /* read before the fork of the child: less after it */

static void write_state(void)
{
	char doc[512], now[TS_SIZE];
	rfc3339_now(now);
	int n;
	if (spec.exec_mode)
		n = snprintf(doc, sizeof doc,
			     "{\"supervisor_pid\": %d, \"supervisor_start\": %llu, \"pid\": %d, "
			     "\"started_at\": \"%s\"}",
			     (int)me, my_start, (int)child_pid, now);
	else
		n = snprintf(doc, sizeof doc,
			     "{\"supervisor_pid\": %d, \"supervisor_start\": %llu, \"lxc_pid\": %d, "
			     "\"init_pid\": %d, \"init_start\": %llu, \"started_at\": \"%s\"}",
			     (int)me, my_start, (int)child_pid, (int)init_pid,
			     proc_start_time(init_pid), now); /* 0: a fast command may be gone already */
	/* not fsynced: after a host crash no process it names exists any more */
	if (write_atomic(spec.state_path, doc, (size_t)n, 0) != 0)
		setup_fail("cannot write %s: %s", spec.state_path, strerror(errno));
}

/* Bind the attach socket by its name relative to its own directory (a whole path may not fit
 * in sun_path): a container's runtime directory, or DIR (where we are) for an exec. */
static int open_attach(void)
{
	const char *slash = strrchr(spec.attach_path, '/'); /* absolute: the spec's check */
	const char *name = slash + 1;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char dir[PATH_MAX];
	size_t n = slash == spec.attach_path ? 1 : (size_t)(slash - spec.attach_path);
	if (strlen(name) >= sizeof sa.sun_path || n >= sizeof dir) {
		setup_fail("attach socket name too long");
		return -1;
	}
	memcpy(dir, spec.attach_path, n);
	dir[n] = 0;
	strcpy(sa.sun_path, name);
	int here = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (here < 0 || chdir(dir) != 0) {
		setup_fail("attach socket directory %s: %s", dir, strerror(errno));
		if (here >= 0)
			close(here);
		return -1;
	}
	unlink(name);
	listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int failed = listener < 0 || bind(listener, (struct sockaddr *)&sa, sizeof sa) != 0 ||
		     chmod(name, 0600) != 0 || listen(listener, 64) != 0;
	int err = errno;
	if (fchdir(here) != 0 && !failed) {
		failed = 1;
		err = errno;
	}
	close(here);
	if (failed) {
		setup_fail("attach socket: %s", strerror(err));
		return -1;
	}
	return 0;
}

/* ---- the log ----------------------------------------------------------------------------- */
static void log_flush(void)
{
	if (log_buf_len && log_fd >= 0 && write_all(log_fd, log_buf, log_buf_len) != 0) {
		static int warned;
		if (!warned++)
			warn("writing %s: %s (output lost)", spec.log_path, strerror(errno));
	}
	log_buf_len = 0;
}

static void log_put(struct out *o, const char *s, size_t n)
{
	(void)o;
	log_dirty = 1;
	if (log_buf_len + n > sizeof log_buf)
		log_flush();
	if (n > sizeof log_buf) {
		if (log_fd >= 0)
			write_all(log_fd, s, n);
		return;
	}
	memcpy(log_buf + log_buf_len, s, n);
	log_buf_len += n;
}

static int open_log(void)
{
	log_fd = open(spec.log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	struct stat st;
	if (log_fd < 0 || fstat(log_fd, &st) != 0) {
		setup_fail("cannot open %s: %s", spec.log_path, strerror(errno));
		return -1;
	}
	log_size = st.st_size;
	return 0;
}

/* container.log -> .1 -> ... -> .N-1 (N = log_max_file; the oldest is replaced, or with
 * N = 1 the log is removed), then a new container.log. */
static void rotate_log(void)
{
	char from[4200], to[4200];
	log_flush();
	close(log_fd);
	log_fd = -1;
	if (spec.log_max_file <= 1) {
		unlink(spec.log_path);
	} else {
		for (long long n = spec.log_max_file - 2; n > 0; n--) {
			snprintf(from, sizeof from, "%s.%lld", spec.log_path, n);
			snprintf(to, sizeof to, "%s.%lld", spec.log_path, n + 1);
			rename(from, to);
		}
		snprintf(to, sizeof to, "%s.1", spec.log_path);
		rename(spec.log_path, to);
	}
	if (open_log() != 0)
		log_size = 0;
}

static const char *const STREAM_NAMES[] = {"stdin", "stdout", "stderr"};

/* One record of the bytes s[0..n). */
static void log_record(int stream, const char *ts, const char *s, size_t n)
{
	char tail[96];
	int ntail = snprintf(tail, sizeof tail, ", \"stream\": \"%s\", \"time\": \"%s\"}\n",
			     STREAM_NAMES[stream], ts);
	struct out count = {NULL, 0};
	json_string(&count, s, n, 0);
	long long len = 8 + (long long)count.n + ntail;
	/* rotate before a record that would take the file past max-size (never an empty one) */
	if (spec.log_max_size && log_size + len > spec.log_max_size && log_size)
		rotate_log();
	struct out o = {log_put, 0};
	log_put(&o, "{\"log\": ", 8);
	json_string(&o, s, n, 0);
	log_put(&o, tail, (size_t)ntail);
	log_size += len;
}

static char joined[MAX_RECORD + READ_SIZE + 1];

/* Lines of `stream`: each "\n" ends a record, and a line without one is cut every MAX_RECORD
 * bytes; the rest waits for more. The records of one read share one timestamp. */
static void log_output(int stream, const char *data, size_t n)
{
	char *pb = partial[stream - 1], ts[TS_SIZE];
	size_t *pl = &partial_len[stream - 1], pos = 0;
	int have_ts = 0;
	const char *nl;
	if (log_fd < 0)
		return;
	while ((nl = memchr(data + pos, '\n', n - pos))) {
		size_t end = (size_t)(nl - data) + 1;
		if (!have_ts++)
			rfc3339_now(ts);
		if (*pl) {
			memcpy(joined, pb, *pl);
			memcpy(joined + *pl, data + pos, end - pos);
			log_record(stream, ts, joined, *pl + end - pos);
			*pl = 0;
		} else {
			log_record(stream, ts, data + pos, end - pos);
		}
		pos = end;
	}
	while (*pl + (n - pos) >= MAX_RECORD) {
		if (!have_ts++)
			rfc3339_now(ts);
		if (*pl) {
			size_t take = MAX_RECORD - *pl;
			memcpy(pb + *pl, data + pos, take);
			log_record(stream, ts, pb, MAX_RECORD);
			*pl = 0;
			pos += take;
		} else {
			log_record(stream, ts, data + pos, MAX_RECORD);
			pos += MAX_RECORD;
		}
	}
	memcpy(pb + *pl, data + pos, n - pos);
	*pl += n - pos;
	if (have_ts)
		log_flush();
}

static void flush_partials(void)
{
	char ts[TS_SIZE];
	for (int s = F_STDOUT; s <= F_STDERR; s++) {
		if (!partial_len[s - 1])
			continue;
		rfc3339_now(ts);
		log_record(s, ts, partial[s - 1], partial_len[s - 1]);
		partial_len[s - 1] = 0;
		log_flush();
	}
}

/* ---- attach clients ------------------------------------------------------------------------ */
static void close_stdin(void);

static void drop_client(struct client *c)
{
	if (c->dead)
		return;
	c->dead = 1;
	close(c->fd);
	buf_free(&c->in);
	buf_free(&c->out);
	if (spec.stdin_once && c->wants_stdin && c->sent_stdin)
		close_stdin();
}

static void flush_client(struct client *c)
{
	while (!c->dead && c->out.len) {
		ssize_t n = send(c->fd, c->out.p + c->out.off, c->out.len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				drop_client(c); /* gone */
			return;
		}
		buf_drop(&c->out, (size_t)n);
	}
}

static void send_frame(struct client *c, int kind, const char *data, size_t n)
{
	unsigned char head[5] = {(unsigned char)kind, (unsigned char)(n >> 24), (unsigned char)(n >> 16),
				 (unsigned char)(n >> 8), (unsigned char)n};
	if (c->dead)
		return;
	buf_add(&c->out, head, 5);
	buf_add(&c->out, data, n);
	if (c->out.len > MAX_CLIENT_BACKLOG) {
		drop_client(c); /* a slow reader never blocks the container or its logs */
		return;
	}
	flush_client(c);
}

static void remember(int stream, const char *data, size_t n)
{
	struct chunk *c = malloc(sizeof *c + n);
	if (!c)
		die_oom();
	c->next = NULL;
	c->stream = stream;
	c->len = n;
	memcpy(c->data, data, n);
	if (sb_tail)
		sb_tail->next = c;
	else
		sb_head = c;
	sb_tail = c;
	sb_size += n;
	sb_count++;
	while (sb_size > SCROLLBACK_BYTES && sb_count > 1) {
		struct chunk *old = sb_head;
		sb_head = old->next;
		sb_size -= old->len;
		sb_count--;
		free(old);
	}
}

static void broadcast(int kind, const char *data, size_t n)
{
	for (struct client *c = clients; c; c = c->next)
		if (c->ready)
			send_frame(c, kind, data, n);
}

static void accept_clients(void)
{
	for (;;) {
		int fd = accept4(listener, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE) /* else poll() would spin */
				listener_paused_until = now_ms() + 100;
			return;
		}
		struct client *c = calloc(1, sizeof *c);
		if (!c)
			die_oom();
		c->fd = fd;
		c->next = clients;
		clients = c;
	}
}

static void sweep_clients(void)
{
	for (struct client **pp = &clients; *pp;) {
		struct client *c = *pp;
		if (c->dead) {
			*pp = c->next;
			free(c);
		} else {
			pp = &c->next;
		}
	}
}

/* HELLO's payload: a JSON object; "stdin", "scrollback" and "mark_live" are true when given
 * as true (or a non-zero number). -1 when the payload is not a flat JSON object. */
static int parse_hello(const char *s, size_t n, int *want_stdin, int *scrollback, int *mark_live)
{
	size_t i = 0;
#define WS() while (i < n && isspace((unsigned char)s[i])) i++
	*want_stdin = *scrollback = *mark_live = 0;
	WS();
	if (i == n)
		return 0; /* empty: {} */
	if (s[i++] != '{')
		return -1;
	WS();
	if (i < n && s[i] == '}')
		return 0;
	for (;;) {
		WS();
		if (i >= n || s[i++] != '"')
			return -1;
		size_t k = i;
		while (i < n && s[i] != '"') {
			if (s[i] == '\\')
				i++;
			i++;
		}
		if (i >= n)
			return -1;
		size_t klen = i++ - k;
		WS();
		if (i >= n || s[i++] != ':')
			return -1;
		WS();
		size_t v = i;
		if (i < n && s[i] == '"') {
			for (i++; i < n && s[i] != '"'; i++)
				if (s[i] == '\\')
					i++;
			if (i++ >= n)
				return -1;
		} else {
			while (i < n && (isalnum((unsigned char)s[i]) || strchr("+-.", s[i])))
				i++;
			if (i == v)
				return -1; /* nested values are not part of HELLO */
		}
		int truth = (i - v == 4 && !memcmp(s + v, "true", 4)) ||
			    (isdigit((unsigned char)s[v]) && strtod(s + v, NULL) != 0) ||
			    (s[v] == '"' && i - v > 2);
		if (klen == 5 && !memcmp(s + k, "stdin", 5))
			*want_stdin = truth;
		else if (klen == 10 && !memcmp(s + k, "scrollback", 10))
			*scrollback = truth;
		else if (klen == 9 && !memcmp(s + k, "mark_live", 9))
			*mark_live = truth;
		WS();
		if (i < n && s[i] == ',') {
			i++;
			continue;
		}
		if (i < n && s[i] == '}')
			return 0;
		return -1;
	}
#undef WS
}

/* ---- stdin ------------------------------------------------------------------------------- */
/* lxc-attach makes our pty its terminal with tcsetattr(TCSAFLUSH) (LXC's terminal set-up),
 * which discards input written before it: so an exec's tty input waits until the terminal
 * shows that set-up (IGNPAR, which a new pty lacks, or OPOST, which make_raw cleared), at
 * most GATE_MS. */
static int gate_open(void)
{
	struct termios t;
	if (!stdin_gated)
		return 1;
	if (now_ms() >= gate_until || tcgetattr(pty_master, &t) != 0 || (t.c_iflag & IGNPAR) ||
	    (t.c_oflag & OPOST))
		stdin_gated = 0; /* the master reports the slave's termios */
	return !stdin_gated;
}

static void flush_stdin(void)
{
	if (stdin_fd < 0 || !gate_open())
		return;
	while (stdin_pending.len) {
		ssize_t n = write(stdin_fd, stdin_pending.p + stdin_pending.off, stdin_pending.len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				buf_drop(&stdin_pending, stdin_pending.len); /* reader gone */
			break;
		}
		buf_drop(&stdin_pending, (size_t)n);
	}
	if (!stdin_pending.len && stdin_close_requested) {
		close(stdin_fd);
		stdin_fd = -1;
	}
}

static void write_stdin(const char *data, size_t n)
{
	if (stdin_fd < 0 || stdin_close_requested)
		return;
	buf_add(&stdin_pending, data, n);
	flush_stdin();
}

static void close_stdin(void)
{
	if (stdin_fd < 0 || stdin_close_requested)
		return;
	if (spec.tty)
		buf_add(&stdin_pending, "\x04", 1); /* EOF on a terminal is ^D, after pending input */
	stdin_close_requested = 1;
	flush_stdin();
}

static void on_frame(struct client *c, int kind, const char *payload, size_t n)
{
	switch (kind) {
	case F_HELLO: {
		int scrollback, mark_live;
		if (parse_hello(payload, n, &c->wants_stdin, &scrollback, &mark_live) != 0) {
			drop_client(c);
			return;
		}
		if (scrollback)
			for (struct chunk *ch = sb_head; ch && !c->dead; ch = ch->next)
				send_frame(c, ch->stream, ch->data, ch->len);
		if (mark_live && !c->dead) /* the boundary: history above, live output below */
			send_frame(c, F_LIVE, "", 0);
		c->ready = 1;
		break;
	}
	case F_STDIN:
		c->sent_stdin = 1;
		write_stdin(payload, n);
		break;
	case F_CLOSE_STDIN:
		close_stdin();
		break;
	case F_RESIZE:
		if (n == 4)
			resize(((unsigned char)payload[0] << 8) | (unsigned char)payload[1],
			       ((unsigned char)payload[2] << 8) | (unsigned char)payload[3]);
		break;
	}
}

static void on_client(struct client *c)
{
	buf_reserve(&c->in, READ_SIZE);
	ssize_t n;
	do
		n = recv(c->fd, c->in.p + c->in.off + c->in.len, READ_SIZE, MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0 && errno == EAGAIN)
		return;
	if (n <= 0) {
		drop_client(c);
		return;
	}
	c->in.len += (size_t)n;
	while (!c->dead && c->in.len >= 5) {
		const unsigned char *h = (const unsigned char *)c->in.p + c->in.off;
		size_t len = ((size_t)h[1] << 24) | ((size_t)h[2] << 16) | ((size_t)h[3] << 8) | h[4];
		if (len > MAX_FRAME) {
			drop_client(c);
			return;
		}
		if (c->in.len - 5 < len)
			break;
		on_frame(c, h[0], (const char *)h + 5, len);
		if (!c->dead)
			buf_drop(&c->in, 5 + len);
	}
}

/* ---- output ------------------------------------------------------------------------------ */
static char filtered[READ_SIZE + 2];

/* An exec's tty: undo the outer pty's ONLCR. lxc-attach relays the inner pty (which already
 * wrote "\n" as "\r\n") through ours, whose line discipline it sets to OPOST|ONLCR: every "\n"
 * it writes gains a "\r". Turning each "\r\n" back into "\n" undoes exactly that (a "\r" at
 * the end of a read waits for the next one). */
static size_t filter_output(const char *data, size_t n, int eof, const char **out)
{
	if (!spec.exec_mode || !spec.tty) {
		*out = data;
		return n;
	}
	size_t m = 0, j = 0;
	if (held_cr)
		filtered[m++] = '\r';
	held_cr = 0;
	memcpy(filtered + m, data, n);
	m += n;
	if (m && filtered[m - 1] == '\r' && !eof) {
		m--;
		held_cr = 1;
	}
	for (size_t i = 0; i < m; i++) {
		if (filtered[i] == '\r' && i + 1 < m && filtered[i + 1] == '\n')
			continue; /* the "\n" follows */
		filtered[j++] = filtered[i];
	}
	*out = filtered;
	return j;
}

/* Read from an output fd: 2 read something, 1 nothing to read now, 0 at EOF. */
static int on_output(int which)
{
	ssize_t n = read(out_fd[which], read_buf, READ_SIZE);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 1;
	if (n < 0)
		n = 0; /* EIO on a pty master once the slave side is closed */
	int stream = which == 0 ? F_STDOUT : F_STDERR;
	const char *out;
	size_t m = filter_output(read_buf, (size_t)n, n == 0, &out);
	if (m) {
		log_output(stream, out, m);
		remember(stream, out, m);
		broadcast(stream, out, m);
	}
	return n > 0 ? 2 : 0;
}

/* Read what the outputs hold now, without waiting (the container's processes are gone: all
 * they wrote is in the pipes). */
static void drain_outputs(void)
{
	for (int w = 0; w < 2; w++)
		while (out_fd[w] >= 0 && on_output(w) == 2)
			;
}

/* Whether lxc-execute reported the init's end (read what it sent; stop watching at EOF). */
static int init_end_reported(int *watch)
{
	for (pid_t r; (r = read_started()) != -1;) {
		if (r == 0) {
			*watch = 0;
			break;
		}
	}
	return init_ended;
}

/* ---- main loop and exit ------------------------------------------------------------------ */
enum { W_OUT0, W_OUT1, W_PIDFD, W_LISTENER, W_STDIN, W_CLIENT, W_ENDED };

/* The container's run: outputs, attach clients, stdin, until lxc-execute exited and the
 * outputs are drained (DRAIN_GRACE_MS), or, sooner, until lxc-execute reported the init's
 * end (MSG_ENDED, not with a tty: a pty hands its last output on asynchronously): the
 * container's processes are all gone then (its pid namespace ends with its init), so what
 * they wrote is in the pipes; LXC's own teardown follows in lxc-execute, which finish's
 * cleaner waits for. */
static void loop(int pidfd)
{
	long long exited_at = -1;
	/* not without a log either (Docker's none driver): an attach that comes after the end
	 * replays the log; without one it must find us (as long as lxc-execute runs) */
	int watch_end = !spec.exec_mode && !spec.tty && init_pid > 0 && started_fd[0] >= 0 &&
			strcmp(spec.log_path, "/dev/null") != 0;
	struct pollfd *pfds = NULL;
	struct client **who = NULL;
	int *what = NULL;
	size_t cap = 0;
	for (;;) {
		int timeout = -1;
		if (exited_at >= 0) {
			long long left = DRAIN_GRACE_MS - (now_ms() - exited_at);
			if ((out_fd[0] < 0 && out_fd[1] < 0) || left <= 0)
				break;
			timeout = (int)left;
		}
		if (stdin_gated && stdin_pending.len) {
			flush_stdin();
			if (stdin_gated && (timeout < 0 || timeout > 5))
				timeout = 5; /* look at the terminal again soon */
		}
		size_t n = 0, want = 5;
		for (struct client *c = clients; c; c = c->next)
			want++;
		if (want > cap) {
			cap = want * 2;
			pfds = realloc(pfds, cap * sizeof *pfds);
			who = realloc(who, cap * sizeof *who);
			what = realloc(what, cap * sizeof *what);
			if (!pfds || !who || !what)
				die_oom();
		}
#define ADD(fd_, ev_, what_, who_) \
	(pfds[n] = (struct pollfd){(fd_), (ev_), 0}, what[n] = (what_), who[n] = (who_), n++)
		for (int i = 0; i < 2; i++)
			if (out_fd[i] >= 0)
				ADD(out_fd[i], POLLIN, W_OUT0 + i, NULL);
		if (exited_at < 0)
			ADD(pidfd, POLLIN, W_PIDFD, NULL);
		if (exited_at < 0 && watch_end)
			ADD(started_fd[0], POLLIN, W_ENDED, NULL);
		if (listener >= 0 && listener_paused_until) {
			long long wait = listener_paused_until - now_ms();
			if (wait <= 0)
				listener_paused_until = 0;
			else if (timeout < 0 || timeout > wait)
				timeout = (int)wait;
		}
		if (listener >= 0 && !listener_paused_until)
			ADD(listener, POLLIN, W_LISTENER, NULL);
		if (stdin_fd >= 0 && stdin_pending.len && !stdin_gated)
			ADD(stdin_fd, POLLOUT, W_STDIN, NULL);
		for (struct client *c = clients; c; c = c->next)
			ADD(c->fd, POLLIN | (c->out.len ? POLLOUT : 0), W_CLIENT, c);
#undef ADD
		int r = poll(pfds, n, timeout);
		if (r < 0 && errno != EINTR) {
			warn("poll: %s", strerror(errno));
			break;
		}
		for (size_t i = 0; r > 0 && i < n; i++) {
			short ev = pfds[i].revents;
			if (!ev)
				continue;
			switch (what[i]) {
			case W_OUT0:
			case W_OUT1: {
				int w = what[i] - W_OUT0;
				if (!on_output(w)) {
					if (out_fd[w] != pty_master)
						close(out_fd[w]);
					out_fd[w] = -1;
				}
				break;
			}
			case W_PIDFD:
				exited_at = now_ms();
				stdin_gated = 0;
				break;
			case W_ENDED:
				if (init_end_reported(&watch_end)) {
					drain_outputs();
					early_end = 1;
					goto out;
				}
				break;
			case W_LISTENER:
				accept_clients();
				break;
			case W_STDIN:
				if (pfds[i].fd != stdin_fd)
					break; /* closed meanwhile */
				if (ev & (POLLERR | POLLHUP))
					buf_drop(&stdin_pending, stdin_pending.len);
				flush_stdin();
				break;
			case W_CLIENT:
				if (ev & POLLOUT)
					flush_client(who[i]);
				if ((ev & (POLLIN | POLLHUP | POLLERR)) && !who[i]->dead)
					on_client(who[i]);
				break;
			}
		}
		sweep_clients();
	}
out:
	free(pfds);
	free(who);
	free(what);
}

/* 128 + the signal that killed LXC's init (lxc-execute then exits 1: an init killed by the
 * OOM killer, or by the engine's last resort), as lxc-execute reported it on the started
 * socket before it exited (initconfine.c's waitpid); 0 when init was not killed. */
static int init_signal_code(void)
{
	if (!init_pid || started_fd[0] < 0)
		return 0;
	for (pid_t r; (r = read_started()) > 0 || r == -2 || r == -3 || r == -4;)
		; /* lxc-execute is reaped: everything it sent is here */
	for (size_t i = 0; i < ndeaths; i++)
		if (deaths[i].pid == init_pid && deaths[i].signo > 0 && deaths[i].signo < 128)
			return 128 + deaths[i].signo;
	return 0;
}

/* The exit code of a wait status: the exit status, or 128 + the signal that ended it. */
static int status_code(int status)
{
	return WIFEXITED(status) ? WEXITSTATUS(status) : WIFSIGNALED(status) ? 128 + WTERMSIG(status) : 255;
}

static int exit_code(void)
{
	int status;
	while (waitpid(child_pid, &status, 0) < 0)
		if (errno != EINTR)
			return 255;
	int code = status_code(status);
	if (code == LXC_INIT_DIED) {
		int sig = init_signal_code();
		return sig ? sig : code;
	}
	return code;
}

/* The last 5 lines of lxc.log with " ERROR " in them, stripped, joined by "\n". */
static void lxc_error(char *out, size_t size)
{
	char ring[5][1024], line[4096];
	size_t count = 0;
	out[0] = 0;
	FILE *f = fopen(spec.lxc_log, "re");
	if (!f)
		return;
	while (fgets(line, sizeof line, f)) {
		size_t n = strlen(line);
		if (n == sizeof line - 1 && line[n - 1] != '\n') { /* skip the rest of a long line */
			int ch;
			while ((ch = fgetc(f)) != EOF && ch != '\n')
				;
		}
		if (!strstr(line, " ERROR "))
			continue;
		char *s = line;
		while (isspace((unsigned char)*s))
			s++;
		n = strlen(s);
		while (n && isspace((unsigned char)s[n - 1]))
			s[--n] = 0;
		snprintf(ring[count++ % 5], sizeof ring[0], "%s", s);
	}
	fclose(f);
	size_t first = count > 5 ? count - 5 : 0, used = 0;
	for (size_t i = first; i < count && used < size; i++)
		used += (size_t)snprintf(out + used, size - used, "%s%s", i > first ? "\n" : "", ring[i % 5]);
}

static int oom_events(void)
{
	uint64_t v = 0;
	if (oom_efd < 0 || read(oom_efd, &v, sizeof v) != sizeof v)
		return 0;
	return v > 0;
}

static void rmdir_below(const char *path, int depth)
{
	DIR *d = opendir(path);
	if (!d)
		return;
	struct dirent *e;
	char sub[4096];
	while ((e = readdir(d))) {
		if (e->d_type != DT_DIR || !strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (snprintf(sub, sizeof sub, "%s/%s", path, e->d_name) >= (int)sizeof sub)
			continue;
		if (depth < 64)
			rmdir_below(sub, depth + 1);
		rmdir(sub);
	}
	closedir(d);
}

/* Unmount the rootfs and remove the container's cgroups; what failed goes into `problems`. */
static void cleanup(struct bufout *problems)
{
	int any = 0;
	char msg[4200];
	if (spec.exec_mode)
		return; /* an exec joins the container's cgroups and root: nothing of its own */
	if (umount2(spec.rootfs, 0) != 0 && errno != EINVAL && umount2(spec.rootfs, MNT_DETACH) != 0) {
		snprintf(msg, sizeof msg, "umount: %s", strerror(errno));
		bufout_json(problems, msg, 1);
		any = 1;
	}
	for (size_t i = 0; i < spec.ndirs; i++) {
		/* LXC removed its own cgroups below: walk the tree only when one is left */
		if (rmdir(spec.cgroup_dirs[i]) == 0 || errno == ENOENT)
			continue;
		rmdir_below(spec.cgroup_dirs[i], 0);
		if (rmdir(spec.cgroup_dirs[i]) != 0 && errno != ENOENT) {
			snprintf(msg, sizeof msg, "rmdir %s: %s", spec.cgroup_dirs[i], strerror(errno));
			if (any)
				bufout_str(problems, ", ");
			bufout_json(problems, msg, 1);
			any = 1;
		}
	}
}

/* Close every descriptor from 3 up but the `n` in `keep` (ascending, each >= 3). */
static void close_all_but(const int *keep, size_t n)
{
	unsigned from = 3;
	for (size_t i = 0; i < n; i++) {
		if (keep[i] < 0 || (unsigned)keep[i] < from)
			continue;
		if ((unsigned)keep[i] > from)
			syscall(SYS_close_range, from, (unsigned)keep[i] - 1, 0);
		from = (unsigned)keep[i] + 1;
	}
	syscall(SYS_close_range, from, ~0U, 0);
}

static int cmp_int(const void *a, const void *b)
{
	return (*(const int *)a > *(const int *)b) - (*(const int *)a < *(const int *)b);
}

/* After an early end (the init's end reported, lxc-execute still at its teardown): wait for
 * lxc-execute to exit, reading what it still writes on the outputs into the supervisor log
 * (it keeps its own stdout and stderr, the pipes: it must not meet a closed pipe); killed
 * after TEARDOWN_MS. `reap`: we are still its parent (no cleaner: reap it here). */
#define TEARDOWN_MS 10000
static void await_lxc_execute(int reap)
{
	long long until = now_ms() + TEARDOWN_MS;
	int killed = 0;
	while (child_pidfd >= 0) {
		struct pollfd p[3] = {{child_pidfd, POLLIN, 0}, {out_fd[0], POLLIN, 0}, {out_fd[1], POLLIN, 0}};
		long long left = until - now_ms();
		int r = poll(p, 3, left > 0 ? (int)left : 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (p[0].revents || r < 0)
			break;
		if (r == 0) {
			if (killed)
				break; /* SIGKILL did not end it within the time either: leave it */
			warn("lxc-execute still tearing down the container after %d ms: killing it", TEARDOWN_MS);
			kill(child_pid, SIGKILL);
			killed = 1;
			until = now_ms() + TEARDOWN_MS;
			continue;
		}
		for (int i = 1; i < 3; i++) {
			if (!p[i].revents)
				continue;
			ssize_t n = read(p[i].fd, read_buf, READ_SIZE);
			if (n > 0)
				write_all(2, read_buf, (size_t)n);
			else if (n == 0 || (errno != EAGAIN && errno != EINTR))
				out_fd[i - 1] = -1; /* stop watching it (closed with the process) */
		}
	}
	if (reap)
		while (waitpid(child_pid, NULL, 0) < 0 && errno == EINTR)
			;
}

/* After an early end, wait for lxc-execute (`reap`: as its parent); then unmount and remove
 * the cgroups, what failed to the supervisor log. */
static void clean_now(int reap)
{
	struct bufout problems = {{put_buf, 0}, {0}};
	if (early_end)
		await_lxc_execute(reap);
	cleanup(&problems);
	if (problems.b.len)
		warn("cleanup after the exit: %.*s", (int)problems.b.len, problems.b.p + problems.b.off);
	buf_free(&problems.b);
}

/* Make the run's record durable: the log (when anything was written), then exit.json
 * (`exit_fd`, already renamed into place) and its directory, in that order, so that a
 * durable exit.json always comes with its log. */
static void make_durable(int exit_fd)
{
	if (log_fd >= 0 && log_dirty)
		fsync(log_fd);
	if (exit_fd >= 0 && fsync(exit_fd) == 0)
		fsync_dir_of(spec.exit_path);
}

/* The end of a container that ran, after its exit.json: unmount the rootfs, remove the
 * cgroups and make the record durable, in a forked cleaner, so that the waiters of the exit
 * need not wait for any of it: after an early end, LXC's own teardown (~7 ms), the
 * overlay's unmount (it syncs the upper filesystem, ~3 ms) and the fsyncs (~4 ms when
 * exit.json's creation commits the filesystem's journal; after the unmount's sync, little).
 * The cleaner holds `lock_fd` (exit.json, flocked exclusively) until the unmount and the
 * cgroups are done, so that whoever mounts or removes next waits for those (the engine's
 * await_cleanup) but not for the fsyncs, which need neither. It keeps no other descriptor
 * than those (attached clients see their end when we close ours); what it cannot clean
 * goes to the supervisor log. Without the lock (exit.json not written) or the fork, it is
 * all done here and now. */
static void clean_after(int lock_fd)
{
	pid_t pid = lock_fd >= 0 ? fork() : -1;
	if (pid == 0) {
		int keep[5] = {lock_fd, log_fd, early_end ? child_pidfd : -1, early_end ? out_fd[0] : -1,
			       early_end ? out_fd[1] : -1};
		qsort(keep, 5, sizeof keep[0], cmp_int);
		close_all_but(keep, 5);
		clean_now(0);
		flock(lock_fd, LOCK_UN);
		make_durable(lock_fd);
		_exit(0);
	}
	if (pid < 0) {
		make_durable(lock_fd);
		clean_now(1);
	}
	if (lock_fd >= 0)
		close(lock_fd);
}

/* Stop a child that is running although the start failed after the fork (its init first:
 * the whole pid namespace goes with it). */
static void stop_child(void)
{
	if (init_pid > 0)
		kill(init_pid, SIGKILL);
	kill(child_pid, SIGKILL);
}

static void finish(int started)
{
	char error[6000] = "", now[TS_SIZE];
	/* an early end: the init's own status, as lxc-execute would have passed it on */
	int code = early_end ? status_code(init_status) : child_pid ? exit_code() : 255;
	/* a container that ran is cleaned up after exit.json, by a cleaner (clean_after), which
	 * also makes the log and exit.json durable; anything else is, here */
	int later = started && !spec.exec_mode;
	if (log_fd >= 0) {
		flush_partials();
		log_flush();
		if (log_dirty && !later)
			fsync(log_fd); /* no output, nothing to make durable (exit.json's own fsyncs
					* commit the file's creation) */
	}
	int oom = oom_events();
	if (setup_error[0])
		snprintf(error, sizeof error, "%s", setup_error);
	else if (!started) {
		lxc_error(error, sizeof error);
		if (!error[0])
			snprintf(error, sizeof error, "lxc-execute exited with %d before the container started", code);
	} else if (code == 255 && !oom)
		lxc_error(error, sizeof error);
	struct bufout doc = {{put_buf, 0}, {0}};
	char head[128];
	snprintf(head, sizeof head, "{\"exit_code\": %d, \"oom_killed\": %s, \"finished_at\": ", code,
		 oom ? "true" : "false");
	bufout_str(&doc, head);
	rfc3339_now(now);
	bufout_json(&doc, now, 1);
	bufout_str(&doc, ", \"error\": ");
	bufout_json(&doc, error, 1);
	bufout_str(&doc, started ? ", \"started\": true, \"cleanup_problems\": [" :
				   ", \"started\": false, \"cleanup_problems\": [");
	if (!later)
		cleanup(&doc);
	bufout_str(&doc, "]}");
	/* before exit.json: once it is there a new run may start and bind this path again,
	 * and this run must not unlink that one's socket (connected clients keep theirs) */
	unlink(spec.attach_path);
	int lock_fd = -1;
	if (write_atomic_locked(spec.exit_path, doc.b.p, doc.b.len, !later, later ? &lock_fd : NULL) != 0)
		warn("cannot write %s: %s", spec.exit_path, strerror(errno));
	if (later)
		clean_after(lock_fd);
	if (!started)
		report("failed");
	for (struct client *c = clients; c; c = c->next) {
		if (!c->dead && !c->ready)
			on_client(c); /* a HELLO that came with the exit: its scrollback first */
		send_frame(c, F_EXIT, doc.b.p, doc.b.len);
	}
	long long deadline = now_ms() + 1000;
	for (struct client *c = clients; c; c = c->next) {
		while (!c->dead && c->out.len) {
			long long left = deadline - now_ms();
			struct pollfd p = {c->fd, POLLOUT, 0};
			if (left <= 0 || poll(&p, 1, (int)(left < 10 ? 10 : left)) <= 0)
				break;
			flush_client(c);
		}
		drop_client(c);
	}
	sweep_clients();
}

static int run(void)
{
	int started = 0, pidfd = -1;
	me = getpid();
	my_start = proc_start_time(me);
	if (!spec.exec_mode && prepare_cgroup() != 0)
		goto out;
	if (!spec.exec_mode && open_started() != 0)
		goto out;
	/* an exec is started once its child is forked: what does not need the child comes
	 * first, so that little is left between the fork and "started" */
	if (spec.exec_mode && (open_log() != 0 || open_attach() != 0))
		goto out;
	if (spawn() != 0)
		goto out;
	pidfd = (int)syscall(SYS_pidfd_open, child_pid, 0);
	if (pidfd < 0) {
		setup_fail("pidfd_open: %s", strerror(errno));
		stop_child();
		goto out;
	}
	fcntl(pidfd, F_SETFD, FD_CLOEXEC);
	child_pidfd = pidfd;
	started = spec.exec_mode ? 1 : wait_started(pidfd);
	if (setup_error[0]) { /* the start message came but said nothing usable */
		stop_child();
		started = 0;
		goto out;
	}
	if (started) {
		if ((!spec.exec_mode && open_log() != 0) || (write_state(), setup_error[0]) ||
		    (!spec.exec_mode && open_attach() != 0)) {
			stop_child();
			started = 0;
			goto out;
		}
		report("started");
		loop(pidfd);
	}
out:
	finish(started);
	return 0;
}

/* Refuse a spec that could not be read: exit.json says why, the launcher hears "failed". */
static void refuse(const char *dir)
{
	char path[4200], now[TS_SIZE], msg[700];
	struct bufout doc = {{put_buf, 0}, {0}};
	snprintf(msg, sizeof msg, "malformed supervisor spec: %s", spec_error);
	warn("%s", msg);
	rfc3339_now(now);
	bufout_str(&doc, "{\"exit_code\": 255, \"oom_killed\": false, \"finished_at\": ");
	bufout_json(&doc, now, 1);
	bufout_str(&doc, ", \"error\": ");
	bufout_json(&doc, msg, 1);
	bufout_str(&doc, ", \"started\": false, \"cleanup_problems\": []}");
	snprintf(path, sizeof path, "%s/exit.json", dir);
	write_atomic(path, doc.b.p, doc.b.len, 1);
	report("failed");
}

static const int IGNORED_SIGNALS[] = {SIGINT, SIGHUP, SIGTERM, SIGQUIT, SIGTTOU, SIGTTIN, SIGPIPE};

/* `argv[1]` is the directory holding supervisor.spec, `argv[2]` the status fd. */
int main(int argc, char **argv)
{
	char path[4200];
	long long fd;
	if (argc != 3 || argv[1][0] != '/' || parse_int(argv[2], 0, 1 << 20, &fd) != 0) {
		fprintf(stderr, "usage: supervisor /CONTAINER_DIR STATUS_FD\n");
		return 2;
	}
	status_fd = (int)fd;
	fcntl(status_fd, F_SETFD, FD_CLOEXEC);
	umask(077);
	snprintf(path, sizeof path, "%s/supervisor.spec", argv[1]);
	if (read_spec(path) != 0) {
		refuse(argv[1]);
		return 1;
	}
	pid_t pid = fork();
	if (pid < 0) {
		warn("fork: %s", strerror(errno));
		report("failed");
		return 1;
	}
	if (pid > 0)
		_exit(0); /* the launcher reaps this one at once; the supervisor is re-parented */
	if (chdir(argv[1]) != 0) {
		setup_fail("chdir %s: %s", argv[1], strerror(errno));
		finish(0);
		return 1;
	}
	for (size_t i = 0; i < sizeof IGNORED_SIGNALS / sizeof *IGNORED_SIGNALS; i++)
		signal(IGNORED_SIGNALS[i], SIG_IGN);
	return run();
}
