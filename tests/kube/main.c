/*
 * fake_kube: the fake Kubernetes API server as a process, for trying viva
 * or kubectl by hand and for process-level tests.
 *
 *   fake_kube [--tls] [--token T] [--client-cert] [--port N] [--dir D]
 *             [--tick-ms N] [--never-ready IMAGE]... [--seed FILE]... [-v]
 *
 * Prints "READY url=URL kubeconfig=PATH" on stdout once listening, then
 * serves until SIGTERM or SIGINT (exit 0). The /_fake/ control API is on
 * (tests/kube/README.md). kubectl --kubeconfig PATH get ns works at once.
 */
#include "tests/kube/fake_kube.h"
#include "bot/lib/fileio.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
	(void)sig;
	g_stop = 1;
}

static void usage(void)
{
	fprintf(stderr, "usage: fake_kube [--tls] [--token T] [--client-cert] [--port N] [--dir D] [--tick-ms N]\n"
			"                 [--never-ready IMAGE]... [--seed FILE]... [-v]\n");
}

int main(int argc, char **argv)
{
	struct fake_kube_opts o = { .control = true, .tick_ms = 200 };
	const char *never[64], *seeds[64];
	int nnever = 0, nseeds = 0, rc = 0;
	struct fake_kube *k;
	struct sigaction sa;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--tls") == 0) {
			o.tls = true;
		} else if (strcmp(a, "--client-cert") == 0) {
			o.client_cert = true;
		} else if (strcmp(a, "-v") == 0) {
			o.verbose = true;
		} else if (v && strcmp(a, "--token") == 0) {
			o.token = v;
			i++;
		} else if (v && strcmp(a, "--port") == 0) {
			o.port = atoi(v);
			i++;
		} else if (v && strcmp(a, "--dir") == 0) {
			o.dir = v;
			i++;
		} else if (v && strcmp(a, "--tick-ms") == 0) {
			o.tick_ms = atoi(v);
			i++;
		} else if (v && strcmp(a, "--never-ready") == 0 && nnever < 64) {
			never[nnever++] = v;
			i++;
		} else if (v && strcmp(a, "--seed") == 0 && nseeds < 64) {
			seeds[nseeds++] = v;
			i++;
		} else {
			usage();
			return 2;
		}
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	k = fake_kube_start(&o);
	if (!k)
		return 1;
	for (int i = 0; i < nnever; i++)
		fake_kube_never_ready(k, never[i], true);
	for (int i = 0; i < nseeds; i++) {
		char *text = NULL;
		if (read_file(seeds[i], &text, NULL) != 0 || fake_kube_seed(k, text) != 0) {
			fprintf(stderr, "fake_kube: cannot seed %s\n", seeds[i]);
			rc = 1;
		}
		free(text);
		if (rc)
			goto out;
	}
	printf("READY url=%s kubeconfig=%s\n", fake_kube_url(k), fake_kube_kubeconfig(k));
	fflush(stdout);
	while (!g_stop) {
		struct timespec ts = { 0, 50 * 1000000L };
		nanosleep(&ts, NULL);
	}
out:
	fake_kube_stop(k);
	return rc;
}
