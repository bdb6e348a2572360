/* SPDX-License-Identifier: MIT */
/* The path of an executable the kernel named by identity only ((dev, ino) of
 * task->mm->exe_file, kernel dev encoding), for decision rows. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/exe_ident.h"

/* /proc/<pid>/exe, kept only if it still is that identity (pid reuse, exec). */
int ward_exe_path(pid_t pid, uint64_t dev, uint64_t ino, char *buf, size_t len);
/* The first that works of: ward_exe_path(); kernel_name, the path the kernel
 * read at the event (bpf/fs_dir.h exe_path; NULL or not absolute: none),
 * for a process gone since; the identity searched for in $PATH. */
int ward_exe_name(pid_t pid, uint64_t dev, uint64_t ino, const char *kernel_name, char *buf,
		  size_t len);
/* The cgroup v2 id of a live process or thread (/proc/<pid>/cgroup), for the
 * session of rows no kernel event names; 0 when it is gone. */
uint64_t ward_pid_cgroup_id(pid_t pid);
