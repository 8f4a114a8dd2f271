// SPDX-License-Identifier: GPL-2.0-or-later
/* daemon/loader.c: the program argument of "ld.so FILE" and executable mappings. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cmocka.h>

#include "kernel_internal.h"
#include "loader.h"

/* loader.c hashes through compile.c: not needed for these tests. */
int tg_compiled_hash_fd(const struct tg_compiled *c, int fd, const char *path, struct tg_abi_refs *ret_refs)
{
	(void)c;
	(void)fd;
	(void)path;
	(void)ret_refs;
	return 0;
}

static const char *prog(const char **lp, size_t argc, ...)
{
	const char *argv[16];
	va_list ap;

	va_start(ap, argc);
	for (size_t i = 0; i < argc && i < 16; i++)
		argv[i] = va_arg(ap, const char *);
	va_end(ap);
	return tg_loader_program_arg(argv, argc, lp);
}

static void test_program_arg(void **state)
{
	const char *lp = "unset";

	(void)state;
	assert_string_equal(prog(&lp, 2, "ld.so", "/a/b"), "/a/b");
	assert_null(lp);
	assert_string_equal(prog(NULL, 3, "ld.so", "./x", "--list"), "./x");
	assert_string_equal(prog(&lp, 4, "ld.so", "--library-path", "/l", "p/q"), "p/q");
	assert_string_equal(lp, "/l");
	assert_string_equal(prog(NULL, 3, "ld.so", "--verify", "x/y"), "x/y");
	assert_string_equal(
	    prog(NULL, 7, "ld.so", "--argv0", "claude", "--preload", "/p.so", "--inhibit-cache", "c/d"),
	    "c/d");
	assert_string_equal(prog(NULL, 6, "ld.so", "--glibc-hwcaps-prepend", "x", "--audit", "y", "./z"),
			    "./z");
	/* only "--" starts an option: "-/r2" is the program (a directory "-") */
	assert_string_equal(prog(NULL, 2, "ld.so", "-/r2"), "-/r2");
	assert_string_equal(prog(NULL, 3, "ld.so", "-x", "y"), "-x");
	/* an option's value is not the program */
	assert_null(prog(NULL, 3, "ld.so", "--inhibit-rpath", "/a/b"));
	assert_null(prog(NULL, 2, "ld.so", "--audit"));
	assert_null(prog(NULL, 1, "ld.so"));
}

static void test_has_mapped(void **state)
{
	struct stat st;

	(void)state;
	/* this test's own binary is mapped executable; /proc/self/cmdline is not */
	assert_int_equal(stat("/proc/self/exe", &st), 0);
	assert_true(tg_loader_has_mapped(
	    (uint32_t)getpid(), tg_abi_dev_from_user(major(st.st_dev), minor(st.st_dev)), st.st_ino));
	assert_false(tg_loader_has_mapped((uint32_t)getpid(),
					  tg_abi_dev_from_user(major(st.st_dev), minor(st.st_dev)),
					  st.st_ino + 1000003));
	assert_false(tg_loader_has_mapped(0x7ffffffe, 1, 1)); /* no such process */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_program_arg),
	    cmocka_unit_test(test_has_mapped),
	};

	return cmocka_run_group_tests_name("loader", tests, NULL, NULL);
}
