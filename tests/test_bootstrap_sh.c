/*
 * templates/node/bootstrap.sh, run as a node runs it: by dash (and busybox
 * sh when installed) against a fake viva (tests/fake_node_api.c), with
 * stubs of systemctl, kubeadm, kubelet and hostname first in PATH that
 * record their arguments (STUB_DIR/calls) and answer what the test
 * scripts (STUB_DIR/NAME.out, NAME.rc, NAME.fail, kubeadm.version), and
 * NODE_ROOT and TMPDIR in a directory of the test.
 *
 * Every run is checked for what must never happen: a token in the output
 * or in a report, a temporary file left behind.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <dirent.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bot/lib/alloc.h"
#include "bot/lib/err.h"
#include "bot/lib/fileio.h"
#include "bot/lib/strbuf.h"
#include "bot/lib/times.h"
#include "bot/model/builtin.h"
#include "tests/fake_node_api.h"
#include "tests/helpers.h"
#include "tests/proc.h"

#define SCRIPT      "templates/node/bootstrap.sh"
#define NODE_TOKEN  "viva-node-api-token-5f3a9c"
#define JOIN_TOKEN  "abcdef.0123456789abcdef"
#define JOIN_SECRET "0123456789abcdef"
#define HASH1       "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define HASH2       "sha256:FEDCBA9876543210FEDCBA9876543210FEDCBA9876543210FEDCBA9876543210"
#define CERT_KEY    "c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00"
#define HOST        "kube-a-dc1-worker07"
#define API         "10.0.0.10:6443"
#define WAIT_MS     30000L

/* A stub for every command the script may call that is not POSIX. */
static const char stub_text[] =
	"#!/bin/sh\n"
	"n=${0##*/}\n"
	"{ printf '%s' \"$n\"; for a in \"$@\"; do printf ' [%s]' \"$a\"; done; printf '\\n'; } >>\"$STUB_DIR/calls\"\n"
	/* a command that reads its standard input would eat a piped script */
	"[ -z \"${STUB_READ_STDIN:-}\" ] || cat >/dev/null\n"
	"case \"$n $*\" in\n"
	"'hostname ') echo \"$STUB_HOSTNAME\"; exit 0 ;;\n"
	"'kubeadm version -o short') cat \"$STUB_DIR/kubeadm.version\" 2>/dev/null || echo v1.25.6; exit 0 ;;\n"
	"'kubelet --version') echo \"Kubernetes v1.25.6\"; exit 0 ;;\n"
	"esac\n"
	"if [ -f \"$STUB_DIR/$n.fail\" ] && [ \"$*\" = \"$(cat \"$STUB_DIR/$n.fail\")\" ]; then\n"
	"  echo \"Job for $2 failed because the control process exited with error code.\"; exit 1\n"
	"fi\n"
	"[ ! -f \"$STUB_DIR/$n.out\" ] || cat \"$STUB_DIR/$n.out\"\n"
	"exit \"$(cat \"$STUB_DIR/$n.rc\" 2>/dev/null || echo 0)\"\n";

static const char *const stubs[] = { "systemctl", "kubeadm", "kubelet", "hostname", NULL };

struct fx {
	char *dir;
	char *root;      /* NODE_ROOT */
	char *bin;       /* the stubs */
	char *tmp;       /* the script's TMPDIR */
	char *script;    /* absolute path of the script */
	struct fake_node_api *api;
	char *out;       /* the last run's stdout and stderr */
	int status;      /* its exit status */
	int64_t ms;      /* how long it ran */
};

static char *path_in(const char *dir, const char *rel)
{
	return xasprintf("%s/%s", dir, rel);
}

static void write_in(const char *dir, const char *rel, const char *content)
{
	char *p = path_in(dir, rel);

	test_write_file(p, content);
	free(p);
}

static int setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));
	char real[PATH_MAX];
	char *stub;

	if (!realpath(SCRIPT, real))
		return -1;
	f->script = xstrdup(real);
	f->dir = test_tmpdir();
	f->root = path_in(f->dir, "root");
	f->bin = path_in(f->dir, "bin");
	f->tmp = path_in(f->dir, "tmp");
	if (mkdir(f->root, 0755) != 0 || mkdir(f->bin, 0755) != 0 || mkdir(f->tmp, 0700) != 0)
		return -1;
	stub = path_in(f->bin, "stub");
	test_write_file(stub, stub_text);
	if (chmod(stub, 0755) != 0)
		return -1;
	for (int i = 0; stubs[i]; i++) {
		char *link = path_in(f->bin, stubs[i]);

		if (symlink("stub", link) != 0)
			return -1;
		free(link);
	}
	free(stub);
	f->api = fake_node_api_start(NODE_TOKEN);
	if (!f->api)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	fake_node_api_stop(f->api);
	test_rm_rf(f->dir);
	free(f->dir);
	free(f->root);
	free(f->bin);
	free(f->tmp);
	free(f->script);
	free(f->out);
	free(f);
	return 0;
}

/* ---- what a run left ---------------------------------------------------------- */

/* Every entry under dir, one "rel\n" each, depth first. */
static void list_tree(const char *dir, const char *rel, struct strbuf *sb)
{
	char *path = rel[0] ? path_in(dir, rel) : xstrdup(dir);
	DIR *d = opendir(path);
	struct dirent *de;

	free(path);
	if (!d)
		return;
	while ((de = readdir(d)) != NULL) {
		char *crel;
		struct stat st;
		char *cpath;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		crel = rel[0] ? xasprintf("%s/%s", rel, de->d_name) : xstrdup(de->d_name);
		sb_addf(sb, "%s\n", crel);
		cpath = path_in(dir, crel);
		if (lstat(cpath, &st) == 0 && S_ISDIR(st.st_mode))
			list_tree(dir, crel, sb);
		free(cpath);
		free(crel);
	}
	closedir(d);
}

static char *tree(const char *dir)
{
	struct strbuf sb;

	sb_init(&sb);
	list_tree(dir, "", &sb);
	return sb_detach(&sb);
}

static void assert_tree_empty(const char *dir)
{
	char *t = tree(dir);

	if (*t)
		fail_msg("%s should be empty, holds:\n%s", dir, t);
	free(t);
}

/* The file's bytes (caller frees) and its permission bits; fails the test when absent. */
static char *file_at(struct fx *f, const char *abs, size_t *len, unsigned *mode)
{
	char *p = xasprintf("%s%s", f->root, abs), *text = NULL;
	struct stat st;

	if (stat(p, &st) != 0 || read_file(p, &text, len) != VIVA_OK)
		fail_msg("%s was not written", p);
	*mode = (unsigned)(st.st_mode & 07777);
	free(p);
	return text;
}

static void assert_file(struct fx *f, const char *abs, const char *want, size_t want_len, unsigned want_mode)
{
	size_t len = 0;
	unsigned mode = 0;
	char *text = file_at(f, abs, &len, &mode);

	if (len != want_len || memcmp(text, want, len) != 0)
		fail_msg("%s: %zu bytes, want %zu:\n%s", abs, len, want_len, text);
	if (mode != want_mode)
		fail_msg("%s: mode %04o, want %04o", abs, mode, want_mode);
	free(text);
}

static bool exists_in_root(struct fx *f, const char *abs)
{
	char *p = xasprintf("%s%s", f->root, abs);
	struct stat st;
	bool yes = lstat(p, &st) == 0;

	free(p);
	return yes;
}

/* The stubs' calls, one a line ("" when none; caller frees). */
static char *calls(struct fx *f)
{
	char *p = path_in(f->dir, "calls"), *text = NULL;

	if (read_file(p, &text, NULL) != VIVA_OK)
		text = xstrdup("");
	free(p);
	return text;
}

static void assert_calls(struct fx *f, const char *want)
{
	char *got = calls(f);

	if (strcmp(got, want) != 0)
		fail_msg("the commands called:\n%s\nwant:\n%s", got, want);
	free(got);
}

static void assert_out_has(struct fx *f, const char *needle)
{
	if (!strstr(f->out, needle))
		fail_msg("the output (exit %d) lacks \"%s\":\n%s", f->status, needle, f->out);
}

/* The only report received (its JSON, borrowed from *all, which the caller decrefs). */
static json_t *the_report(struct fx *f, json_t **all)
{
	json_t *r, *j;

	*all = fake_node_api_reports(f->api);
	if (json_array_size(*all) != 1)
		fail_msg("%zu reports, want 1; the output:\n%s", json_array_size(*all), f->out);
	r = json_array_get(*all, 0);
	j = json_object_get(r, "json");
	if (!json_is_object(j))
		fail_msg("the report is not a JSON object:\n%s", json_string_value(json_object_get(r, "raw")));
	assert_string_equal(json_string_value(json_object_get(r, "host")), HOST);
	return j;
}

static const char *report_output(json_t *report)
{
	const char *s = json_string_value(json_object_get(report, "output"));

	assert_non_null(s);
	return s;
}

/* ---- running the script ---------------------------------------------------------- */

static const char *default_shell(void)
{
	return access("/usr/bin/dash", X_OK) == 0 ? "/usr/bin/dash" : "/bin/sh";
}

/* Nothing a run may ever leave or show, whatever happened. */
static void check_run(struct fx *f)
{
	static const char *const secrets[] = { NODE_TOKEN, JOIN_SECRET, CERT_KEY, NULL };
	json_t *reports = fake_node_api_reports(f->api), *r;
	char *t = tree(f->root);
	size_t i;

	for (int k = 0; secrets[k]; k++) {
		if (strstr(f->out, secrets[k]))
			fail_msg("a secret (%.6s...) is in the output:\n%s", secrets[k], f->out);
		json_array_foreach(reports, i, r) {
			if (strstr(json_string_value(json_object_get(r, "raw")), secrets[k]))
				fail_msg("a secret (%.6s...) is in a report:\n%s", secrets[k],
					 json_string_value(json_object_get(r, "raw")));
		}
	}
	if (strstr(t, ".viva-new."))
		fail_msg("a temporary file is left in NODE_ROOT:\n%s", t);
	free(t);
	assert_tree_empty(f->tmp);
	json_decref(reports);
}

/* Run argv (the script's path is argv's "@"), env added to the fixture's. */
static void run_argv(struct fx *f, const char *const *argv, const char *const *env)
{
	char *base[16], *full[32], *log = path_in(f->dir, "run.log");
	const char *args[16];
	size_t n = 0, na = 0;
	struct proc p;
	int64_t t0;

	base[n++] = xasprintf("PATH=%s:/usr/bin:/bin", f->bin);
	base[n++] = xasprintf("VIVA_URL=%s", fake_node_api_url(f->api));
	base[n++] = xstrdup("VIVA_NODE_TOKEN=" NODE_TOKEN);
	base[n++] = xasprintf("NODE_ROOT=%s", f->root);
	base[n++] = xasprintf("TMPDIR=%s", f->tmp);
	base[n++] = xasprintf("STUB_DIR=%s", f->dir);
	base[n++] = xstrdup("STUB_HOSTNAME=Kube-A-DC1-Worker07");
	base[n++] = xstrdup("VIVA_RETRY_BASE_MS=20");
	for (size_t i = 0; i < n; i++)
		full[i] = base[i];
	{
		size_t k = n;

		/* later entries win: env overrides the fixture's */
		for (size_t i = 0; env && env[i] && k < 31; i++)
			full[k++] = (char *)env[i];
		full[k] = NULL;
	}
	for (size_t i = 0; argv[i] && na < 15; i++)
		args[na++] = strcmp(argv[i], "@") == 0 ? f->script : argv[i];
	args[na] = NULL;

	free(f->out);
	t0 = now_ms_mono();
	assert_int_equal(proc_start_in(&p, f->dir, true, (char *const *)args, full, log), 0);
	f->status = proc_wait(&p, WAIT_MS);
	f->ms = now_ms_mono() - t0;
	f->out = proc_log(&p);
	if (f->status < 0)
		fail_msg("the script did not end within %ld ms:\n%s", WAIT_MS, f->out);
	proc_release(&p);
	for (size_t i = 0; i < n; i++)
		free(base[i]);
	free(log);
	check_run(f);
}

/* The script under dash with args (NULL-terminated), env added. */
static void run(struct fx *f, const char *const *env, ...)
{
	const char *argv[12];
	size_t n = 0;
	va_list ap;
	const char *a;

	argv[n++] = default_shell();
	argv[n++] = "@";
	va_start(ap, env);
	while ((a = va_arg(ap, const char *)) != NULL && n < 11)
		argv[n++] = a;
	va_end(ap);
	argv[n] = NULL;
	run_argv(f, argv, env);
}

/* ---- answers ------------------------------------------------------------------------ */

/* A worker's answer with one file; the caller changes what it tests. */
static json_t *answer_new(void)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:b, s:{s:s, s:s}, s:[{s:s, s:s, s:s}], s:{s:s, s:s, s:[s, s]}}",
			 "hostname", HOST, "cluster", "a", "datacenter", "dc1", "role", "worker", "upgrade", 0,
			 "settings", "kubernetesVersion", "1.25.6", "runcVersion", "1.1.9",
			 "files", "path", "/etc/containerd/config.toml", "mode", "0644", "content", "version = 2\n",
			 "join", "apiServer", API, "token", JOIN_TOKEN, "caCertHashes", HASH1, HASH2);
}

static void serve(struct fx *f, json_t *answer)
{
	char *s = json_dumps(answer, JSON_COMPACT);

	fake_node_api_set_bootstrap(f->api, 200, s);
	free(s);
	json_decref(answer);
}

static json_t *first_file(json_t *answer)
{
	return json_array_get(json_object_get(answer, "files"), 0);
}

#define JOIN_CALL                                                                                    \
	"kubeadm [join] [" API "] [--token] [" JOIN_TOKEN "] [--discovery-token-ca-cert-hash] [" HASH1 \
	"] [--discovery-token-ca-cert-hash] [" HASH2 "] [--node-name] [" HOST "]"

/* What a worker's join with answer_new() calls. */
static const char plain_join_calls[] =
	"hostname\n"
	"kubeadm [version] [-o] [short]\n"
	"systemctl [daemon-reload]\n"
	"systemctl [enable] [containerd.service]\n"
	"systemctl [restart] [containerd.service]\n"
	"systemctl [enable] [kubelet.service]\n"
	"systemctl [restart] [kubelet.service]\n"
	JOIN_CALL "\n"
	"kubelet [--version]\n";

/* ---- join ------------------------------------------------------------------------------ */

/*
 * An answer laid out as no encoder would (blanks of every kind, keys in any
 * order, unknown keys holding every kind of value, a "files" inside
 * settings, a key that looks like a path, "files" itself spelt with an escape), with contents that a shell would
 * evaluate if it ever did: every byte lands as sent, every mode as given.
 */
static const char odd_answer[] =
	"\r\n\t { \"join\" :\n { \"caCertHashes\" : [ \"" HASH1 "\" ,\n\"" HASH2 "\" ] ,\"token\":\"" JOIN_TOKEN
	"\", \"apiServer\"\t:\"" API "\" } ,\n"
	"  \"settings\": {\"files\": [{\"path\": \"/etc/evil\", \"mode\": \"0644\", \"content\": \"no\"}],"
	" \"kubernetesVersion\":\"1.25.6\", \"odd\": [1, -2.5e3, 0, 1E+2, true, false, null, {\"a\": [[], {}]}, \"\\\"]\"]},\n"
	"  \"files[0].path\": \"/etc/evil2\", \"file\": 1,\n"
	"  \"fi\\u006ces\" : [ {\"mode\":\"0644\", \"content\": "
	"\"q\\\"uote back\\\\slash\\nline2\\ttab $(touch PWNED) `touch PWNED2` %s%n \\u00e9 \\u20AC \\ud83d\\ude00"
	" \\/ \\b\\f\\r 'single' \\\\u0041\", \"path\": \"/etc/containerd/config.toml\"},\n"
	"    {\"path\":\"/usr/local/bin/viva-hook\",\"mode\":\"0755\",\"content\":\"#!/bin/sh\\necho hi\\n\"},\n"
	"    {\"path\":\"/etc/viva/empty.conf\",\"mode\":\"600\",\"content\":\"\"},\n"
	"    {\"path\":\"/etc/modules-load.d/k8s.conf\",\"mode\":\"0644\",\"content\":\"overlay\\nbr_netfilter\\n\"},\n"
	"    {\"path\":\"/etc/sysctl.d/k8s.conf\",\"mode\":\"0644\",\"content\":\"net.ipv4.ip_forward = 1\\n\"},\n"
	"    {\"path\":\"/etc/systemd/system/kubelet.service.d/10-kubeadm.conf\",\"mode\":\"0644\",\"content\":\"[Service]\\n\"},\n"
	"    {\"path\":\"/etc/systemd/system/nginx-proxy.service\",\"mode\":\"0644\",\"content\":\"[Unit]\\n\"},\n"
	"    {\"path\":\"/etc/odd dir/$(touch PWNED3) `x`.conf\",\"mode\":\"0640\",\"content\":\"x\"}\n"
	"  ] , \"upgrade\" : false , \"role\":\"worker\", \"hostname\": \"" HOST "\"\n}\n";

static const char odd_content[] =
	"q\"uote back\\slash\nline2\ttab $(touch PWNED) `touch PWNED2` %s%n \xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"
	" / \b\f\r 'single' \\u0041";

static void join__fresh_node__writes_files_restarts_services_joins_and_reports(void **state)
{
	struct fx *f = *state;
	json_t *all, *rep;
	json_t *requests;

	fake_node_api_set_bootstrap(f->api, 200, odd_answer);
	/* a file that was there: replaced, its mode too */
	write_in(f->root, "etc/containerd/config.toml", "old\n");
	write_in(f->dir, "kubeadm.out",
		 "[preflight] Running pre-flight checks\n"
		 "[discovery] Using token " JOIN_TOKEN "\n"
		 "This node has joined the cluster:\n");
	run(f, NULL, NULL);
	if (f->status != 0)
		fail_msg("exit %d:\n%s", f->status, f->out);

	assert_file(f, "/etc/containerd/config.toml", odd_content, sizeof(odd_content) - 1, 0644);
	assert_file(f, "/usr/local/bin/viva-hook", "#!/bin/sh\necho hi\n", 18, 0755);
	assert_file(f, "/etc/viva/empty.conf", "", 0, 0600);
	assert_file(f, "/etc/modules-load.d/k8s.conf", "overlay\nbr_netfilter\n", 21, 0644);
	assert_file(f, "/etc/odd dir/$(touch PWNED3) `x`.conf", "x", 1, 0640);
	assert_false(exists_in_root(f, "/etc/evil"));
	assert_false(exists_in_root(f, "/etc/evil2"));
	/* nothing was evaluated, here or anywhere */
	{
		char *t = tree(f->dir);

		if (strstr(t, "PWNED\n") || strstr(t, "PWNED2\n") || strstr(t, "/PWNED3\n"))
			fail_msg("the script evaluated a content or a path:\n%s", t);
		free(t);
	}

	assert_calls(f,
		     "hostname\n"
		     "kubeadm [version] [-o] [short]\n"
		     "systemctl [daemon-reload]\n"
		     "systemctl [restart] [systemd-modules-load.service]\n"
		     "systemctl [restart] [systemd-sysctl.service]\n"
		     "systemctl [enable] [containerd.service]\n"
		     "systemctl [restart] [containerd.service]\n"
		     "systemctl [enable] [nginx-proxy.service]\n"
		     "systemctl [restart] [nginx-proxy.service]\n"
		     "systemctl [enable] [kubelet.service]\n"
		     "systemctl [restart] [kubelet.service]\n"
		     JOIN_CALL "\n"
		     "kubelet [--version]\n");

	/* the host name, lower-cased, with the bearer token */
	requests = fake_node_api_requests(f->api);
	assert_int_equal(json_array_size(requests), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(requests, 0), "path")),
			    "/v1/nodes/" HOST "/bootstrap");
	assert_true(json_is_true(json_object_get(json_array_get(requests, 0), "auth")));
	assert_string_equal(json_string_value(json_object_get(json_array_get(requests, 1), "path")),
			    "/v1/nodes/" HOST "/report");
	assert_true(json_is_true(json_object_get(json_array_get(requests, 1), "auth")));
	json_decref(requests);

	rep = the_report(f, &all);
	assert_string_equal(json_string_value(json_object_get(rep, "phase")), "join");
	assert_true(json_is_true(json_object_get(rep, "ok")));
	assert_string_equal(json_string_value(json_object_get(rep, "kubeletVersion")), "v1.25.6");
	assert_non_null(strstr(report_output(rep), "This node has joined the cluster:"));
	assert_non_null(strstr(report_output(rep), "$ kubeadm join " API " --token abcdef.<redacted>"));
	assert_non_null(strstr(report_output(rep), "[discovery] Using token abcdef.<redacted>"));
	assert_out_has(f, "This node has joined the cluster:");
	assert_out_has(f, "reported to viva: phase join, ok true");
	json_decref(all);
}

/*
 * kubeadm fails with a long output: the report says ok false with the
 * [ERROR lines, the "error execution phase" line and the tail, stays well
 * under 64 KiB and is valid JSON even with broken UTF-8 and control bytes.
 */
static void join__kubeadm_fails__reports_decisive_lines_and_exits_1(void **state)
{
	struct fx *f = *state;
	struct strbuf sb;
	json_t *all, *rep, *reports;
	const char *out;
	size_t raw_len;

	sb_init(&sb);
	sb_adds(&sb, "[preflight] Running pre-flight checks\n");
	sb_adds(&sb, "\t[ERROR FileAvailable--etc-kubernetes-kubelet.conf]: /etc/kubernetes/kubelet.conf already exists\n");
	sb_adds(&sb, "\t[ERROR Port-10250]: Port 10250 is in use\n");
	for (int i = 0; i < 3000; i++)
		sb_addf(&sb, "[preflight] noise line %04d \"quoted\" back\\slash\n", i);
	sb_adds(&sb, "bad bytes \xff\xfe and \xe2\x82 cut, escape \x1b[31m red \x01\n");
	for (int i = 0; i < 5000; i++)
		sb_addc(&sb, 'L');
	sb_adds(&sb, "\nerror execution phase preflight: [preflight] Some fatal errors occurred:\n");
	sb_adds(&sb, "To see the stack trace of this error execute with --v=5 or higher\n");
	write_in(f->dir, "kubeadm.out", sb.buf);
	write_in(f->dir, "kubeadm.rc", "1\n");
	sb_release(&sb);
	serve(f, answer_new());
	run(f, NULL, NULL);
	assert_int_equal(f->status, 1);
	assert_out_has(f, "viva-bootstrap: kubeadm join " API " failed (exit 1)");
	assert_out_has(f, "viva-bootstrap: the node did not join");
	assert_calls(f, plain_join_calls);

	reports = fake_node_api_reports(f->api);
	raw_len = strlen(json_string_value(json_object_get(json_array_get(reports, 0), "raw")));
	json_decref(reports);
	if (raw_len > 40000)
		fail_msg("the report is %zu bytes", raw_len);
	rep = the_report(f, &all);
	out = report_output(rep);
	assert_string_equal(json_string_value(json_object_get(rep, "phase")), "join");
	assert_true(json_is_false(json_object_get(rep, "ok")));
	assert_non_null(strstr(out, "[ERROR FileAvailable--etc-kubernetes-kubelet.conf]: /etc/kubernetes/kubelet.conf already exists"));
	assert_non_null(strstr(out, "[ERROR Port-10250]: Port 10250 is in use"));
	assert_non_null(strstr(out, "error execution phase preflight: [preflight] Some fatal errors occurred:"));
	assert_non_null(strstr(out, "To see the stack trace of this error execute with --v=5 or higher"));
	assert_non_null(strstr(out, "viva-bootstrap: kubeadm join " API " failed (exit 1)\nviva-bootstrap: the node did not join"));
	assert_non_null(strstr(out, "[preflight] noise line 2999 \"quoted\" back\\slash"));
	assert_non_null(strstr(out, "earlier lines left out"));
	assert_null(strstr(out, "noise line 0100 "));
	/* broken UTF-8 became U+FFFD, control bytes came through escaped */
	assert_non_null(strstr(out, "bad bytes \xef\xbf\xbd\xef\xbf\xbd and \xef\xbf\xbd"));
	assert_non_null(strstr(out, "escape \x1b[31m red \x01"));
	/* a long line is cut */
	assert_non_null(strstr(out, "LLLL [...]"));
	json_decref(all);
}

static void join__containerd_restart_fails__no_kubeadm_join_and_reported(void **state)
{
	struct fx *f = *state;
	json_t *all, *rep;

	write_in(f->dir, "systemctl.fail", "restart containerd.service");
	serve(f, answer_new());
	run(f, NULL, NULL);
	assert_int_equal(f->status, 1);
	assert_calls(f,
		     "hostname\n"
		     "kubeadm [version] [-o] [short]\n"
		     "systemctl [daemon-reload]\n"
		     "systemctl [enable] [containerd.service]\n"
		     "systemctl [restart] [containerd.service]\n"
		     "kubelet [--version]\n");
	rep = the_report(f, &all);
	assert_true(json_is_false(json_object_get(rep, "ok")));
	assert_non_null(strstr(report_output(rep), "Job for containerd.service failed"));
	assert_non_null(strstr(report_output(rep), "systemctl restart containerd.service failed (exit 1)"));
	assert_non_null(strstr(report_output(rep), "the services could not be restarted"));
	json_decref(all);
}

static void join__master_with_certificate_key__joins_the_control_plane(void **state)
{
	struct fx *f = *state;
	json_t *a = answer_new(), *all, *rep;

	json_object_set_new(a, "role", json_string("master"));
	json_object_set_new(json_object_get(a, "join"), "certificateKey", json_string(CERT_KEY));
	serve(f, a);
	/* kubeadm's verbose output may show the key: redacted */
	write_in(f->dir, "kubeadm.out", "[download-certs] using key " CERT_KEY "\n");
	run(f, NULL, NULL);
	assert_int_equal(f->status, 0);
	assert_calls(f,
		     "hostname\n"
		     "kubeadm [version] [-o] [short]\n"
		     "systemctl [daemon-reload]\n"
		     "systemctl [enable] [containerd.service]\n"
		     "systemctl [restart] [containerd.service]\n"
		     "systemctl [enable] [kubelet.service]\n"
		     "systemctl [restart] [kubelet.service]\n"
		     JOIN_CALL " [--control-plane] [--certificate-key] [" CERT_KEY "]\n"
		     "kubelet [--version]\n");
	rep = the_report(f, &all);
	assert_true(json_is_true(json_object_get(rep, "ok")));
	assert_non_null(strstr(report_output(rep), "[download-certs] using key <redacted>"));
	json_decref(all);
}

/* Without a key the certificates must be on the node; never joined as a worker. */
static void join__master_without_certificates__refused_and_reported(void **state)
{
	struct fx *f = *state;
	json_t *a = answer_new(), *all, *rep;

	json_object_set_new(a, "role", json_string("master"));
	serve(f, a);
	run(f, NULL, NULL);
	assert_int_equal(f->status, 1);
	assert_out_has(f, "needs the control plane's certificates");
	assert_tree_empty(f->root);
	assert_calls(f, "hostname\nkubeadm [version] [-o] [short]\nkubelet [--version]\n");
	rep = the_report(f, &all);
	assert_true(json_is_false(json_object_get(rep, "ok")));
	assert_non_null(strstr(report_output(rep), "no join.certificateKey"));
	json_decref(all);

	/* certificates copied by hand: --control-plane without a key */
	write_in(f->root, "etc/kubernetes/pki/ca.crt", "crt");
	write_in(f->root, "etc/kubernetes/pki/ca.key", "key");
	write_in(f->dir, "calls", "");
	a = answer_new();
	json_object_set_new(a, "role", json_string("master"));
	serve(f, a);
	run(f, NULL, NULL);
	assert_int_equal(f->status, 0);
	{
		char *c = calls(f);

		assert_non_null(strstr(c, JOIN_CALL " [--control-plane]\n"));
		free(c);
	}
}

static void join__already_joined__does_nothing(void **state)
{
	struct fx *f = *state;

	write_in(f->root, "etc/kubernetes/kubelet.conf", "joined\n");
	serve(f, answer_new());
	run(f, NULL, NULL);
	assert_int_equal(f->status, 0);
	assert_out_has(f, "already joined");
	assert_false(exists_in_root(f, "/etc/containerd/config.toml"));
	assert_calls(f, "hostname\n");
	assert_int_equal(fake_node_api_reports_count(f->api), 0);
}

/* A re-imaged node whose upgrade viva still wants joins with the new files. */
static void join__not_joined_and_upgrade_wanted__joins(void **state)
{
	struct fx *f = *state;
	json_t *a = answer_new(), *all, *rep;

	json_object_set_new(a, "upgrade", json_true());
	serve(f, a);
	run(f, NULL, NULL);
	assert_int_equal(f->status, 0);
	assert_calls(f, plain_join_calls);
	assert_out_has(f, "joining rather than upgrading");
	rep = the_report(f, &all);
	assert_string_equal(json_string_value(json_object_get(rep, "phase")), "join");
	json_decref(all);
}

static void join__files_only__writes_files_and_nothing_else(void **state)
{
	struct fx *f = *state;

	serve(f, answer_new());
	run(f, NULL, "--files-only", NULL);
	assert_int_equal(f->status, 0);
	assert_file(f, "/etc/containerd/config.toml", "version = 2\n", 12, 0644);
	assert_calls(f, "hostname\n");
	assert_int_equal(fake_node_api_reports_count(f->api), 0);
}

/* ---- fetching -------------------------------------------------------------------------- */

static void fetch__503_twice__retried_with_backoff_then_joins(void **state)
{
	struct fx *f = *state;
	json_t *all, *rep;

	fake_node_api_fail_bootstraps(f->api, 2, 503);
	serve(f, answer_new());
	run(f, NULL, NULL);
	assert_int_equal(f->status, 0);
	assert_int_equal(fake_node_api_bootstraps(f->api), 3);
	assert_out_has(f, "viva answered HTTP 503; retrying in 0.020 s (attempt 2 of 8)");
	assert_out_has(f, "viva answered HTTP 503; retrying in 0.040 s (attempt 3 of 8)");
	assert_true(f->ms >= 60);
	assert_calls(f, plain_join_calls);
	rep = the_report(f, &all);
	assert_true(json_is_true(json_object_get(rep, "ok")));
	json_decref(all);
}

static void fetch__503_always__gives_up_after_8_attempts(void **state)
{
	struct fx *f = *state;
	const char *const env[] = { "VIVA_RETRY_BASE_MS=5", NULL };

	fake_node_api_fail_bootstraps(f->api, 1000, 503);
	serve(f, answer_new());
	run(f, env, NULL);
	assert_int_equal(f->status, 3);
	assert_int_equal(fake_node_api_bootstraps(f->api), 8);
	assert_out_has(f, "retrying in 0.320 s (attempt 8 of 8)");
	assert_out_has(f, "giving up after 8 attempts");
	assert_tree_empty(f->root);
	assert_calls(f, "hostname\n");
	assert_int_equal(fake_node_api_reports_count(f->api), 0);
}

static void fetch__viva_not_listening__retried_then_exit_3(void **state)
{
	struct fx *f = *state;
	char *url = xasprintf("VIVA_URL=http://someone:url-password-77@127.0.0.1:%d/", free_port());
	const char *const env[] = { url, "VIVA_RETRY_BASE_MS=5", NULL };

	run(f, env, NULL);
	assert_int_equal(f->status, 3);
	assert_out_has(f, "viva at http://127.0.0.1:");
	assert_out_has(f, "is not reachable");
	assert_out_has(f, "(attempt 2 of 8)");
	/* credentials in VIVA_URL are not shown */
	if (strstr(f->out, "url-password-77"))
		fail_msg("the URL's password is in the output:\n%s", f->out);
	assert_out_has(f, "giving up after 8 attempts");
	assert_tree_empty(f->root);
	assert_calls(f, "hostname\n");
	free(url);
}

/* 401, 404, 422 (any 4xx): final, viva's reason said, nothing done. */
static void fetch__refused__no_retry_reason_shown_nothing_done(void **state)
{
	struct fx *f = *state;
	static const struct {
		long status;
		const char *body;
		const char *want;
	} cases[] = {
		{ 401, NULL, "HTTP 401: missing or wrong token (check VIVA_NODE_TOKEN)" },
		{ 404, "{\"error\": \"unknown host " HOST ": no cluster a in the cluster configs\"}",
		  "HTTP 404: unknown host " HOST ": no cluster a in the cluster configs (is " HOST " the host name" },
		{ 422, "{\"error\": \"no node templates for Kubernetes 1.31.0\"}",
		  "HTTP 422: no node templates for Kubernetes 1.31.0 (viva cannot render" },
		{ 400, "<html>bad\nrequest</html>", "HTTP 400: <html>badrequest</html>" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *const wrong[] = { "VIVA_NODE_TOKEN=wrong-node-token-1234", NULL };
		int before = fake_node_api_bootstraps(f->api);

		write_in(f->dir, "calls", "");
		if (cases[i].body)
			fake_node_api_set_bootstrap(f->api, cases[i].status, cases[i].body);
		run(f, cases[i].status == 401 ? wrong : NULL, NULL);
		assert_int_equal(f->status, 3);
		assert_int_equal(fake_node_api_bootstraps(f->api), before + 1);
		assert_out_has(f, "viva refused the bootstrap of " HOST ": ");
		assert_out_has(f, cases[i].want);
		if (strstr(f->out, "wrong-node-token-1234"))
			fail_msg("the token is in the output:\n%s", f->out);
		assert_tree_empty(f->root);
		assert_calls(f, "hostname\n");
		assert_int_equal(fake_node_api_reports_count(f->api), 0);
	}
}

/* ---- hostile answers -------------------------------------------------------------------- */

/* The answer with files[0].key = value (a JSON text). */
static char *with_file_field(const char *key, const char *value_json)
{
	json_t *a = answer_new(), *v = json_loads(value_json, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
	char *s;

	assert_non_null(v);
	json_object_set_new(first_file(a), key, v);
	s = json_dumps(a, JSON_COMPACT);
	json_decref(a);
	return s;
}

static char *with_join_field(const char *key, const char *value_json)
{
	json_t *a = answer_new(), *v = json_loads(value_json, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
	char *s;

	assert_non_null(v);
	json_object_set_new(json_object_get(a, "join"), key, v);
	s = json_dumps(a, JSON_COMPACT);
	json_decref(a);
	return s;
}

static char *with_top_field(const char *key, const char *value_json)
{
	json_t *a = answer_new(), *v = json_loads(value_json, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
	char *s;

	assert_non_null(v);
	json_object_set_new(a, key, v);
	s = json_dumps(a, JSON_COMPACT);
	json_decref(a);
	return s;
}

/* A good first file, then a bad second one: neither is written. */
static char *second_file_bad(void)
{
	json_t *a = answer_new();
	char *s;

	json_array_append_new(json_object_get(a, "files"),
			      json_pack("{s:s, s:s, s:s}", "path", "/etc/../../x", "mode", "0644", "content", "x"));
	s = json_dumps(a, JSON_COMPACT);
	json_decref(a);
	return s;
}

static char *valid_text(void)
{
	json_t *a = answer_new();
	char *s = json_dumps(a, JSON_COMPACT);

	json_decref(a);
	return s;
}

/* The valid answer cut to its first n bytes (n < 0: all but -n). */
static char *cut(long n)
{
	char *s = valid_text();
	size_t len = strlen(s);

	s[n < 0 ? len - (size_t)(-n) : (size_t)n] = '\0';
	return s;
}

static char *text(const char *s)
{
	return xstrdup(s);
}

static void answer__hostile__refused_nothing_written(void **state)
{
	struct fx *f = *state;
	struct {
		char *answer;
		const char *want;
	} cases[] = {
		{ with_file_field("path", "\"../../etc/passwd\""), "files[0].path \"../../etc/passwd\" is not absolute" },
		{ with_file_field("path", "\"etc/kubernetes/x\""), "is not absolute" },
		{ with_file_field("path", "\"/etc/../../x\""), "has an empty, . or .. component" },
		{ with_file_field("path", "\"/etc/./x\""), "has an empty, . or .. component" },
		{ with_file_field("path", "\"/etc/x/\""), "has an empty, . or .. component" },
		{ with_file_field("path", "\"/\""), "names no file" },
		{ with_file_field("path", "\"/etc/x\\u0001y\""), "holds a control character" },
		{ with_file_field("path", "\"/etc/x\\ny\""), "holds a control character" },
		{ with_file_field("path", "7"), "files[0] has no \"path\" string" },
		{ with_file_field("mode", "\"999\""), "files[0].mode \"999\" is not an octal mode" },
		{ with_file_field("mode", "\"4755\""), "is not an octal mode" },
		{ with_file_field("mode", "\"0644 \""), "is not an octal mode" },
		{ with_file_field("mode", "\"rw-r--r--\""), "is not an octal mode" },
		{ with_file_field("mode", "420"), "files[0] has no \"mode\" string" },
		{ with_file_field("content", "null"), "files[0] has no \"content\" string" },
		{ with_file_field("content", "\"a\\u0000b\""), "holds \\u0000 (a NUL byte)" },
		{ second_file_bad(), "files[1].path \"/etc/../../x\" has an empty, . or .. component" },
		{ with_join_field("token", "\"ABCDEF.0123456789abcdef\""), "join.token does not look like a bootstrap token" },
		{ with_join_field("token", "\"abcdef.0123\""), "join.token does not look like a bootstrap token" },
		{ with_join_field("token", "\"abcdef-0123456789abcdef\""), "join.token does not look like a bootstrap token" },
		{ with_join_field("caCertHashes", "[\"sha256:abc\"]"), "join.caCertHashes[0] \"sha256:abc\" is not sha256:" },
		{ with_join_field("caCertHashes", "[\"" HASH1 "\", \"md5:0123\"]"), "join.caCertHashes[1] \"md5:0123\"" },
		{ with_join_field("caCertHashes", "[]"), "join.caCertHashes is not a non-empty array" },
		{ with_join_field("apiServer", "\"--config=/etc/x\""), "is not a host:port" },
		{ with_join_field("apiServer", "\"a b:6443\""), "is not a host:port" },
		{ with_join_field("certificateKey", "\"abc\""), "join.certificateKey is not 64 hex digits" },
		{ with_top_field("hostname", "\"kube-a-dc1-worker08\""),
		  "the answer is for the host \"kube-a-dc1-worker08\", not " HOST },
		{ with_top_field("role", "\"admin\""), "role \"admin\" is neither master nor worker" },
		{ with_top_field("upgrade", "\"yes\""), "upgrade is not true or false" },
		{ with_top_field("files", "{}"), "the answer has no \"files\" array" },
		{ with_top_field("join", "[]"), "the answer has no \"join\" object" },
		{ with_top_field("settings", "{\"kubernetesVersion\": \"1.25; rm -rf /\"}"), "is not a version such as 1.25.6" },
		{ text("{\"files\": [], \"join\": {},}"), "malformed JSON at byte 26: a key in double quotes expected" },
		{ text("{'files': []}"), "malformed JSON at byte 2: a key in double quotes expected" },
		{ text("{\"files\" []}"), "a colon expected" },
		{ text("{\"files\": [01]}"), "\"01\" is not a number" },
		{ text("{\"a\": \"x\\qy\"}"), "unknown escape \"\\q\"" },
		{ text("{\"a\": \"\\ud83d\"}"), "a UTF-16 high surrogate without its low half" },
		{ text("{\"a\": \"\\ude00\"}"), "a UTF-16 low surrogate alone" },
		{ text("{\"a\": \"\\u12g4\"}"), "\\u needs four hex digits" },
		{ text("{\"a\": \"tab\there\"}"), "a control character inside a string" },
		{ text("{\"a\": 1, \"a\": 2}"), "the key \"a\" twice in one object" },
		{ text("{\"a\": tru}"), "a value expected" },
		{ text("{\"a\": 1} {}"), "more text after the answer" },
		{ text("[]"), "a JSON object expected" },
		{ text(""), "the answer ends early" },
		{ text("<html>Service temporarily moved</html>"), "a JSON object expected, not \"<\"" },
		{ cut(-1), "the answer ends early (cut short?), a comma or } expected" },
		{ cut(60), "cut short?" },
		{ cut(200), "cut short?" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *all, *rep;

		write_in(f->dir, "calls", "");
		fake_node_api_set_bootstrap(f->api, 200, cases[i].answer);
		run(f, NULL, NULL);
		if (f->status != 4)
			fail_msg("case %zu (%s): exit %d, want 4:\n%s", i, cases[i].answer, f->status, f->out);
		assert_out_has(f, "viva's answer was refused, nothing written: ");
		assert_out_has(f, cases[i].want);
		assert_tree_empty(f->root);
		assert_calls(f, "hostname\nkubelet [--version]\n");
		rep = the_report(f, &all);
		assert_true(json_is_false(json_object_get(rep, "ok")));
		assert_non_null(strstr(report_output(rep), cases[i].want));
		json_decref(all);
		fake_node_api_stop(f->api);
		f->api = fake_node_api_start(NODE_TOKEN);
		assert_non_null(f->api);
		free(cases[i].answer);
	}
}

/* ---- reports ------------------------------------------------------------------------------ */

static void report__503_once__retried(void **state)
{
	struct fx *f = *state;
	json_t *all, *rep;

	fake_node_api_fail_reports(f->api, 1, 503);
	serve(f, answer_new());
	run(f, NULL, NULL);
	assert_int_equal(f->status, 0);
	assert_int_equal(fake_node_api_reports_count(f->api), 2);
	rep = the_report(f, &all);
	assert_true(json_is_true(json_object_get(rep, "ok")));
	json_decref(all);
}

static void report__never_accepted__exit_5_after_the_join(void **state)
{
	struct fx *f = *state;
	const char *const env[] = { "VIVA_RETRY_BASE_MS=5", NULL };

	fake_node_api_fail_reports(f->api, 1000, 500);
	serve(f, answer_new());
	run(f, env, NULL);
	assert_int_equal(f->status, 5);
	assert_int_equal(fake_node_api_reports_count(f->api), 8);
	assert_calls(f, plain_join_calls);
	assert_out_has(f, "the report could not be delivered");
}

/* ---- upgrade -------------------------------------------------------------------------------- */

static void upgrade__asked_by_viva__new_files_kubeadm_upgrade_node_kubelet_restarted(void **state)
{
	struct fx *f = *state;
	json_t *a = answer_new(), *all, *rep;

	write_in(f->root, "etc/kubernetes/kubelet.conf", "joined\n");
	write_in(f->root, "etc/containerd/config.toml", "version = 1\n");
	json_object_set_new(a, "upgrade", json_true());
	serve(f, a);
	write_in(f->dir, "kubeadm.out", "[upgrade] The configuration for this node was successfully updated!\n");
	run(f, NULL, NULL);
	assert_int_equal(f->status, 0);
	assert_file(f, "/etc/containerd/config.toml", "version = 2\n", 12, 0644);
	assert_file(f, "/etc/kubernetes/kubelet.conf", "joined\n", 7, 0644);
	assert_calls(f,
		     "hostname\n"
		     "kubeadm [version] [-o] [short]\n"
		     "systemctl [daemon-reload]\n"
		     "systemctl [enable] [containerd.service]\n"
		     "systemctl [restart] [containerd.service]\n"
		     "kubeadm [upgrade] [node]\n"
		     "systemctl [restart] [kubelet.service]\n"
		     "kubelet [--version]\n");
	rep = the_report(f, &all);
	assert_string_equal(json_string_value(json_object_get(rep, "phase")), "upgrade");
	assert_true(json_is_true(json_object_get(rep, "ok")));
	assert_non_null(strstr(report_output(rep), "successfully updated"));
	json_decref(all);
}

/* --upgrade on a joined master: kubeadm upgrade apply to the answer's version. */
static void upgrade__flag_on_a_master__kubeadm_upgrade_apply(void **state)
{
	struct fx *f = *state;
	json_t *a = answer_new(), *all, *rep;

	write_in(f->root, "etc/kubernetes/kubelet.conf", "joined\n");
	json_object_set_new(a, "role", json_string("master"));
	serve(f, a);
	run(f, NULL, "--upgrade", NULL);
	assert_int_equal(f->status, 0);
	assert_calls(f,
		     "hostname\n"
		     "kubeadm [version] [-o] [short]\n"
		     "systemctl [daemon-reload]\n"
		     "systemctl [enable] [containerd.service]\n"
		     "systemctl [restart] [containerd.service]\n"
		     "kubeadm [upgrade] [apply] [--yes] [v1.25.6]\n"
		     "systemctl [restart] [kubelet.service]\n"
		     "kubelet [--version]\n");
	rep = the_report(f, &all);
	assert_string_equal(json_string_value(json_object_get(rep, "phase")), "upgrade");
	json_decref(all);
}

/* The new kubeadm is not installed: refused before anything is written. */
static void upgrade__kubeadm_of_another_version__refused_nothing_written(void **state)
{
	struct fx *f = *state;
	json_t *a = answer_new(), *all, *rep;

	write_in(f->root, "etc/kubernetes/kubelet.conf", "joined\n");
	write_in(f->root, "etc/containerd/config.toml", "version = 1\n");
	write_in(f->dir, "kubeadm.version", "v1.24.9\n");
	json_object_set_new(a, "upgrade", json_true());
	serve(f, a);
	run(f, NULL, NULL);
	assert_int_equal(f->status, 1);
	assert_out_has(f, "kubeadm here is v1.24.9, the cluster config wants 1.25.6");
	assert_file(f, "/etc/containerd/config.toml", "version = 1\n", 12, 0644);
	assert_calls(f, "hostname\nkubeadm [version] [-o] [short]\nkubelet [--version]\n");
	rep = the_report(f, &all);
	assert_string_equal(json_string_value(json_object_get(rep, "phase")), "upgrade");
	assert_true(json_is_false(json_object_get(rep, "ok")));
	assert_non_null(strstr(report_output(rep), "install kubeadm and kubelet 1.25.6"));
	json_decref(all);
}

/* ---- how it is run ---------------------------------------------------------------------- */

/* sh -x would show every expansion: the script switches tracing off. */
static void run__traced_with_sh_x__no_secret_shown(void **state)
{
	struct fx *f = *state;
	const char *argv[] = { default_shell(), "-x", "@", NULL };

	serve(f, answer_new());
	write_in(f->dir, "kubeadm.out", "token " JOIN_TOKEN "\n");
	run_argv(f, argv, NULL);
	assert_int_equal(f->status, 0);
	/* tracing was on when the script started (so the check above means something) */
	assert_out_has(f, "+ set +x");
}

/*
 * curl | sh: the script is the shell's standard input, and every stub here
 * reads its standard input to the end. The script still runs whole: it is
 * all functions until its last line (so the shell has read it all before a
 * command runs), and its commands read /dev/null.
 */
static void run__piped_into_sh__no_command_eats_the_script(void **state)
{
	struct fx *f = *state;
	const char *argv[] = { "/bin/sh", "-c", "cat \"$0\" | /bin/sh -s -- --upgrade", "@", NULL };
	const char *const env[] = { "STUB_READ_STDIN=1", NULL };
	json_t *all, *rep;

	write_in(f->root, "etc/kubernetes/kubelet.conf", "joined\n");
	serve(f, answer_new());
	run_argv(f, argv, env);
	assert_int_equal(f->status, 0);
	rep = the_report(f, &all);
	assert_string_equal(json_string_value(json_object_get(rep, "phase")), "upgrade");
	assert_true(json_is_true(json_object_get(rep, "ok")));
	json_decref(all);
}

/* busybox sh with busybox's awk, sed, tr...: the same bytes land. */
static void run__busybox__same_result(void **state)
{
	struct fx *f = *state;
	static const char *const applets[] = { "awk", "sed", "tr", "cat", "mkdir", "mv", "chmod", "cmp", "dd",
					       "sort", "tee", "sleep", "rm", "uname", NULL };
	const char *argv[] = { "/usr/bin/busybox", "sh", "@", NULL };
	json_t *all, *rep;

	if (access("/usr/bin/busybox", X_OK) != 0) {
		print_message("busybox is not installed (make deps installs it): skipped\n");
		skip();
	}
	for (int i = 0; applets[i]; i++) {
		char *link = path_in(f->bin, applets[i]);

		assert_int_equal(symlink("/usr/bin/busybox", link), 0);
		free(link);
	}
	fake_node_api_set_bootstrap(f->api, 200, odd_answer);
	fake_node_api_fail_bootstraps(f->api, 1, 503);
	run_argv(f, argv, NULL);
	if (f->status != 0)
		fail_msg("exit %d:\n%s", f->status, f->out);
	assert_file(f, "/etc/containerd/config.toml", odd_content, sizeof(odd_content) - 1, 0644);
	assert_file(f, "/etc/viva/empty.conf", "", 0, 0600);
	assert_file(f, "/usr/local/bin/viva-hook", "#!/bin/sh\necho hi\n", 18, 0755);
	assert_out_has(f, "retrying in 0.020 s (attempt 2 of 8)");
	rep = the_report(f, &all);
	assert_true(json_is_true(json_object_get(rep, "ok")));
	json_decref(all);
	/* and a refusal under busybox's awk */
	fake_node_api_set_bootstrap(f->api, 200, "{\"a\": \"\\ud83d\"}");
	run_argv(f, argv, NULL);
	assert_int_equal(f->status, 4);
	assert_out_has(f, "a UTF-16 high surrogate without its low half");
}

/* ---- the script itself ---------------------------------------------------------------------- */

static void script__shellcheck__clean(void **state)
{
	struct fx *f = *state;
	char *cmd, *out, *bad;
	int st = -1;

	if (system("command -v shellcheck >/dev/null 2>&1") != 0) {
		print_message("shellcheck is not installed (make deps installs it): skipped\n");
		skip();
	}
	cmd = xasprintf("shellcheck -s sh '%s'", f->script);
	out = test_run(cmd, &st);
	if (st != 0 || *out)
		fail_msg("shellcheck -s sh (exit %d):\n%s", st, out);
	free(out);
	free(cmd);
	/* the check itself can fail */
	bad = path_in(f->dir, "bad.sh");
	test_write_file(bad, "#!/bin/sh\nlocal x=$1\necho $x\n");
	cmd = xasprintf("shellcheck -s sh '%s'", bad);
	out = test_run(cmd, &st);
	assert_int_not_equal(st, 0);
	assert_non_null(strstr(out, "SC2086"));
	free(out);
	free(cmd);
	free(bad);
}

/* viva serves the built-in copy (GET /v1/bootstrap.sh); `templates dump` writes it executable. */
static void script__built_in__same_bytes_mode_0755(void **state)
{
	struct fx *f = *state;
	const struct builtin_file *b = builtin_find("node/bootstrap.sh");
	char *text = NULL, *dumped, err[256] = "";
	size_t len = 0;
	struct stat st;

	assert_non_null(b);
	assert_int_equal(b->mode, 0755);
	assert_int_equal(read_file(f->script, &text, &len), VIVA_OK);
	assert_int_equal(len, b->len);
	assert_memory_equal(text, b->data, len);
	free(text);
	assert_int_equal(builtin_dump(f->tmp, 0, NULL, NULL, err, sizeof(err)), VIVA_OK);
	dumped = path_in(f->tmp, "node/bootstrap.sh");
	assert_int_equal(stat(dumped, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0755);
	free(dumped);
	test_rm_rf(f->tmp);
	assert_int_equal(mkdir(f->tmp, 0700), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(join__fresh_node__writes_files_restarts_services_joins_and_reports,
						setup, teardown),
		cmocka_unit_test_setup_teardown(join__kubeadm_fails__reports_decisive_lines_and_exits_1, setup, teardown),
		cmocka_unit_test_setup_teardown(join__containerd_restart_fails__no_kubeadm_join_and_reported, setup,
						teardown),
		cmocka_unit_test_setup_teardown(join__master_with_certificate_key__joins_the_control_plane, setup,
						teardown),
		cmocka_unit_test_setup_teardown(join__master_without_certificates__refused_and_reported, setup, teardown),
		cmocka_unit_test_setup_teardown(join__already_joined__does_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(join__not_joined_and_upgrade_wanted__joins, setup, teardown),
		cmocka_unit_test_setup_teardown(join__files_only__writes_files_and_nothing_else, setup, teardown),
		cmocka_unit_test_setup_teardown(fetch__503_twice__retried_with_backoff_then_joins, setup, teardown),
		cmocka_unit_test_setup_teardown(fetch__503_always__gives_up_after_8_attempts, setup, teardown),
		cmocka_unit_test_setup_teardown(fetch__viva_not_listening__retried_then_exit_3, setup, teardown),
		cmocka_unit_test_setup_teardown(fetch__refused__no_retry_reason_shown_nothing_done, setup, teardown),
		cmocka_unit_test_setup_teardown(answer__hostile__refused_nothing_written, setup, teardown),
		cmocka_unit_test_setup_teardown(report__503_once__retried, setup, teardown),
		cmocka_unit_test_setup_teardown(report__never_accepted__exit_5_after_the_join, setup, teardown),
		cmocka_unit_test_setup_teardown(upgrade__asked_by_viva__new_files_kubeadm_upgrade_node_kubelet_restarted,
						setup, teardown),
		cmocka_unit_test_setup_teardown(upgrade__flag_on_a_master__kubeadm_upgrade_apply, setup, teardown),
		cmocka_unit_test_setup_teardown(upgrade__kubeadm_of_another_version__refused_nothing_written, setup,
						teardown),
		cmocka_unit_test_setup_teardown(run__traced_with_sh_x__no_secret_shown, setup, teardown),
		cmocka_unit_test_setup_teardown(run__piped_into_sh__no_command_eats_the_script, setup, teardown),
		cmocka_unit_test_setup_teardown(run__busybox__same_result, setup, teardown),
		cmocka_unit_test_setup_teardown(script__shellcheck__clean, setup, teardown),
		cmocka_unit_test_setup_teardown(script__built_in__same_bytes_mode_0755, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
