// SPDX-License-Identifier: GPL-2.0
/*
 * rxe_migros's plugin for stock CRIU (docs/criu.md).
 *
 * PAUSE_DEVICES: as CRIU seizes each task, stop the QPs of every uverbs
 * file it holds on an rxe_migros device (/dev/rxe_migros, STOP): its
 * partners pause instead of exhausting their retries. A task that holds
 * the RDMA connection manager (/dev/infiniband/rdma_cm) is refused first:
 * its connections are the RDMA core's, not ours to save.
 *
 * HANDLE_DEVICE_VMA: the rings a process maps from its uverbs file are
 * ours to keep (they are in the image below), so CRIU records only where
 * they are.
 *
 * DUMP_EXT_FILE: a uverbs file of an rxe_migros device is written, with
 * every object of its context, to rxe_migros-<id>.img in the image
 * directory (/dev/rxe_migros, DUMP; the format is docs/image.md). So is
 * each of its event files (the asynchronous event file, completion
 * channels), whose image names its context and which channel it is. A
 * completion channel no CQ reports to cannot be told from the
 * asynchronous event file: a context with such a channel is refused (the
 * dump fails, and the QPs resume in place).
 *
 * At the end of a dump that failed, or that leaves the tasks running, the
 * QPs resume in place and announce themselves, so that their partners
 * leave Paused. After a dump that succeeded the tasks are killed: their
 * QPs stay stopped until they go, and the partners wait for the restored
 * ones.
 *
 * Restoring is in restore.c.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <criu-plugin.h>

#include "rxe_migros_ctl.h"
#include "plugin.h"


/* A uverbs file whose QPs this dump stopped. */
struct stopped {
	int pid;
	int task_fd;	/* its number in the task */
	int fd;		/* our descriptor of the same file */
};

static struct stopped *stopped;
static size_t nr_stopped;
int ctl = -1;

/* The event files of each context of the tasks being dumped that are no
 * CQ's completion channel: one, the asynchronous event file, is normal. */
struct context_events {
	uint64_t context;
	unsigned int files;
};

static struct context_events *events;
static size_t nr_events;

/* Our descriptor of task `pid`'s file `fd` (pidfd_getfd(2)), or -1. */
int take_fd(int pid, int fd)
{
	int pidfd = syscall(SYS_pidfd_open, pid, 0);
	int mine;

	if (pidfd < 0)
		return -1;
	mine = syscall(SYS_pidfd_getfd, pidfd, fd, 0);
	close(pidfd);
	return mine;
}

/* Whether descriptor `fd` of task `pid` links to a name starting with
 * `prefix`. */
bool links_to(int pid, const char *fd, const char *prefix)
{
	char path[64], target[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/fd/%s", pid, fd);
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return false;
	target[n] = '\0';
	return strncmp(target, prefix, strlen(prefix)) == 0;
}

/* What file `fd` (ours) is: RXE_MIGROS_FILE_*, its context and (for an
 * event file) its channel, or 0 if it is no file of an rxe_migros context;
 * -errno on failure. */
int identify(int fd, uint64_t *context, unsigned int *channel)
{
	struct rxe_migros_identify id = {
		.size = sizeof(id),
		.version = RXE_MIGROS_CTL_VERSION,
		.fd = fd,
	};

	if (ioctl(ctl, RXE_MIGROS_IOC_IDENTIFY, &id))
		return errno == ENODEV ? 0 : -errno;
	*context = id.context;
	*channel = id.channel;
	return id.kind;
}

/* Counts task `pid`'s event file `task_fd`, if it is one of ours. */
static int count_event_file(int pid, int task_fd)
{
	struct context_events *more;
	uint64_t context;
	unsigned int channel;
	int fd = take_fd(pid, task_fd);
	int kind;

	if (fd < 0)
		return -errno;
	kind = identify(fd, &context, &channel);
	close(fd);
	if (kind != RXE_MIGROS_FILE_EVENT || channel)
		return kind < 0 ? kind : 0;
	for (size_t i = 0; i < nr_events; i++) {
		if (events[i].context == context) {
			events[i].files++;
			return 0;
		}
	}
	more = realloc(events, (nr_events + 1) * sizeof(*events));
	if (!more)
		return -ENOMEM;
	events = more;
	events[nr_events++] = (struct context_events){ .context = context, .files = 1 };
	return 0;
}

/* The event files of `context` that are no CQ's channel. */
static unsigned int event_files(uint64_t context)
{
	for (size_t i = 0; i < nr_events; i++)
		if (events[i].context == context)
			return events[i].files;
	return 0;
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

/* Opens the control device; false if our driver is not loaded. */
bool open_ctl(void)
{
	if (ctl < 0)
		ctl = open("/dev/rxe_migros", O_RDWR | O_CLOEXEC);
	return ctl >= 0;
}

/* The number of a descriptor of task `pid` on the RDMA connection
 * manager (/dev/infiniband/rdma_cm), or -1. */
static int rdma_cm_fd(int pid)
{
	char dir[32];
	struct dirent *de;
	DIR *d;
	int fd = -1;

	snprintf(dir, sizeof(dir), "/proc/%d/fd", pid);
	d = opendir(dir);
	if (!d)
		return -1;
	while (fd < 0 && (de = readdir(d)))
		if (de->d_name[0] != '.' && links_to(pid, de->d_name, "/dev/infiniband/rdma_cm"))
			fd = atoi(de->d_name);
	closedir(d);
	return fd;
}

static int pause_devices(int pid)
{
	char dir[32];
	struct dirent *de;
	DIR *d;
	int ret = 0, cm;

	if (!open_ctl())	/* nothing of ours */
		return 0;
	/* Before anything is stopped: the connections of rdma_cm live in the
	 * RDMA core (ucma, ib_cm), which has no way to save or recreate them. */
	cm = rdma_cm_fd(pid);
	if (cm >= 0) {
		say(LOG_ERROR, "task %d fd %d: rdma_cm connections cannot be migrated "
		    "(their state is the RDMA core's): dump refused", pid, cm);
		return -EINVAL;	/* not -EOPNOTSUPP: CRIU takes that for "not mine" */
	}
	snprintf(dir, sizeof(dir), "/proc/%d/fd", pid);
	d = opendir(dir);
	if (!d)
		return -errno;
	while (!ret && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (links_to(pid, de->d_name, "/dev/infiniband/uverbs"))
			ret = stop_file(pid, atoi(de->d_name));
		else if (links_to(pid, de->d_name, "anon_inode:[infinibandevent]"))
			ret = count_event_file(pid, atoi(de->d_name));
	}
	closedir(d);
	return ret;
}

/* Whether `st` is a uverbs character device (class infiniband_verbs). */
static bool is_uverbs_dev(const struct stat *st)
{
	char path[64], target[256];
	ssize_t n;

	if (!S_ISCHR(st->st_mode))
		return false;
	snprintf(path, sizeof(path), "/sys/dev/char/%u:%u", major(st->st_rdev), minor(st->st_rdev));
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return false;
	target[n] = '\0';
	return strstr(target, "/infiniband_verbs/") != NULL;
}

static int handle_device_vma(int fd, const struct stat *st)
{
	(void)fd;
	return is_uverbs_dev(st) ? 0 : -ENOTSUP;
}

/* Writes all of buf to fd. */
static int write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= n;
	}
	return 0;
}

/* The image of uverbs file `fd` into rxe_migros-<id>.img. -ENOTSUP for a
 * file that is not ours, for another plugin to take. */
static int dump_file(int fd, int id)
{
	struct rxe_migros_dump d = {
		.size = sizeof(d),
		.version = RXE_MIGROS_CTL_VERSION,
		.uverbs_fd = fd,
	};
	char name[64];
	char *buf = NULL;
	uint64_t context;
	unsigned int channel;
	int img, ret, kind;

	if (!open_ctl())
		return -ENOTSUP;
	kind = identify(fd, &context, &channel);
	if (kind <= 0)
		return kind ? kind : -ENOTSUP;
	if (kind == RXE_MIGROS_FILE_EVENT && !channel && event_files(context) > 1) {
		say(LOG_ERROR, "file %#x: a completion channel that no CQ reports to "
		    "cannot be told from the asynchronous event file", id);
		return -EINVAL;
	}
	/* First the length (ENOSPC), then the image. */
	while (ioctl(ctl, RXE_MIGROS_IOC_DUMP, &d)) {
		char *more;

		if (errno == ENODEV) {
			free(buf);
			return -ENOTSUP;
		}
		if (errno != ENOSPC || d.image_len <= d.buf_len) {
			ret = -errno;
			say(LOG_ERROR, "cannot dump file %#x: %s", id, strerror(errno));
			free(buf);
			return ret;
		}
		more = realloc(buf, d.image_len);
		if (!more) {
			free(buf);
			return -ENOMEM;
		}
		buf = more;
		d.buf = (uintptr_t)buf;
		d.buf_len = d.image_len;
	}
	snprintf(name, sizeof(name), "rxe_migros-%x.img", id);
	img = openat(criu_get_image_dir(), name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (img < 0 || write_all(img, buf, d.image_len) || fsync(img)) {
		ret = -errno;
		say(LOG_ERROR, "cannot write %s: %s", name, strerror(errno));
	} else {
		ret = 0;
		say(LOG_INFO, "file %#x: %llu bytes in %s", id, (unsigned long long)d.image_len, name);
	}
	if (img >= 0)
		close(img);
	free(buf);
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
	restore_fini();
	if (stage == CR_PLUGIN_STAGE__DUMP && (ret || leave_running()))
		resume_all();
	for (size_t i = 0; i < nr_stopped; i++)
		close(stopped[i].fd);
	free(stopped);
	stopped = NULL;
	nr_stopped = 0;
	free(events);
	events = NULL;
	nr_events = 0;
	if (ctl >= 0)
		close(ctl);
	ctl = -1;
}

CR_PLUGIN_REGISTER("rxe_migros", init, fini)
CR_PLUGIN_REGISTER_HOOK(CR_PLUGIN_HOOK__PAUSE_DEVICES, pause_devices)
CR_PLUGIN_REGISTER_HOOK(CR_PLUGIN_HOOK__HANDLE_DEVICE_VMA, handle_device_vma)
CR_PLUGIN_REGISTER_HOOK(CR_PLUGIN_HOOK__DUMP_EXT_FILE, dump_file)
CR_PLUGIN_REGISTER_HOOK(CR_PLUGIN_HOOK__RESTORE_EXT_FILE, restore_ext_file)
CR_PLUGIN_REGISTER_HOOK(CR_PLUGIN_HOOK__UPDATE_VMA_MAP, update_vma_map)
CR_PLUGIN_REGISTER_HOOK(CR_PLUGIN_HOOK__RESUME_DEVICES_LATE, resume_devices_late)
