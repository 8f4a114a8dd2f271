/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The daemon configuration (lib/config.c). */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "paths.h"
#include "policy.h"

static void dump_diags(const struct tg_diags *d)
{
	char line[2048];

	for (size_t i = 0; i < d->n; i++)
		print_message("#   %s\n", tg_diag_format(&d->v[i], line, sizeof(line)));
}

static void expect_diag(const struct tg_diags *d, uint32_t line, uint32_t col, const char *frag)
{
	for (size_t i = 0; i < d->n; i++)
		if (d->v[i].pos.line == line && d->v[i].pos.col == col && strstr(d->v[i].msg, frag))
			return;
	dump_diags(d);
	fail_msg("no diagnostic %u:%u: ...%s...", line, col, frag);
}

static struct tg_config *parse_ok(const char *text)
{
	struct tg_diags d = {0};
	struct tg_config *c = NULL;

	if (tg_config_parse(text, strlen(text), "toolguard.conf", &c, &d) != 0) {
		dump_diags(&d);
		fail_msg("rejected");
	}
	assert_int_equal(d.n, 0);
	return c;
}

static void parse_bad(const char *text, struct tg_diags *d)
{
	struct tg_config *c = (struct tg_config *)0x1;

	assert_int_equal(tg_config_parse(text, strlen(text), "toolguard.conf", &c, d), -EINVAL);
	assert_ptr_equal(c, (struct tg_config *)0x1);
	assert_true(d->n >= 1);
	assert_string_equal(d->v[0].file, "toolguard.conf");
}

static void check_defaults(const struct tg_config *c)
{
	assert_int_equal(c->mode, TG_MODE_ENFORCE);
	assert_string_equal(c->policy_file, TG_POLICY_FILE);
	assert_null(c->policy_url);
	assert_int_equal(c->policy_interval, 600);
	assert_null(c->policy_ca_file);
	assert_null(c->policy_public_key);
	assert_string_equal(c->policy_cache, TG_POLICY_CACHE);
	assert_true(c->notices_tty);
	assert_true(c->notices_desktop);
	assert_string_equal(c->events_log, TG_EVENTS_LOG);
	assert_string_equal(c->control_socket, TG_CONTROL_SOCKET);
	assert_string_equal(c->admin_group, TG_ADMIN_GROUP);
	/* HTTPS and the usual proxy ports */
	assert_false(c->inspect_all);
	assert_int_equal(c->inspect_ports[0], 80);
	assert_int_equal(c->inspect_ports[1], 443);
	assert_int_equal(c->inspect_ports[2], 3128);
	assert_int_equal(c->inspect_ports[7], 8888);
	assert_int_equal(c->inspect_ports[8], 0);
}

static void test_defaults(void **state)
{
	struct tg_config *c = NULL;

	(void)state;
	assert_int_equal(tg_config_defaults(&c), 0);
	check_defaults(c);
	/* paths come from configure: absolute, under the configured prefixes */
	assert_true(c->policy_file[0] == '/');
	assert_non_null(strstr(c->policy_file, "/toolguard/policy.yaml"));
	tg_config_free(c);
	tg_config_free(NULL);
}

static void test_empty_is_defaults(void **state)
{
	struct tg_config *c;

	(void)state;
	c = parse_ok("");
	check_defaults(c);
	tg_config_free(c);
	c = parse_ok("# only a comment\n\n");
	check_defaults(c);
	tg_config_free(c);
	c = parse_ok("---\n");
	check_defaults(c);
	tg_config_free(c);
}

static void test_full(void **state)
{
	static const char text[] = "mode: monitor\n"
				   "policy:\n"
				   "  file: /etc/tg/policy.yaml\n"
				   "  url: https://policy.acme.example/ai-tools.yaml\n"
				   "  interval: 1h30m\n"
				   "  ca_file: /etc/tg/ca.pem\n"
				   "  public_key: /etc/tg/policy.pub\n"
				   "  cache: /var/cache/tg/policy.yaml\n"
				   "notices:\n"
				   "  tty: false\n"
				   "  desktop: False\n"
				   "  interval: 5m\n"
				   "  opener: /usr/local/bin/open-url\n"
				   "events:\n"
				   "  log: /var/log/tg/events.jsonl\n"
				   "control:\n"
				   "  socket: /run/tg/control.sock\n"
				   "  admin_group: it-admins\n";
	struct tg_config *c = parse_ok(text);

	(void)state;
	assert_int_equal(c->mode, TG_MODE_MONITOR);
	assert_string_equal(c->policy_file, "/etc/tg/policy.yaml");
	assert_string_equal(c->policy_url, "https://policy.acme.example/ai-tools.yaml");
	assert_int_equal(c->policy_interval, 5400);
	assert_string_equal(c->policy_ca_file, "/etc/tg/ca.pem");
	assert_string_equal(c->policy_public_key, "/etc/tg/policy.pub");
	assert_string_equal(c->policy_cache, "/var/cache/tg/policy.yaml");
	assert_false(c->notices_tty);
	assert_false(c->notices_desktop);
	assert_int_equal(c->notices_interval, 300);
	assert_string_equal(c->notices_opener, "/usr/local/bin/open-url");
	assert_string_equal(c->events_log, "/var/log/tg/events.jsonl");
	assert_string_equal(c->control_socket, "/run/tg/control.sock");
	assert_string_equal(c->admin_group, "it-admins");
	tg_config_free(c);
}

static void test_partial_keeps_defaults(void **state)
{
	struct tg_config *c = parse_ok("policy:\n  interval: 30s\nnotices: {desktop: false}\n");

	(void)state;
	assert_int_equal(c->mode, TG_MODE_ENFORCE);
	assert_int_equal(c->policy_interval, 30);
	assert_string_equal(c->policy_file, TG_POLICY_FILE);
	assert_true(c->notices_tty);
	assert_false(c->notices_desktop);
	assert_int_equal(c->notices_interval, 60);
	assert_null(c->notices_opener);
	assert_string_equal(c->admin_group, TG_ADMIN_GROUP);
	tg_config_free(c);
}

static void test_errors(void **state)
{
	static const struct {
		const char *text;
		uint32_t line, col;
		const char *frag;
	} cases[] = {
	    {"mode: block\n", 1, 7, "invalid mode \"block\": expected enforce or monitor"},
	    {"mood: enforce\n", 1, 1, "unknown key \"mood\" in the configuration"},
	    {"policy:\n  interval: 10\n", 2, 13, "invalid duration for policy.interval"},
	    {"policy:\n  interval: 5s\n", 2, 13, "out of range"},
	    {"policy:\n  interval: 31d\n", 2, 13, "out of range"},
	    {"policy:\n  url: http://policy.example/p.yaml\n", 2, 8, "policy.url must be an https:// URL"},
	    {"policy:\n  file: policy.yaml\n", 2, 9, "policy.file must be an absolute path"},
	    {"policy:\n  cache: [a]\n", 2, 10, "expected a string for policy.cache, got a list"},
	    {"policy:\n  refresh: 1m\n", 2, 3, "unknown key \"refresh\" in policy"},
	    {"policy: /etc/p.yaml\n", 1, 9, "expected a mapping (key: value) for policy, got a string"},
	    {"notices:\n  tty: yes\n", 2, 8, "expected true or false for notices.tty"},
	    {"notices:\n  tty: \"true\"\n", 2, 8, "expected true or false for notices.tty"},
	    {"notices:\n  interval: 60\n", 2, 13, "invalid duration for notices.interval"},
	    {"notices:\n  interval: 2d\n", 2, 13, "notices.interval \"2d\" is out of range"},
	    {"events:\n  log: \n", 2, 7, "missing value for events.log"},
	    {"control:\n  admin_group: a b\n", 2, 16, "invalid control.admin_group"},
	    {"control:\n  socket: x\n  socket: /y\n", 3, 3,
	     "duplicate key \"socket\" in control (first at 2:3)"},
	    {"mode: enforce\nmode: monitor\n", 2, 1, "duplicate key \"mode\""},
	    {"- mode: enforce\n", 1, 1,
	     "expected a mapping (mode:, policy:, ...) at the top of the configuration"},
	    {"mode: &m enforce\n", 1, 7, "aliases are not allowed"},
	    {"mode: enforce\n---\nmode: monitor\n", 2, 1, "a second YAML document is not allowed"},
	    {"mode: [enforce\n", 2, 1, "YAML syntax error"},
	    {"mode: \"\xc3\x28\"\n", 1, 9, "invalid UTF-8"},
	    {"network:\n  inspect_ports: some\n", 2, 18, "invalid network.inspect_ports \"some\""},
	    {"network:\n  inspect_ports: []\n", 2, 18, "has 0 entries: expected 1 to 16 ports"},
	    {"network:\n  inspect_ports: [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17]\n", 2, 18,
	     "has 17 entries: expected 1 to 16 ports, or all"},
	    {"network:\n  inspect_ports: [443, 0]\n", 2, 24, "port 0 is not a destination port"},
	    {"network:\n  inspect_ports: [443, 65536]\n", 2, 24, "network.inspect_ports entry"},
	    {"network:\n  inspect_ports: [\"443\"]\n", 2, 19, "remove the quotes"},
	    {"network:\n  ports: [443]\n", 2, 3, "unknown key \"ports\" in network"},
	};
	struct tg_diags d = {0};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		parse_bad(cases[i].text, &d);
		expect_diag(&d, cases[i].line, cases[i].col, cases[i].frag);
		tg_diags_free(&d);
	}
}

static void test_all_errors_reported(void **state)
{
	struct tg_diags d = {0};

	(void)state;
	parse_bad("mode: strict\npolicy:\n  interval: never\nnotices:\n  tty: 1\n", &d);
	assert_int_equal(d.n, 3);
	expect_diag(&d, 1, 7, "invalid mode");
	expect_diag(&d, 3, 13, "invalid duration");
	expect_diag(&d, 5, 8, "expected true or false for notices.tty, got a number");
	tg_diags_free(&d);
}

static void test_network(void **state)
{
	struct tg_config *c = NULL;
	struct tg_diags d = {0};

	(void)state;
	static const char list[] = "network:\n  inspect_ports: [8443, 443, 8443, 3128]\n";
	static const char all[] = "network:\n  inspect_ports: all\n";

	assert_int_equal(tg_config_parse(list, sizeof(list) - 1, NULL, &c, &d), 0);
	assert_false(c->inspect_all);
	assert_int_equal(c->inspect_ports[0], 8443); /* duplicates dropped, order kept */
	assert_int_equal(c->inspect_ports[1], 443);
	assert_int_equal(c->inspect_ports[2], 3128);
	assert_int_equal(c->inspect_ports[3], 0);
	tg_config_free(c);
	c = NULL;
	assert_int_equal(tg_config_parse(all, sizeof(all) - 1, NULL, &c, &d), 0);
	assert_true(c->inspect_all);
	tg_config_free(c);
	assert_int_equal(d.n, 0);
}

static void test_ports_text(void **state)
{
	const uint16_t ports[] = {8443, 443, 0, 80};
	char buf[TG_CONFIG_INSPECT_PORTS_TEXT], small[8];

	(void)state;
	tg_ports_text(ports, 4, buf, sizeof(buf));
	assert_string_equal(buf, "8443,443"); /* up to the first 0 */
	tg_ports_text(ports, 0, buf, sizeof(buf));
	assert_string_equal(buf, "");
	tg_ports_text(ports, 2, small, sizeof(small));
	assert_string_equal(small, "8443"); /* whole ports only */
}

static void test_load_file(void **state)
{
	char dir[] = "/tmp/tg-test-config-XXXXXX", path[256];
	struct tg_diags d = {0};
	struct tg_config *c = NULL;
	FILE *f;
	int fd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/toolguard.conf", dir);
	f = fopen(path, "we");
	assert_non_null(f);
	fputs("mode: monitor\n", f);
	fclose(f);
	assert_int_equal(tg_config_load_file(path, &c, &d), 0);
	assert_int_equal(c->mode, TG_MODE_MONITOR);
	tg_config_free(c);

	/* errors name the file */
	f = fopen(path, "we");
	fputs("mode: monitor\nextra: 1\n", f);
	fclose(f);
	c = (struct tg_config *)0x1;
	assert_int_equal(tg_config_load_file(path, &c, &d), -EINVAL);
	assert_ptr_equal(c, (struct tg_config *)0x1);
	assert_string_equal(d.v[0].file, path);
	expect_diag(&d, 2, 1, "unknown key \"extra\"");
	tg_diags_free(&d);

	/* oversized: refused by size */
	fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)TG_POLICY_MAX_BYTES + 1), 0);
	close(fd);
	assert_int_equal(tg_config_load_file(path, &c, &d), -EFBIG);
	assert_non_null(strstr(d.v[0].msg, "larger than the limit of 8388608 bytes for a configuration"));
	tg_diags_free(&d);
	unlink(path);

	assert_int_equal(tg_config_load_file(path, &c, &d), -ENOENT);
	assert_non_null(strstr(d.v[0].msg, "cannot open the configuration file"));
	tg_diags_free(&d);
	assert_int_equal(tg_config_load_file(dir, &c, &d), -EINVAL);
	assert_non_null(strstr(d.v[0].msg, "not a regular file"));
	tg_diags_free(&d);
	rmdir(dir);
}

/* Extensions (added by K): client certificate and rollback opt-in for policy.url. */
static void test_report(void **state)
{
	struct tg_diags d = {0};
	struct tg_config *c;

	(void)state;
	c = parse_ok("");
	assert_null(c->report_url);
	assert_string_equal(c->report_spool, TG_REPORT_SPOOL);
	assert_true(c->report_spool_max == 16ull << 20);
	assert_int_equal(c->report_retry_max, 300);
	tg_config_free(c);

	c = parse_ok("report_url: https://ev.example/in\n");
	assert_string_equal(c->report_url, "https://ev.example/in");
	tg_config_free(c);

	c = parse_ok("report:\n  url: https://ev.example/in?k=1\n  spool: /var/tmp/sp\n  spool_max: 512k\n"
		     "  retry_max: 30s\n  ca_file: /etc/tg/ca.pem\n  client_cert: /etc/tg/c.pem\n"
		     "  client_key: /etc/tg/c.key\n");
	assert_string_equal(c->report_url, "https://ev.example/in?k=1");
	assert_string_equal(c->report_spool, "/var/tmp/sp");
	assert_true(c->report_spool_max == 512u * 1024u);
	assert_int_equal(c->report_retry_max, 30);
	assert_string_equal(c->report_ca_file, "/etc/tg/ca.pem");
	assert_string_equal(c->report_client_cert, "/etc/tg/c.pem");
	assert_string_equal(c->report_client_key, "/etc/tg/c.key");
	tg_config_free(c);

	c = parse_ok("report: {spool_max: 1G}\n");
	assert_true(c->report_spool_max == 1ull << 30);
	tg_config_free(c);

	parse_bad("report_url: http://ev.example/in\nreport:\n  url: https://a/b\n  spool_max: 2T\n"
		  "  retry_max: 2d\n  spool: rel/dir\n  client_key: /k\n  nope: 1\n",
		  &d);
	expect_diag(&d, 1, 13, "report_url must be an https:// URL");
	expect_diag(&d, 4, 14, "invalid size for report.spool_max");
	expect_diag(&d, 5, 14, "report.retry_max \"2d\" is out of range");
	expect_diag(&d, 6, 10, "report.spool must be an absolute path");
	expect_diag(&d, 7, 15, "report.client_key needs report.client_cert");
	expect_diag(&d, 8, 3, "unknown key \"nope\"");
	tg_diags_free(&d);

	parse_bad("report_url: https://a/b\nreport: {url: https://c/d}\n", &d);
	expect_diag(&d, 2, 15, "use report_url or report.url, not both");
	tg_diags_free(&d);
	parse_bad("report: {spool_max: 1k}\n", &d);
	expect_diag(&d, 1, 21, "out of range: expected 64k .. 1G");
	tg_diags_free(&d);
}

static void test_fetch_extensions(void **state)
{
	struct tg_config *c;
	struct tg_diags d = {0};

	(void)state;
	c = parse_ok("policy:\n  url: https://p.example/p.yaml\n  client_cert: /etc/tg/c.pem\n"
		     "  client_key: /etc/tg/k.pem\n  allow_rollback: true\n");
	assert_string_equal(c->policy_client_cert, "/etc/tg/c.pem");
	assert_string_equal(c->policy_client_key, "/etc/tg/k.pem");
	assert_true(c->policy_allow_rollback);
	tg_config_free(c);
	c = parse_ok("policy:\n  url: https://p.example/p.yaml\n");
	assert_null(c->policy_client_cert);
	assert_false(c->policy_allow_rollback);
	tg_config_free(c);
	parse_bad("policy:\n  client_key: /k.pem\n", &d);
	expect_diag(&d, 2, 15, "needs policy.client_cert");
	tg_diags_free(&d);
	parse_bad("policy:\n  allow_rollback: maybe\n", &d);
	tg_diags_free(&d);
	parse_bad("policy:\n  client_cert: rel.pem\n", &d);
	expect_diag(&d, 2, 16, "absolute path");
	tg_diags_free(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults),  cmocka_unit_test(test_empty_is_defaults),
	    cmocka_unit_test(test_full),      cmocka_unit_test(test_partial_keeps_defaults),
	    cmocka_unit_test(test_errors),    cmocka_unit_test(test_all_errors_reported),
	    cmocka_unit_test(test_load_file),    cmocka_unit_test(test_network),
	    cmocka_unit_test(test_ports_text),
	    cmocka_unit_test(test_fetch_extensions),
	    cmocka_unit_test(test_report),
	};

	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
