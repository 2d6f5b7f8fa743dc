/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the dump side (rxe_migros_plugin.c) and the restore side
 * (restore.c) of the CRIU plugin share.
 */
#ifndef RXE_MIGROS_PLUGIN_H
#define RXE_MIGROS_PLUGIN_H

#include <stdbool.h>
#include <stdint.h>

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

/* /dev/rxe_migros, once open_ctl() opened it. */
extern int ctl;
bool open_ctl(void);
int take_fd(int pid, int fd);
bool links_to(int pid, const char *fd, const char *prefix);
int identify(int fd, uint64_t *context, unsigned int *channel);

/* The restore hooks (restore.c). */
int restore_ext_file(int id);
int update_vma_map(const char *path, const uint64_t addr, const uint64_t old_pgoff,
		   uint64_t *new_pgoff, int *plugin_fd);
int resume_devices_late(int pid);
void restore_fini(void);

#endif
