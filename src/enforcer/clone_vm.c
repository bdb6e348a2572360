// SPDX-License-Identifier: MIT
/* clone3() for a child that shares its parent's memory until it execs
 * (CLONE_VM | CLONE_VFORK, as posix_spawn does), on a stack of its own, with
 * the flags of clone3 (CLONE_INTO_CGROUP) that glibc's clone() lacks: the
 * child calls fn(arg), which must exec or _exit, never return. No copy of the
 * parent's page tables, no copy-on-write faults, no teardown of a copied
 * address space at exec: what a fork of a large process costs (sandbox.h:
 * a session's command). */
#include "enforcer/sandbox_internal.h"

#include <errno.h>
#include <linux/sched.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define CHILD_STACK (256 * 1024)
#define GUARD 4096 /* below the stack: an overflow faults, never writes the caller's memory */

#if defined(__SANITIZE_ADDRESS__)
#define NO_CLONE_VM 1 /* ASan's stack bookkeeping assumes a child of its own */
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define NO_CLONE_VM 1
#endif
#endif

#if !defined(NO_CLONE_VM) && (defined(__x86_64__) || defined(__aarch64__))
/* The child starts on the new stack at the instruction after the syscall, in
 * this function's frame, which is not its: it calls fn at once and traps if
 * fn returns. Registers survive the syscall but for the result (and rcx, r11
 * on x86_64). */
static long clone3_call(struct clone_args *a, void (*fn)(void *), void *arg)
{
#if defined(__x86_64__)
	register long rax __asm__("rax") = SYS_clone3;
	register long rdi __asm__("rdi") = (long)a;
	register long rsi __asm__("rsi") = (long)sizeof(*a);
	register long r12 __asm__("r12") = (long)fn;
	register long r13 __asm__("r13") = (long)arg;

	__asm__ volatile("syscall\n\t"
			 "test %%rax, %%rax\n\t"
			 "jnz 1f\n\t"
			 "xor %%ebp, %%ebp\n\t"
			 "mov %%r13, %%rdi\n\t"
			 "call *%%r12\n\t"
			 "ud2\n"
			 "1:"
			 : "+r"(rax)
			 : "r"(rdi), "r"(rsi), "r"(r12), "r"(r13)
			 : "rcx", "r11", "memory", "cc");
	return rax;
#else
	register long x8 __asm__("x8") = SYS_clone3;
	register long x0 __asm__("x0") = (long)a;
	register long x1 __asm__("x1") = (long)sizeof(*a);
	register long x2 __asm__("x2") = (long)fn;
	register long x3 __asm__("x3") = (long)arg;

	__asm__ volatile("svc #0\n\t"
			 "cbnz x0, 1f\n\t"
			 "mov x29, xzr\n\t"
			 "mov x0, x3\n\t"
			 "blr x2\n\t"
			 "brk #0\n"
			 "1:"
			 : "+r"(x0)
			 : "r"(x8), "r"(x1), "r"(x2), "r"(x3)
			 : "x30", "memory", "cc");
	return x0;
#endif
}

pid_t ward_clone_vm(struct clone_args *a, void (*fn)(void *), void *arg)
{
	char *map = mmap(NULL, GUARD + CHILD_STACK, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	long r;

	if (map == MAP_FAILED)
		return -1;
	if (mprotect(map, GUARD, PROT_NONE) < 0) {
		munmap(map, GUARD + CHILD_STACK);
		return -1;
	}
	a->flags |= CLONE_VM | CLONE_VFORK;
	a->stack = (uint64_t)(uintptr_t)(map + GUARD);
	a->stack_size = CHILD_STACK;
	r = clone3_call(a, fn, arg);
	/* here the child has exec'd or is gone: its stack is free again */
	munmap(map, GUARD + CHILD_STACK);
	if (r < 0) {
		errno = (int)-r;
		return -1;
	}
	return (pid_t)r;
}
#else
/* A copy of the parent's memory: the child runs fn in it. */
pid_t ward_clone_vm(struct clone_args *a, void (*fn)(void *), void *arg)
{
	pid_t pid = (pid_t)syscall(SYS_clone3, a, sizeof(*a));

	if (pid == 0) {
		fn(arg);
		_exit(127);
	}
	return pid;
}
#endif
