/* A node's report (bot/nodes/report.h): parsing, hostile bodies, the lines worth showing. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bot/lib/alloc.h"
#include "bot/lib/err.h"
#include "bot/nodes/report.h"

static int parse(const char *body, struct node_report *r, char *err, size_t errlen)
{
	return node_report_parse(body, body ? strlen(body) : 0, r, err, errlen);
}

static void report__valid__fields_read(void **state)
{
	struct node_report r;
	char err[256] = "";

	(void)state;
	assert_int_equal(parse("{\"phase\":\"join\",\"ok\":true,\"kubeletVersion\":\"v1.25.6\",\"output\":\"done\\n\","
			       "\"extra\":[1]}", &r, err, sizeof(err)), VIVA_OK);
	assert_string_equal(r.phase, "join");
	assert_true(r.ok);
	assert_string_equal(r.kubelet_version, "v1.25.6");
	assert_string_equal(r.output, "done");
	node_report_release(&r);
	/* a failed join before kubelet ran: no version, no output */
	assert_int_equal(parse("{\"phase\":\"upgrade\",\"ok\":false,\"kubeletVersion\":\"\"}", &r, err, sizeof(err)),
			 VIVA_OK);
	assert_string_equal(r.phase, "upgrade");
	assert_false(r.ok);
	assert_string_equal(r.kubelet_version, "");
	assert_string_equal(r.output, "");
	node_report_release(&r);
}

static void report__malformed__refused_with_reason(void **state)
{
	static const struct { const char *body; const char *says; } cases[] = {
		{ "", "not JSON" },
		{ "{", "not JSON" },
		{ "[]", "object" },
		{ "\"join\"", "object" },
		{ "{}", "phase" },
		{ "{\"phase\":\"reboot\",\"ok\":true}", "phase" },
		{ "{\"phase\":1,\"ok\":true}", "phase" },
		{ "{\"phase\":\"join\"}", "ok" },
		{ "{\"phase\":\"join\",\"ok\":\"yes\"}", "ok" },
		{ "{\"phase\":\"join\",\"ok\":true,\"kubeletVersion\":\"1.25.6\"}", "kubeletVersion" },
		{ "{\"phase\":\"join\",\"ok\":true,\"kubeletVersion\":\"v1.25.6; rm -rf /\"}", "kubeletVersion" },
		{ "{\"phase\":\"join\",\"ok\":true,\"kubeletVersion\":7}", "kubeletVersion" },
		{ "{\"phase\":\"join\",\"ok\":true,\"output\":{}}", "output" },
		{ "{\"phase\":\"join\",\"phase\":\"upgrade\",\"ok\":true}", "not JSON" },
		{ "{\"phase\":\"join\",\"ok\":true} trailing", "not JSON" },
	};
	struct node_report r;
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err[0] = '\0';
		if (parse(cases[i].body, &r, err, sizeof(err)) != VIVA_EINVAL)
			fail_msg("accepted: %s", cases[i].body);
		if (!strstr(err, cases[i].says))
			fail_msg("%s: error \"%s\" does not say %s", cases[i].body, err, cases[i].says);
		assert_null(r.output);
	}
	/* NUL bytes inside the body: refused, not cut short */
	assert_int_equal(node_report_parse("{\"phase\":\"join\",\"ok\":true}\0{", 27, &r, err, sizeof(err)), VIVA_EINVAL);
	assert_int_equal(node_report_parse(NULL, 0, &r, err, sizeof(err)), VIVA_EINVAL);
}

static void decisive__kubeadm_errors__only_those_lines(void **state)
{
	const char *out =
		"[preflight] Running pre-flight checks\n"
		"error execution phase preflight: [preflight] Some fatal errors occurred:\n"
		"\t[ERROR FileAvailable--etc-kubernetes-kubelet.conf]: /etc/kubernetes/kubelet.conf already exists\n"
		"\t[ERROR Port-10250]: Port 10250 is in use\n"
		"[preflight] If you know what you are doing, you can make a check non-fatal with "
		"`--ignore-preflight-errors=...`\n"
		"To see the stack trace of this error execute with --v=5 or higher\n";
	char *d = node_report_decisive(out);

	(void)state;
	assert_string_equal(d, "error execution phase preflight: [preflight] Some fatal errors occurred:\n"
			       " [ERROR FileAvailable--etc-kubernetes-kubelet.conf]: /etc/kubernetes/kubelet.conf "
			       "already exists\n"
			       " [ERROR Port-10250]: Port 10250 is in use");
	free(d);
}

static void decisive__no_marks__last_lines_tokens_hidden(void **state)
{
	char *out = NULL, *d;
	size_t n = 0;
	FILE *f = open_memstream(&out, &n);

	(void)state;
	for (int i = 1; i <= 20; i++)
		fprintf(f, "line %d\n\n", i);
	fprintf(f, "kubeadm join 10.0.0.10:6443 --token abcdef.0123456789abcdef --discovery-token-ca-cert-hash x\n");
	fprintf(f, "not a token: abcdefg.0123456789abcdef nor abcdef.0123456789abcdefg\n");
	fprintf(f, "bell\a and escape\x1b[31m\r\n");
	fclose(f);
	d = node_report_decisive(out);
	assert_null(strstr(d, "0123456789abcdef --"));
	assert_non_null(strstr(d, "--token <token> --discovery"));
	assert_non_null(strstr(d, "abcdefg.0123456789abcdef nor abcdef.0123456789abcdefg"));
	assert_non_null(strstr(d, "bell  and escape [31m "));
	assert_null(strstr(d, "line 15\n"));
	assert_non_null(strstr(d, "line 16\n"));
	assert_non_null(strstr(d, "line 20\n"));
	free(d);
	free(out);
}

/* A huge output: the kept text stays within its bounds, lines cut. */
static void decisive__huge_output__bounded(void **state)
{
	size_t n = 1 << 20;
	char *out = xmalloc(n + 1), *d;

	(void)state;
	for (size_t i = 0; i < n; i++)
		out[i] = (i % 1000 == 999) ? '\n' : "[ERROR x] "[i % 10];
	out[n] = '\0';
	d = node_report_decisive(out);
	assert_true(strlen(d) <= NODE_REPORT_MAX);
	assert_true(strlen(d) > NODE_REPORT_MAX / 2);
	for (char *p = d, *e; *p; p = *e ? e + 1 : e) {
		e = strchr(p, '\n');
		if (!e)
			e = p + strlen(p);
		assert_true((size_t)(e - p) <= NODE_REPORT_LINE);
	}
	free(d);
	free(out);
	d = node_report_decisive(NULL);
	assert_string_equal(d, "");
	free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(report__valid__fields_read),
		cmocka_unit_test(report__malformed__refused_with_reason),
		cmocka_unit_test(decisive__kubeadm_errors__only_those_lines),
		cmocka_unit_test(decisive__no_marks__last_lines_tokens_hidden),
		cmocka_unit_test(decisive__huge_output__bounded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
