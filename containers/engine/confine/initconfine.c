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
 * the files it writes under the state root). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <linux/capability.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
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

__attribute__((constructor)) static void forget_preload(void)
{
	unsetenv("LD_PRELOAD"); /* LXC's hooks and helpers need not load us */
}

pid_t fork(void)
{
	static pid_t (*real_fork)(void);

	if (!real_fork)
		real_fork = (pid_t (*)(void))dlsym(RTLD_NEXT, "fork");
	if (getpid() == 1) { /* only LXC's init is PID 1: the host's lxc-execute never is */
		confine_init();
		umask(022); /* the command starts with Docker's umask, not the supervisor's 077 */
	}
	return real_fork();
}
