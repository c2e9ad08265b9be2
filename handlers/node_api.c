/* The node HTTP API (see handlers/node_api.h). */
#include "handlers/node_api.h"
#include "bot/lib/alloc.h"
#include "bot/lib/err.h"
#include "bot/lib/fileio.h"
#include "bot/lib/log.h"
#include "bot/model/builtin.h"
#include "bot/model/config.h"

#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The script a node fetches is small; an operator's copy is capped. */
#define SCRIPT_MAX (256 * 1024)

static void answer_error(struct http_request *req, unsigned status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void answer_error(struct http_request *req, unsigned status, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	json_t *j;
	char *s;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	j = json_pack("{s:s}", "error", msg);
	s = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	http_request_answer(req, status, "application/json", xasprintf("%s\n", s));
	free(s);
}

/* GET /v1/bootstrap.sh: node_templates' bootstrap.sh, else the built-in one. */
static void serve_script(struct viva_env *env, struct http_request *req)
{
	const char *dir = NULL;   /* node_templates: wired with the cluster configs */

	(void)env;
	const struct builtin_file *b;
	const char *why = NULL;
	char *text = NULL;

	if (dir && *dir) {
		int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		int rc = dfd < 0 ? VIVA_ENOENT
				 : read_regular_file(dfd, "bootstrap.sh", READ_BENEATH, SCRIPT_MAX, &text, NULL, &why);
		if (dfd >= 0)
			close(dfd);
		if (rc == VIVA_OK) {
			http_request_answer(req, 200, "text/x-shellscript; charset=utf-8", text);
			return;
		}
		if (rc != VIVA_ENOENT) {
			log_error("node_templates/bootstrap.sh not served", "dir=%s why=\"%s\"", dir, why ? why : "");
			answer_error(req, 500, "the operator's bootstrap.sh cannot be served (%s); see viva's log",
				     why ? why : "cannot be read");
			return;
		}
	}
	b = builtin_find("node/bootstrap.sh");
	if (!b) {
		answer_error(req, 404, "no bootstrap script is built into this viva");
		return;
	}
	http_request_answer(req, 200, "text/x-shellscript; charset=utf-8", xstrndup((const char *)b->data, b->len));
}

/* A node name as Kubernetes allows it (DNS-1123 subdomain), lower case. */
static int valid_host(const char *h, size_t n)
{
	if (n == 0 || n > 253 || h[0] == '-' || h[0] == '.' || h[n - 1] == '-' || h[n - 1] == '.')
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = h[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.'))
			return 0;
		if (c == '.' && i + 1 < n && (h[i + 1] == '.' || h[i + 1] == '-' || h[i - 1] == '-'))
			return 0;
	}
	return 1;
}

void node_api_serve(struct viva_env *env, struct http_request *req)
{
	const char *p = req->path, *host, *slash, *what;
	char hostname[254];

	if (strcmp(p, "/v1/bootstrap.sh") == 0) {
		if (req->post)
			answer_error(req, 405, "use GET for /v1/bootstrap.sh");
		else
			serve_script(env, req);
		return;
	}
	if (strncmp(p, "/v1/nodes/", 10) != 0) {
		answer_error(req, 404, "not found");
		return;
	}
	host = p + 10;
	slash = strchr(host, '/');
	if (!slash || !valid_host(host, (size_t)(slash - host))) {
		answer_error(req, 404, "not a node name: expected /v1/nodes/{hostname}/bootstrap or /report");
		return;
	}
	memcpy(hostname, host, (size_t)(slash - host));
	hostname[slash - host] = '\0';
	what = slash + 1;
	if (strcmp(what, "bootstrap") == 0) {
		if (req->post) {
			answer_error(req, 405, "use GET for a bootstrap");
			return;
		}
		answer_error(req, 404, "no cluster config names host %s", hostname);
		return;
	}
	if (strcmp(what, "report") == 0) {
		if (!req->post) {
			answer_error(req, 405, "use POST for a report");
			return;
		}
		answer_error(req, 404, "no cluster config names host %s", hostname);
		return;
	}
	answer_error(req, 404, "not found");
}
