/*
 * The memory floor under viva's idle RSS: a program linked with exactly
 * viva's libraries that initialises what viva cannot run without (libcurl's
 * global state, which initialises OpenSSL; a libwebsockets context; viva's
 * SQLite store, opened through store/ as viva opens it) and does nothing else. bench/run.sh prints its VmRSS
 * next to viva's, so the part that is viva's own can be read off.
 *
 *   build/rel/bench/floor DBPATH   prints "floor_rss_kb=N anon_kb=N"
 */
#include "store/store.h"

#include <curl/curl.h>
#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static long status_kb(const char *field)
{
	char line[256];
	size_t n = strlen(field);
	long kb = -1;
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, field, n) == 0 && line[n] == ':')
			kb = strtol(line + n + 1, NULL, 10);
	fclose(f);
	return kb;
}

int main(int argc, char **argv)
{
	struct lws_context_creation_info info;
	struct lws_context *ctx;
	struct store *st = NULL;

	if (argc != 2) {
		fprintf(stderr, "usage: floor DBPATH\n");
		return 2;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return 1;
	lws_set_log_level(0, NULL);
	memset(&info, 0, sizeof(info));
	info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
	ctx = lws_create_context(&info);
	if (!ctx)
		return 1;
	if (store_open(argv[1], &st) != 0)
		return 1;
	sleep(1);
	printf("floor_rss_kb=%ld anon_kb=%ld\n", status_kb("VmRSS"), status_kb("RssAnon"));
	store_close(st);
	lws_context_destroy(ctx);
	curl_global_cleanup();
	return 0;
}
