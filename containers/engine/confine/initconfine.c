/* Preloaded into lxc-execute (LD_PRELOAD) by the container supervisor.
 *
 * LXC 5 runs the container's init (PID 1) inside the forked lxc-execute process, without
 * an exec: lxc.cap.keep/lxc.cap.drop only shrink the bounding set, so PID 1 keeps the
 * host's full permitted and effective capabilities (CAP_SYS_ADMIN ...), and only the
 * command, which is exec'd, gets the container's set. LXC's init forks the command once
 * the container is set up (bounding set final, seccomp loaded); at that fork PID 1 drops
 * its own permitted/effective/inheritable sets to its bounding set and makes itself
 * non-dumpable, so that neither its capabilities nor its memory, fds or /proc/1/exe (a
 * file of the host) are within reach of the container's processes. It also sets umask 022
 * there, which the command inherits (Docker's; lxc-execute keeps the supervisor's 077 for
 * the files it writes under the state root).
 *
 * At that same fork it tells the supervisor that the container runs: one byte on the socket
 * whose number the supervisor put in DOCKERWEB_STARTED_FD (the kernel adds this process's
 * pid, in the supervisor's pid namespace: the init's host pid), then it closes that socket,
 * so neither the command nor anything it runs ever holds it. This replaces LXC's start-host
 * hook (a shell and a script per start, which LXC waited for).
 *
 * In lxc-execute itself (LXC's monitor, on the host) it reports how the init died: LXC reaps
 * its init with waitpid(), and when a signal killed it (the OOM killer, the engine's last
 * resort) lxc-execute only exits 1. The library then sends the supervisor the init's pid
 * and the signal on the same socket, before lxc-execute exits, so the exit record says 137
 * (this replaced reading LXC's INFO line "Child <pid> ended on signal", and with it LXC's
 * INFO log at every start). When it reaps the init (whose pid the supervisor sent it,
 * MSG_INIT) it also sends the init's pid and wait status (MSG_ENDED), before LXC's own
 * teardown (cgroups, network, mounts: ~7 ms): the supervisor records the exit from it
 * (supervisor.c, "the container's end").
 *
 * And it leaves the host ends of the container's veths to the kernel. At the container's
 * end LXC deletes each host end itself (RTM_DELLINK), which waits for RCU grace periods:
 * ~20-30 ms before lxc-execute exits, in every bridge container's exit. Once lxc-execute
 * has reaped the init (whose pid the supervisor sent it, MSG_INIT), the library answers
 * LXC's lookup of a host end named in DOCKERWEB_HOST_VETHS (the supervisor's spec) by
 * taking the interface down (no frame crosses the bridge from it any more) and saying it
 * is not there: LXC logs a warning and goes on, and the kernel deletes the pair, in the
 * background, once the container's network namespace is gone (LXC closes it as it exits).
 * The engine deletes a host end still there when the same name is needed again. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void confine_init(void)
{
	struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct data[2] = {{0}};
	unsigned long long bounding = 0;
	int cap;

	for (cap = 0; cap < 64; cap++)
		if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) == 1)
			bounding |= 1ULL << cap;
	if (syscall(SYS_capget, &hdr, data) == 0) {
		data[0].permitted &= (__u32)bounding;
		data[1].permitted &= (__u32)(bounding >> 32);
		data[0].effective &= (__u32)bounding;
		data[1].effective &= (__u32)(bounding >> 32);
		data[0].inheritable = data[1].inheritable = 0;
		if (syscall(SYS_capset, &hdr, data) != 0)
			_exit(126);
	}
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
		_exit(126);
}

#define STARTED_FD_ENV "DOCKERWEB_STARTED_FD" /* set by supervisor.c: keep both in step */

#define MSG_STARTED 1 /* from the init: one byte (supervisor.c reads both kinds) */
#define MSG_DIED 2    /* from lxc-execute: this byte, then the pid and the signal (int32 each) */
#define MSG_INIT 3    /* to lxc-execute, from the supervisor: this byte, then the init's pid */
#define MSG_ENDED 4   /* from lxc-execute: this byte, then the init's pid and wait status */
#define HOST_VETHS_ENV "DOCKERWEB_HOST_VETHS" /* set by supervisor.c: comma-separated */
#define MAX_VETHS 16

static int started_fd = -1;
static dev_t started_dev; /* the socket's identity: the fd is used only while it is still it */
static ino_t started_ino;
static char host_veths[MAX_VETHS][IF_NAMESIZE];
static int nveths;
static pid_t init_pid;   /* lxc-execute: the container's init, as the supervisor said */
static int init_reaped;  /* lxc-execute: the init is gone, the container is being torn down */

__attribute__((constructor)) static void forget_preload(void)
{
	const char *v = getenv(STARTED_FD_ENV);
	char *end;
	long fd = v ? strtol(v, &end, 10) : -1;

	struct stat st;

	if (v && *v && !*end && fd > 2 && fd < 1 << 20 && fcntl((int)fd, F_SETFD, FD_CLOEXEC) == 0 &&
	    fstat((int)fd, &st) == 0 && S_ISSOCK(st.st_mode)) {
		started_fd = (int)fd; /* LXC's init forks without an exec: it keeps it */
		started_dev = st.st_dev;
		started_ino = st.st_ino;
	}
	const char *veths = getenv(HOST_VETHS_ENV);
	for (const char *p = veths; p && *p && nveths < MAX_VETHS;) {
		size_t n = strcspn(p, ",");
		if (n > 0 && n < IF_NAMESIZE) {
			memcpy(host_veths[nveths], p, n);
			host_veths[nveths++][n] = 0;
		}
		p += n + (p[n] == ',');
	}
	/* LXC's hooks and helpers need not load us, nor know the socket */
	unsetenv(HOST_VETHS_ENV);
	unsetenv(STARTED_FD_ENV);
	unsetenv("LD_PRELOAD");
}

static void report_started(void)
{
	char byte = MSG_STARTED;
	ssize_t r;

	if (started_fd < 0)
		return;
	do
		r = send(started_fd, &byte, 1, MSG_NOSIGNAL);
	while (r < 0 && errno == EINTR);
	close(started_fd);
	started_fd = -1;
}

pid_t fork(void)
{
	static pid_t (*real_fork)(void);

	if (!real_fork)
		real_fork = (pid_t (*)(void))dlsym(RTLD_NEXT, "fork");
	if (getpid() == 1) { /* only LXC's init is PID 1: the host's lxc-execute never is */
		report_started(); /* and the socket is closed before the command exists */
		confine_init();
		umask(022); /* the command starts with Docker's umask, not the supervisor's 077 */
	}
	return real_fork();
}

/* lxc-execute: whether the started socket is still open as ours (LXC could have closed it
 * and the number been reused). */
static int our_socket(void)
{
	struct stat st;

	return started_fd >= 0 && fstat(started_fd, &st) == 0 && st.st_dev == started_dev &&
	       st.st_ino == started_ino;
}

/* lxc-execute (not PID 1) tells the supervisor about a child it reaped: message `kind`, the
 * child's pid and `value` (int32 each), on our socket only; a failed send changes nothing
 * for LXC. MSG_DIED: a child a signal killed, and the signal; MSG_ENDED: the container's
 * init, and its wait status. */
static void report(char kind, pid_t pid, int value)
{
	char msg[1 + 2 * sizeof(int32_t)];
	int32_t p = (int32_t)pid, v = (int32_t)value;
	ssize_t r;

	if (!our_socket())
		return;
	msg[0] = kind;
	memcpy(msg + 1, &p, sizeof p);
	memcpy(msg + 1 + sizeof p, &v, sizeof v);
	do
		r = send(started_fd, msg, sizeof msg, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (r < 0 && errno == EINTR);
}

/* lxc-execute: read what the supervisor sent (the init's pid), without waiting. */
static void read_supervisor(void)
{
	char msg[16];
	ssize_t r;
	int32_t pid;

	if (!our_socket())
		return;
	while ((r = recv(started_fd, msg, sizeof msg, MSG_DONTWAIT)) > 0 || (r < 0 && errno == EINTR))
		if (r == 1 + sizeof pid && msg[0] == MSG_INIT) {
			memcpy(&pid, msg + 1, sizeof pid);
			init_pid = (pid_t)pid;
		}
}

pid_t waitpid(pid_t pid, int *status, int options)
{
	static pid_t (*real_waitpid)(pid_t, int *, int);
	int saved, st = 0;
	pid_t r;

	if (!real_waitpid)
		real_waitpid = (pid_t (*)(pid_t, int *, int))dlsym(RTLD_NEXT, "waitpid");
	r = real_waitpid(pid, &st, options);
	if (r > 0) {
		if (status)
			*status = st;
		if (getpid() != 1 && (WIFEXITED(st) || WIFSIGNALED(st))) {
			saved = errno;
			if (!init_pid)
				read_supervisor();
			if (WIFSIGNALED(st))
				report(MSG_DIED, r, WTERMSIG(st));
			if (init_pid > 0 && r == init_pid) {
				init_reaped = 1;
				report(MSG_ENDED, r, st);
			}
			errno = saved;
		}
	}
	return r;
}

/* Take interface `name` down (best effort). */
static void set_down(const char *name)
{
	struct ifreq ifr;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return;
	memset(&ifr, 0, sizeof ifr);
	snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", name);
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) == 0 && (ifr.ifr_flags & IFF_UP)) {
		ifr.ifr_flags &= ~IFF_UP;
		ioctl(fd, SIOCSIFFLAGS, &ifr);
	}
	close(fd);
}

unsigned int if_nametoindex(const char *name)
{
	static unsigned int (*real_if_nametoindex)(const char *);
	int saved;

	if (!real_if_nametoindex)
		real_if_nametoindex = (unsigned int (*)(const char *))dlsym(RTLD_NEXT, "if_nametoindex");
	if (init_reaped && name && getpid() != 1)
		for (int i = 0; i < nveths; i++)
			if (strcmp(name, host_veths[i]) == 0) {
				saved = errno;
				set_down(name); /* the kernel deletes it with the namespace */
				errno = saved;
				return 0;
			}
	return real_if_nametoindex(name);
}
