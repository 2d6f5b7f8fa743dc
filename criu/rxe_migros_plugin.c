// SPDX-License-Identifier: GPL-2.0
/*
 * rxe_migros's plugin for stock CRIU (docs/criu.md).
 *
 * PAUSE_DEVICES: as CRIU seizes each task, stop the QPs of every uverbs
 * file it holds on an rxe_migros device (/dev/rxe_migros, STOP): its
 * partners pause instead of exhausting their retries.
 *
 * At the end of a dump that failed, or that leaves the tasks running, the
 * QPs resume in place and announce themselves, so that their partners
 * leave Paused. After a dump that succeeded the tasks are killed: their
 * QPs stay stopped until they go, and the partners wait for the restored
 * ones.
 *
 * Dumping and restoring the objects themselves (DUMP_EXT_FILE and the
 * restore hooks, issue #5) are not here yet: CRIU refuses to dump a
 * uverbs file, so every dump of an RDMA process fails, after the stop,
 * and its QPs resume in place.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <criu-plugin.h>

#include "rxe_migros_ctl.h"

/*
 * CRIU's log, which it exports to plugins. Its declaration and levels are
 * in CRIU's log.h, which libcriu-dev does not ship (its criu-log.h
 * includes it): these are the values of CRIU 4.1.1.
 */
extern void print_on_level(unsigned int loglevel, const char *format, ...)
	__attribute__((format(printf, 2, 3)));
#define LOG_ERROR 1
#define LOG_INFO 3
#define say(level, fmt, ...) print_on_level(level, "rxe_migros: " fmt "\n", ##__VA_ARGS__)

/* A uverbs file whose QPs this dump stopped. */
struct stopped {
	int pid;
	int task_fd;	/* its number in the task */
	int fd;		/* our descriptor of the same file */
};

static struct stopped *stopped;
static size_t nr_stopped;
static int ctl = -1;

/* Our descriptor of task `pid`'s file `fd` (pidfd_getfd(2)), or -1. */
static int take_fd(int pid, int fd)
{
	int pidfd = syscall(SYS_pidfd_open, pid, 0);
	int mine;

	if (pidfd < 0)
		return -1;
	mine = syscall(SYS_pidfd_getfd, pidfd, fd, 0);
	close(pidfd);
	return mine;
}

/* Whether descriptor `fd` of task `pid` is a uverbs file. */
static bool is_uverbs(int pid, const char *fd)
{
	char path[64], target[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/fd/%s", pid, fd);
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return false;
	target[n] = '\0';
	return strncmp(target, "/dev/infiniband/uverbs", 22) == 0;
}

/* Stops the QPs of task `pid`'s uverbs file `task_fd`. 0 also when the
 * file is another driver's. */
static int stop_file(int pid, int task_fd)
{
	struct rxe_migros_stop s = {
		.size = sizeof(s),
		.version = RXE_MIGROS_CTL_VERSION,
	};
	struct stopped *more;
	int fd = take_fd(pid, task_fd);

	if (fd < 0) {
		say(LOG_ERROR, "cannot take fd %d of task %d: %s", task_fd, pid, strerror(errno));
		return -errno;
	}
	s.uverbs_fd = fd;
	if (ioctl(ctl, RXE_MIGROS_IOC_STOP, &s)) {
		int err = errno;

		close(fd);
		if (err == ENODEV)	/* another driver's device, or no context */
			return 0;
		say(LOG_ERROR, "cannot stop the QPs of task %d fd %d: %s", pid, task_fd, strerror(err));
		return -err;
	}
	more = realloc(stopped, (nr_stopped + 1) * sizeof(*stopped));
	if (!more) {
		close(fd);
		return -ENOMEM;
	}
	stopped = more;
	stopped[nr_stopped++] = (struct stopped){ .pid = pid, .task_fd = task_fd, .fd = fd };
	say(LOG_INFO, "task %d fd %d: %u QPs stopped", pid, task_fd, s.qps);
	return 0;
}

static int pause_devices(int pid)
{
	char dir[32];
	struct dirent *de;
	DIR *d;
	int ret = 0;

	if (ctl < 0) {
		ctl = open("/dev/rxe_migros", O_RDWR | O_CLOEXEC);
		if (ctl < 0)	/* our driver is not loaded: nothing of ours */
			return 0;
	}
	snprintf(dir, sizeof(dir), "/proc/%d/fd", pid);
	d = opendir(dir);
	if (!d)
		return -errno;
	while (!ret && (de = readdir(d))) {
		if (de->d_name[0] != '.' && is_uverbs(pid, de->d_name))
			ret = stop_file(pid, atoi(de->d_name));
	}
	closedir(d);
	return ret;
}

/* Whether CRIU was told to leave the tasks running (-R, --leave-running):
 * its command line is the only place a plugin can learn it. */
static bool leave_running(void)
{
	char buf[4096];
	ssize_t n;
	int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	for (ssize_t i = 0; i < n; i += strlen(buf + i) + 1) {
		buf[n] = '\0';
		if (!strcmp(buf + i, "-R") || !strcmp(buf + i, "--leave-running"))
			return true;
	}
	return false;
}

static void resume_all(void)
{
	for (size_t i = 0; i < nr_stopped; i++) {
		struct rxe_migros_resume r = {
			.size = sizeof(r),
			.version = RXE_MIGROS_CTL_VERSION,
			.uverbs_fd = stopped[i].fd,
		};

		if (ioctl(ctl, RXE_MIGROS_IOC_RESUME, &r))
			say(LOG_ERROR, "cannot resume task %d fd %d: %s", stopped[i].pid,
			    stopped[i].task_fd, strerror(errno));
		else
			say(LOG_INFO, "task %d fd %d: %u QPs resumed in place, %u announcing",
			    stopped[i].pid, stopped[i].task_fd, r.qps, r.announced);
	}
}

static int init(int stage)
{
	(void)stage;
	return 0;
}

static void fini(int stage, int ret)
{
	if (stage == CR_PLUGIN_STAGE__DUMP && (ret || leave_running()))
		resume_all();
	for (size_t i = 0; i < nr_stopped; i++)
		close(stopped[i].fd);
	free(stopped);
	stopped = NULL;
	nr_stopped = 0;
	if (ctl >= 0)
		close(ctl);
	ctl = -1;
}

CR_PLUGIN_REGISTER("rxe_migros", init, fini)
CR_PLUGIN_REGISTER_HOOK(CR_PLUGIN_HOOK__PAUSE_DEVICES, pause_devices)
