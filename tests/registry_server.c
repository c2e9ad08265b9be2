#include "tests/registry_server.h"
#include "bot/lib/alloc.h"
#include "bot/lib/times.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Does something accept connections on 127.0.0.1:port? */
static int port_open(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0), ok;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	if (fd >= 0)
		close(fd);
	return ok;
}

static int start(struct registry_server *s, const char *cert, const char *key);

int registry_server_start(struct registry_server *s)
{
	return start(s, NULL, NULL);
}

int registry_server_start_tls(struct registry_server *s, const char *cert, const char *key)
{
	return start(s, cert, key);
}

static int start(struct registry_server *s, const char *cert, const char *key)
{
	char tmpl[] = "/tmp/viva-registry-XXXXXX";
	char *cfg = NULL, *log = NULL, *yaml = NULL;
	char *argv[] = { "/usr/bin/docker-registry", "serve", NULL, NULL };
	int64_t end;
	int rc = -1;
	FILE *f;

	memset(s, 0, sizeof(*s));
	if (!mkdtemp(tmpl))
		return -1;
	s->dir = xstrdup(tmpl);
	s->port = free_port();
	snprintf(s->base, sizeof(s->base), "%s://127.0.0.1:%d", cert ? "https" : "http", s->port);
	cfg = xasprintf("%s/config.yml", s->dir);
	log = xasprintf("%s/registry.log", s->dir);
	yaml = xasprintf("version: 0.1\nlog: {level: warn, formatter: text}\n"
			 "storage:\n  filesystem: {rootdirectory: %s/data}\n  delete: {enabled: true}\n"
			 "  cache: {blobdescriptor: inmemory}\n"
			 "http:\n  addr: 127.0.0.1:%d\n  headers: {X-Content-Type-Options: [nosniff]}\n"
			 "%s%s%s%s%s",
			 s->dir, s->port, cert ? "  tls:\n    certificate: " : "", cert ? cert : "",
			 cert ? "\n    key: " : "", cert ? key : "", cert ? "\n" : "");
	f = fopen(cfg, "w");
	if (!f)
		goto out;
	fputs(yaml, f);
	fclose(f);
	argv[2] = cfg;
	if (proc_start(&s->proc, argv, NULL, log) != 0)
		goto out;
	/* ready in ~0.1 s (FACTS.md); bounded at 10 s */
	end = now_ms_mono() + 10000;
	while (now_ms_mono() < end) {
		long st = 0;
		char *url = xasprintf("%s/v2/", s->base), *b = cert ? NULL : http_get(url, &st);
		free(url);
		free(b);
		if (st == 200 || (cert && port_open(s->port))) {
			rc = 0;
			break;
		}
		{
			struct timespec ts = { 0, 50 * 1000000L };
			nanosleep(&ts, NULL);
		}
	}
out:
	free(cfg);
	free(log);
	free(yaml);
	if (rc)
		registry_server_stop(s);
	return rc;
}

void registry_server_stop(struct registry_server *s)
{
	if (s->proc.pid > 0) {
		proc_stop(&s->proc, SIGTERM, 5000);
		proc_release(&s->proc);
	}
	if (s->dir && strncmp(s->dir, "/tmp/viva-registry-", 19) == 0) {
		char *cmd = xasprintf("rm -rf '%s'", s->dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", s->dir);
		free(cmd);
	}
	free(s->dir);
	s->dir = NULL;
}
