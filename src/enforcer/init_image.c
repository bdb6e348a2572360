// SPDX-License-Identifier: MIT
#include "enforcer/init_image.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "init_image_gen.h" /* build dir: WARD_INIT_PATH, WARD_INIT_SHA256 */

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif

__asm__(".section .rodata\n"
	".balign 16\n"
	"ward_init_image:\n"
	".incbin \"" WARD_INIT_PATH "\"\n"
	"ward_init_image_end:\n"
	".previous\n");
extern const unsigned char ward_init_image[], ward_init_image_end[];

/* Which build of ward-init this is (the preprocessed source depends on it). */
const char ward_init_image_sha256[] = WARD_INIT_SHA256;

int ward_init_image_open(int *ret_fd, struct ward_error *err)
{
	const unsigned char *p = ward_init_image;
	size_t left = (size_t)(ward_init_image_end - ward_init_image);
	_cleanup_close_ int fd = -1;
	char path[64];
	int ro;

	/* MFD_EXEC: vm.memfd_noexec=1 makes memfds non-executable by default */
	fd = memfd_create("ward-init", MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC);
	if (fd < 0 && errno == EINVAL)
		fd = memfd_create("ward-init", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return ward_err(err, -errno, "memfd for ward-init%s",
				errno == EACCES ? " (vm.memfd_noexec=2?)" : "");
	while (left) {
		ssize_t n = write(fd, p, left);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return ward_err(err, n < 0 ? -errno : -EIO, "write ward-init to its memfd");
		p += n;
		left -= (size_t)n;
	}
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) < 0)
		return ward_err(err, -errno, "seal ward-init's memfd");
	/* execve refuses a file open for writing (ETXTBSY): a read-only one */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	ro = open(path, O_RDONLY | O_CLOEXEC);
	if (ro < 0)
		return ward_err(err, -errno, "reopen ward-init's memfd read-only");
	*ret_fd = ro;
	return 0;
}
