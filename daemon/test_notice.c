/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests of notice.c: neutralising text, terminal names, the terminal
 * notice on a real pty (owned by whoever runs the test), the rate limit. */
#include <errno.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "notice.h"
#include "procinfo.h"

static void test_sanitize(void **state)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
	    {"plain text", "plain text"},
	    {"red\x1b[31mtext\x07", "red?[31mtext?"},
	    {"a\tb\nc\r", "a b c?"},
	    {"del\x7f", "del?"},
	    {"c1 \xc2\x9b"
	     "31m csi",
	     "c1 ?31m csi"}, /* U+009B CSI */
	    {"caf\xc3\xa9 \xe2\x80\x94 \xf0\x9f\x99\x82", "caf\xc3\xa9 \xe2\x80\x94 \xf0\x9f\x99\x82"},
	    {"bad \xc3\x28 \xff \xe2\x82", "bad ?( ? ??"}, /* invalid UTF-8 */
	    {"overlong \xc0\xaf \xe0\x80\xaf", "overlong ?? ???"},
	    {"surrogate \xed\xa0\x80", "surrogate ???"},
	    {"bidi \xe2\x80\xae"
	     "evil",
	     "bidi ?evil"}, /* U+202E RIGHT-TO-LEFT OVERRIDE */
	    {"trailing newline\n", "trailing newline"},
	    {"", ""},
	};
	char out[128];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n = tg_notice_sanitize(cases[i].in, out, sizeof(out));

		assert_string_equal(out, cases[i].want);
		assert_int_equal(n, strlen(cases[i].want));
	}
	/* Truncation never cuts a character in two. */
	tg_notice_sanitize("ab\xc3\xa9", out, 4);
	assert_string_equal(out, "ab");
	tg_notice_sanitize("abc", out, 1);
	assert_string_equal(out, "");
	tg_notice_sanitize(NULL, out, sizeof(out));
	assert_string_equal(out, "");
}

static void test_tty_path(void **state)
{
	static const struct {
		const char *in, *want;
	} good[] = {
	    {"pts3", "/dev/pts/3"},
	    {"pts/12", "/dev/pts/12"},
	    {"tty2", "/dev/tty2"},
	    {"ttyS0", "/dev/ttyS0"},
	};
	static const char *const bad[] = {
	    "",
	    "pts",
	    "pts/",
	    "pts/../../etc/passwd",
	    "pts/1/2",
	    "tty",
	    "ttyS",
	    "console",
	    "tty1a",
	    "../tty1",
	    "pts/01",
	    "ttyUSB0",
	    "pts/12345678",
	    "pts/-1",
	    "tty 1",
	};
	char buf[64];

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(tg_notice_tty_path(good[i].in, buf, sizeof(buf)), 0);
		assert_string_equal(buf, good[i].want);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(tg_notice_tty_path(bad[i], buf, sizeof(buf)), -EINVAL);
	assert_int_equal(tg_notice_tty_path(NULL, buf, sizeof(buf)), -EINVAL);
}

static const char policy_text[] = "apiVersion: toolguard/v1\n"
				  "kind: Policy\n"
				  "metadata: {name: acme-ai-tools, serial: 42}\n"
				  "defaults:\n"
				  "  notice: {url: \"https://intranet.acme.example/ai\"}\n"
				  "tools:\n"
				  "  - id: claude-code\n"
				  "    name: Claude Code\n"
				  "    effective: 2026-07-10T00:00:00+08:00\n"
				  "    alternative: Qoder\n"
				  "    message: \"Claude Code is not approved\\e]0;owned\\a at Acme.\"\n"
				  "    match: {executables: [{name: claude}]}\n";

/* Everything the master side has to read within ms. */
static size_t drain(int master, char *buf, size_t len, int ms)
{
	size_t off = 0;

	for (;;) {
		struct pollfd p = {.fd = master, .events = POLLIN};
		ssize_t n;

		if (poll(&p, 1, ms) <= 0)
			break;
		n = read(master, buf + off, len - 1 - off);
		if (n <= 0)
			break;
		off += (size_t)n;
		ms = 50;
	}
	buf[off] = 0;
	return off;
}

static void test_terminal_notice(void **state)
{
	struct tg_policy *p = NULL;
	struct tg_diags d = {0};
	struct tg_notices *n = NULL;
	struct tg_notice_settings s = {.tty = true, .desktop = false, .interval = 60};
	struct tg_kernel_event ev;
	const struct tg_notice_counters *c;
	char name[64], buf[8192];
	int master, slave;

	(void)state;
	if (openpty(&master, &slave, name, NULL, NULL) < 0) {
		skip();
		return;
	}
	assert_int_equal(tg_policy_parse(policy_text, sizeof(policy_text) - 1, "p.yaml", &p, &d), 0);
	assert_int_equal(tg_notices_new(&n), 0);

	memset(&ev, 0, sizeof(ev));
	ev.kind = TG_EVENT_EXEC;
	ev.verdict = TG_VERDICT_BLOCK;
	ev.tool = &p->tools[0];
	snprintf(ev.tool_id, sizeof(ev.tool_id), "claude-code");
	snprintf(ev.exe, sizeof(ev.exe), "/opt/ai/\x1b[2Jclaude");
	ev.uid = (uint32_t)getuid();
	/* the kernel's name of the pty: "pts3" */
	assert_true(strncmp(name, "/dev/pts/", 9) == 0);
	snprintf(ev.tty, sizeof(ev.tty), "pts%s", name + 9);

	assert_int_equal(tg_notices_event(n, &s, p, &ev, NULL), 1);
	drain(master, buf, sizeof(buf), 1000);
	assert_non_null(strstr(
	    buf, "[toolguard] Claude Code is blocked on this machine (since 2026-07-10 00:00 +08:00)."));
	assert_non_null(strstr(buf, "Program: /opt/ai/?[2Jclaude"));
	assert_non_null(strstr(buf, "Claude Code is not approved?]0;owned? at Acme."));
	assert_non_null(strstr(buf, "Use instead: Qoder \xe2\x80\x94 https://intranet.acme.example/ai"));
	assert_non_null(strstr(buf, "(policy acme-ai-tools, serial 42)"));
	assert_null(strchr(buf, '\x1b'));
	assert_null(strchr(buf, '\a'));

	/* Within the interval: held back. Same terminal written "pts/N": same key. */
	assert_int_equal(tg_notices_event(n, &s, p, &ev, NULL), 0);
	snprintf(ev.tty, sizeof(ev.tty), "%s", name + 5);
	assert_int_equal(tg_notices_event(n, &s, p, &ev, NULL), 0);
	assert_int_equal(drain(master, buf, sizeof(buf), 200), 0);
	c = tg_notices_counters(n);
	assert_int_equal(c->tty_sent, 1);
	assert_int_equal(c->tty_suppressed, 2);

	/* Another user's event on this terminal: not written to. */
	snprintf(ev.tool_id, sizeof(ev.tool_id), "claude-code-as-other");
	ev.uid = (uint32_t)getuid() + 1;
	assert_int_equal(tg_notices_event(n, &s, p, &ev, NULL), 0);
	assert_int_equal(drain(master, buf, sizeof(buf), 200), 0);
	assert_int_equal(c->tty_not_owner, 1);
	ev.uid = (uint32_t)getuid();

	/* Monitor mode (would-block) and alerts: nothing to tell. */
	ev.would_block = true;
	assert_int_equal(tg_notices_event(n, &s, p, &ev, NULL), -1);
	ev.would_block = false;
	ev.verdict = TG_VERDICT_ALERT;
	assert_int_equal(tg_notices_event(n, &s, p, &ev, NULL), -1);

	/* A name that is not a terminal's: refused, counted. */
	ev.verdict = TG_VERDICT_BLOCK;
	snprintf(ev.tool_id, sizeof(ev.tool_id), "other");
	snprintf(ev.tty, sizeof(ev.tty), "../../etc/x");
	assert_int_equal(tg_notices_event(n, &s, p, &ev, NULL), 0);
	assert_int_equal(c->tty_failed, 1);

	/* Interval 0: every refusal is told; tty off: none. */
	s.interval = 0;
	snprintf(ev.tty, sizeof(ev.tty), "%s", name + 5);
	assert_int_equal(tg_notices_event(n, &s, p, &ev, NULL), 1);
	assert_int_equal(tg_notices_event(n, &s, p, &ev, NULL), 1);
	assert_true(drain(master, buf, sizeof(buf), 1000) > 0);
	/* A refused connection says where to. */
	ev.kind = TG_EVENT_CONNECT;
	ev.family = AF_INET;
	memcpy(ev.addr, "\x7f\x4d\x00\x01", 4);
	ev.port = 443;
	snprintf(ev.host, sizeof(ev.host), "api.anthropic.com");
	snprintf(ev.comm, sizeof(ev.comm), "node");
	assert_int_equal(tg_notices_event(n, &s, p, &ev, NULL), 1);
	drain(master, buf, sizeof(buf), 1000);
	assert_non_null(strstr(buf, "Connection: api.anthropic.com (127.77.0.1, port 443) by node"));
	s.tty = false;
	assert_int_equal(tg_notices_event(n, &s, p, &ev, NULL), 0);
	assert_int_equal(c->tty_sent, 4);

	tg_notices_free(n);
	tg_policy_free(p);
	tg_diags_free(&d);
	close(master);
	close(slave);
}

static void test_warning_once_a_day(void **state)
{
	struct tg_policy *p = NULL;
	struct tg_diags d = {0};
	struct tg_notices *n = NULL;
	struct tg_notice_settings s = {.tty = true, .desktop = false, .interval = 0};
	struct tg_kernel_event ev;
	char name[64], buf[8192];
	int master, slave;

	(void)state;
	if (openpty(&master, &slave, name, NULL, NULL) < 0) {
		skip();
		return;
	}
	assert_int_equal(tg_policy_parse(policy_text, sizeof(policy_text) - 1, "p.yaml", &p, &d), 0);
	/* 5 days and a bit from now */
	p->tools[0].effective.t = (int64_t)time(NULL) + 5 * 86400 + 600;
	assert_int_equal(tg_notices_new(&n), 0);
	memset(&ev, 0, sizeof(ev));
	ev.kind = TG_EVENT_EXEC;
	ev.verdict = TG_VERDICT_WARN;
	ev.tool = &p->tools[0];
	snprintf(ev.tool_id, sizeof(ev.tool_id), "claude-code");
	snprintf(ev.exe, sizeof(ev.exe), "/usr/bin/claude");
	ev.uid = (uint32_t)getuid();
	snprintf(ev.tty, sizeof(ev.tty), "%s", name + 5);

	assert_int_equal(tg_notices_event(n, &s, p, &ev, NULL), 1);
	drain(master, buf, sizeof(buf), 1000);
	assert_non_null(strstr(buf, "[toolguard] Claude Code will be blocked on this machine from "));
	assert_non_null(strstr(buf, ", in 5 days. Use Qoder instead."));
	/* Even with no interval: warnings once per user per tool per day. */
	assert_int_equal(tg_notices_event(n, &s, p, &ev, NULL), 0);
	assert_int_equal(tg_notices_counters(n)->warnings_sent, 1);

	tg_notices_free(n);
	tg_policy_free(p);
	tg_diags_free(&d);
	close(master);
	close(slave);
}

/* Only plain http(s) links with a host are opened after a click. */
static void test_url_ok(void **state)
{
	static const char *const good[] = {
	    "https://intranet.example/ai-tools",
	    "http://10.0.0.1:8080/p?q=1&r=2#x",
	    "HTTPS://Example.COM",
	};
	static const char *const bad[] = {
	    "",
	    "https://",
	    "https:///path",
	    "file:///etc/passwd",
	    "javascript:alert(1)",
	    "ftp://example.com/",
	    "-https://example.com",
	    "https://example.com/a b",
	    "https://example.com/\x1b[31m",
	    "https://example.com/\n",
	    "https://ex\xc3\xa4mple.com/",
	    " https://example.com",
	};
	char longurl[2100];

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_true(tg_notice_url_ok(good[i]));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_false(tg_notice_url_ok(bad[i]));
	assert_false(tg_notice_url_ok(NULL));
	memset(longurl, 'a', sizeof(longurl) - 1);
	longurl[sizeof(longurl) - 1] = 0;
	memcpy(longurl, "https://", 8);
	assert_false(tg_notice_url_ok(longurl));
	longurl[2048] = 0;
	assert_true(tg_notice_url_ok(longurl));
}

/* Terminal names as ps and who print them, from the kernel's name or tty_nr. */
static void test_tty_names(void **state)
{
	static const struct {
		const char *in, *want;
	} norm[] = {
	    {"pts0", "pts/0"},	{"pts17", "pts/17"}, {"pts/3", "pts/3"}, {"tty1", "tty1"},
	    {"ttyS0", "ttyS0"}, {"pts", "pts"},	     {"ptsx", "ptsx"},	 {"", ""},
	};
	char buf[64];

	(void)state;
	for (size_t i = 0; i < sizeof(norm) / sizeof(norm[0]); i++) {
		snprintf(buf, sizeof(buf), "%s", norm[i].in);
		tg_tty_name_normalize(buf, sizeof(buf));
		assert_string_equal(buf, norm[i].want);
	}
	/* no room for the slash: left alone */
	snprintf(buf, sizeof(buf), "pts12");
	tg_tty_name_normalize(buf, 6);
	assert_string_equal(buf, "pts12");

	assert_int_equal(tg_tty_name_from_dev((136u << 8) | 4, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "pts/4");
	/* minor 300 of major 136: high minor bits at 20-31 */
	assert_int_equal(
	    tg_tty_name_from_dev((136u << 8) | (300u & 0xff) | ((300u & ~0xffu) << 12), buf, sizeof(buf)), 0);
	assert_string_equal(buf, "pts/300");
	assert_int_equal(tg_tty_name_from_dev((137u << 8) | 1, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "pts/257");
	assert_int_equal(tg_tty_name_from_dev((4u << 8) | 2, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "tty2");
	assert_int_equal(tg_tty_name_from_dev((4u << 8) | 65, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "ttyS1");
	assert_int_equal(tg_tty_name_from_dev(0, buf, sizeof(buf)), -ENOENT);
	assert_int_equal(tg_tty_name_from_dev((5u << 8) | 1, buf, sizeof(buf)), -ENOENT);
}

/* A record without parent/command line/terminal gets them from /proc. */
static void test_proc_fill(void **state)
{
	struct tg_kernel_event ev;
	char name[64];
	int master, slave;
	pid_t pid;
	int st;

	(void)state;
	memset(&ev, 0, sizeof(ev));
	ev.pid = (uint32_t)getpid();
	assert_int_equal(tg_proc_fill_event(&ev), 0);
	assert_int_equal(ev.ppid, (uint32_t)getppid());
	assert_true(ev.argc >= 1);
	assert_non_null(strstr(ev.argv[0], "test_notice"));

	/* given fields stay */
	memset(&ev, 0, sizeof(ev));
	ev.pid = (uint32_t)getpid();
	ev.ppid = 4242;
	ev.argc = 1;
	snprintf(ev.argv[0], sizeof(ev.argv[0]), "kept");
	snprintf(ev.tty, sizeof(ev.tty), "pts/99");
	assert_int_equal(tg_proc_fill_event(&ev), 0);
	assert_int_equal(ev.ppid, 4242);
	assert_string_equal(ev.argv[0], "kept");
	assert_string_equal(ev.tty, "pts/99");

	/* a child with a controlling pty and a long, odd command line */
	assert_int_equal(openpty(&master, &slave, name, NULL, NULL), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char longarg[600];

		memset(longarg, 'x', sizeof(longarg) - 1);
		longarg[sizeof(longarg) - 1] = 0;
		setsid();
		if (ioctl(slave, TIOCSCTTY, 0) < 0)
			_exit(1);
		execl("/bin/sh", "sh", "-c", "sleep 5; :", "a\033b\tc", longarg, "5", "6", "7", "8", "9",
		      (char *)NULL);
		_exit(1);
	}
	for (int i = 0; i < 100; i++) {
		char comm[64] = "", path[64];
		FILE *f;

		snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
		f = fopen(path, "re");
		if (f) {
			if (!fgets(comm, sizeof(comm), f))
				comm[0] = 0;
			fclose(f);
		}
		if (strncmp(comm, "sh\n", 3) == 0)
			break;
		usleep(10000);
	}
	memset(&ev, 0, sizeof(ev));
	ev.pid = (uint32_t)pid;
	assert_int_equal(tg_proc_fill_event(&ev), 0);
	assert_int_equal(ev.ppid, (uint32_t)getpid());
	assert_string_equal(ev.tty, name + 5); /* "/dev/pts/N" -> "pts/N" */
	assert_int_equal(ev.argc, 8);
	assert_string_equal(ev.argv[0], "sh");
	assert_string_equal(ev.argv[3], "a?b?c");
	assert_int_equal(strlen(ev.argv[4]), 127);
	assert_string_equal(ev.argv[7], "7");
	/* recorded under another name: it has exec'd since, its command line is another's */
	memset(&ev, 0, sizeof(ev));
	ev.pid = (uint32_t)pid;
	snprintf(ev.comm, sizeof(ev.comm), "claude");
	assert_int_equal(tg_proc_fill_event(&ev), 0);
	assert_int_equal(ev.argc, 0);
	assert_string_equal(ev.tty, name + 5);
	memset(&ev, 0, sizeof(ev));
	ev.pid = (uint32_t)pid;
	snprintf(ev.comm, sizeof(ev.comm), "sh");
	assert_int_equal(tg_proc_fill_event(&ev), 0);
	assert_int_equal(ev.argc, 8);
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	close(master);
	close(slave);

	/* gone: nothing filled, no harm */
	memset(&ev, 0, sizeof(ev));
	ev.pid = (uint32_t)pid;
	(void)tg_proc_fill_event(&ev);
	assert_int_equal(ev.argc, 0);
	assert_string_equal(ev.tty, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sanitize),	    cmocka_unit_test(test_tty_path),
	    cmocka_unit_test(test_terminal_notice), cmocka_unit_test(test_warning_once_a_day),
	    cmocka_unit_test(test_url_ok),	    cmocka_unit_test(test_tty_names),
	    cmocka_unit_test(test_proc_fill),
	};

	return cmocka_run_group_tests_name("notice", tests, NULL, NULL);
}
