/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * toolctl: the administrator's and the user's view of toolguard.
 * Commands are dispatched from a table. `policy check`, `policy show` and
 * `test` work without the daemon; the others talk to toolguardd over its
 * control socket and exit 3 when it cannot be reached.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "paths.h"
#include "policy.h"
#include "toolctl.h"

#ifndef SBINDIR
#define SBINDIR "/usr/sbin"
#endif

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

int tc_fail(int code, const char *fmt, ...)
{
	int saved = errno; /* for %m */
	va_list ap;

	fputs("toolctl: ", stderr);
	errno = saved;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return code;
}

void tc_print_diags(FILE *f, const struct tg_diags *d)
{
	char buf[8192];

	for (size_t i = 0; i < d->n; i++)
		fprintf(f, "%s\n", tg_diag_format(&d->v[i], buf, sizeof(buf)));
	if (d->dropped)
		fprintf(f, "%s: %zu more errors not shown (fix the ones above first)\n",
			d->n && d->v[0].file ? d->v[0].file : "<input>", d->dropped);
}

static bool file_exists(const char *path)
{
	struct stat st;

	return path && stat(path, &st) == 0;
}

/* The configuration in force, or the defaults when there is no file. Prints errors. */
static int load_config(const struct toolctl *tc, struct tg_config **ret)
{
	struct tg_diags d = {0};
	int r;

	if (!tc->config_explicit && !file_exists(tc->config_file))
		r = tg_config_defaults(ret);
	else
		r = tg_config_load_file(tc->config_file, ret, &d);
	if (r < 0) {
		tc_print_diags(stderr, &d);
		tg_diags_free(&d);
		if (r == -ENOMEM)
			return tc_fail(EXIT_NO, "out of memory reading %s", tc->config_file);
		return tc_fail(EXIT_NO, "invalid configuration %s: fix the errors above", tc->config_file);
	}
	tg_diags_free(&d);
	return 0;
}

int tc_load_policy(const struct toolctl *tc, const char *explicit_file, struct tg_policy **ret_policy,
		   enum tg_mode *ret_mode)
{
	struct tg_config *c = NULL;
	struct tg_diags d = {0};
	const char *file = explicit_file;
	char sock[256];
	int r;

	*ret_mode = TG_MODE_ENFORCE;
	if (!file) {
		char why[256] = "";

		/* The policy in force, from the daemon: the same answer the kernel gives. */
		if (tc_daemon_policy(tc, ret_policy, ret_mode, why, sizeof(why)) == 0)
			return 0;
		r = load_config(tc, &c);
		if (r)
			return r;
		*ret_mode = c->mode;
		if (c->policy_url && c->policy_cache && file_exists(c->policy_cache))
			file = c->policy_cache; /* the last good central policy */
		else if (c->policy_file && file_exists(c->policy_file))
			file = c->policy_file;
		else if (file_exists(TG_EXAMPLE_POLICY))
			file = TG_EXAMPLE_POLICY;
		else {
			r = tc_fail(EXIT_NO,
				    "no policy to answer from: %s does not exist and the example %s is not "
				    "installed; pass --policy FILE",
				    c->policy_file ? c->policy_file : TG_POLICY_FILE, TG_EXAMPLE_POLICY);
			tg_config_free(c);
			return r;
		}
		if (tc_daemon_reachable(tc, sock, sizeof(sock)))
			fprintf(stderr, "(offline: %s; answering from %s)\n", why, file);
		else
			fprintf(stderr, "(offline: daemon not reachable, answering from %s)\n", file);
	}
	r = tg_policy_load_file(file, ret_policy, &d);
	tc_print_diags(stderr, &d);
	tg_diags_free(&d);
	if (r < 0) {
		r = r == -ENOMEM
			? tc_fail(EXIT_NO, "out of memory reading %s", file)
			: tc_fail(EXIT_NO,
				  "invalid policy %s: fix the errors above (toolctl policy check %s)", file,
				  file);
		tg_config_free(c);
		return r;
	}
	tg_config_free(c);
	return 0;
}

/* ---------- unload ---------- */

static int unlink_pin(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	if (flag == FTW_DP)
		return rmdir(path) < 0 ? -1 : 0;
	return unlink(path) < 0 ? -1 : 0;
}

static int cmd_unload(struct toolctl *tc, int argc, char **argv)
{
	const char *daemon = getenv("TOOLGUARDD");
	struct stat st;
	int r;

	if (argc > 1)
		return tc_fail(EXIT_USAGE, "unload: takes no arguments");
	/* A running daemon unloads and stops (so it does not pin again); it checks who asks. */
	r = tc_daemon_unload(tc);
	if (r >= 0)
		return r;
	if (geteuid() != 0)
		return tc_fail(EXIT_NO, "unload: needs root (run: sudo toolctl unload)");
	if (!daemon || !*daemon)
		daemon = SBINDIR "/toolguardd";
	execl(daemon, daemon, "--unload", (char *)NULL);
	if (errno != ENOENT)
		return tc_fail(EXIT_NO, "unload: cannot run %s: %m", daemon);
	/* No daemon binary (removed package?): removing the pins detaches the programs. */
	if (stat(TG_PIN_DIR, &st) < 0) {
		printf("nothing to unload: %s does not exist\n", TG_PIN_DIR);
		return 0;
	}
	if (nftw(TG_PIN_DIR, unlink_pin, 16, FTW_DEPTH | FTW_PHYS) < 0)
		return tc_fail(EXIT_NO, "unload: cannot remove %s: %m", TG_PIN_DIR);
	printf("removed %s: toolguard programs are detached\n", TG_PIN_DIR);
	return 0;
}

/* ---------- dispatch ---------- */

static void usage(FILE *f)
{
	fprintf(f, "Usage: toolctl [--config FILE] [--socket PATH] COMMAND [ARGS]\n"
		   "\n"
		   "Commands:\n"
		   "  status [--json]                      what toolguardd is doing\n"
		   "  policy check FILE... [--json]        validate policy files (no daemon needed)\n"
		   "  policy show [--policy FILE] [--json] the policy in force, normalized\n"
		   "  test [OPTIONS] -- PROGRAM [ARG...]   would this command line run, and why\n"
		   "  test [OPTIONS] --host NAME[:PORT]    may a process reach this destination\n"
		   "  test [OPTIONS] --ip ADDR[:PORT]      (IPv6 with a port: [ADDR]:PORT)\n"
		   "  events [--follow] [--since TIME] [--tool ID] [--json]\n"
		   "  reload                               re-read configuration and policy\n"
		   "  sync                                 fetch the central policy now\n"
		   "  unload                               detach every program (root only)\n"
		   "\n"
		   "Test options:\n"
		   "  --policy FILE        answer from FILE instead of the policy in force\n"
		   "  --user NAME|UID      as this user (groups from the user database)\n"
		   "  --at TIME            at TIME: RFC 3339, YYYY-MM-DD, now, +14d, -2h\n"
		   "  --mode enforce|monitor, --json\n"
		   "\n"
		   "Exit status: 0 yes/allowed, 1 no (blocked, or invalid input), 2 usage error,\n"
		   "3 toolguardd not reachable. See toolctl(8) and toolguard-policy(5).\n");
}

static int cmd_help(struct toolctl *tc, int argc, char **argv)
{
	usage(stdout);
	return 0;
}

static int cmd_version(struct toolctl *tc, int argc, char **argv)
{
	printf("toolctl (%s) %s\n", PACKAGE_NAME, PACKAGE_VERSION);
	return 0;
}

static const struct command {
	const char *name;
	int (*run)(struct toolctl *tc, int argc, char **argv);
} commands[] = {
    {"status", cmd_status}, {"policy", cmd_policy}, {"test", cmd_test},
    {"events", cmd_events}, {"reload", cmd_reload}, {"sync", cmd_sync},
    {"unload", cmd_unload}, {"help", cmd_help},	    {"version", cmd_version},
};

int main(int argc, char **argv)
{
	struct toolctl tc = {.config_file = TG_CONFIG_FILE};
	const char *env = getenv("TOOLGUARD_CONFIG");
	int i;

	if (env && *env) {
		tc.config_file = env;
		tc.config_explicit = true;
	}
	/* Global options come before the command. */
	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		const char *a = argv[i];

		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)
			return cmd_help(&tc, 0, NULL);
		if (strcmp(a, "-V") == 0 || strcmp(a, "--version") == 0)
			return cmd_version(&tc, 0, NULL);
		if (strcmp(a, "--socket") == 0 || strncmp(a, "--socket=", 9) == 0) {
			if (a[8] == '=')
				tc.socket_path = a + 9;
			else if (i + 1 < argc)
				tc.socket_path = argv[++i];
			else
				return tc_fail(EXIT_USAGE, "--socket needs a PATH");
			continue;
		}
		if (strcmp(a, "--config") == 0 || strncmp(a, "--config=", 9) == 0) {
			if (a[8] == '=')
				tc.config_file = a + 9;
			else if (i + 1 < argc)
				tc.config_file = argv[++i];
			else
				return tc_fail(EXIT_USAGE, "--config needs a FILE");
			tc.config_explicit = true;
			continue;
		}
		return tc_fail(EXIT_USAGE, "unknown option \"%s\" (see toolctl --help)", a);
	}
	if (i == argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	for (size_t k = 0; k < ARRAY_SIZE(commands); k++)
		if (strcmp(argv[i], commands[k].name) == 0) {
			int r = commands[k].run(&tc, argc - i, argv + i);

			if (fflush(stdout) != 0 || ferror(stdout))
				return tc_fail(EXIT_NO, "cannot write the output: %m");
			return r;
		}
	return tc_fail(EXIT_USAGE, "unknown command \"%s\" (see toolctl --help)", argv[i]);
}
