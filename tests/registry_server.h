#ifndef VIVA_TESTS_REGISTRY_SERVER_H
#define VIVA_TESTS_REGISTRY_SERVER_H

#include "tests/proc.h"

/*
 * The real Debian docker-registry, started on a free 127.0.0.1 port with
 * its storage in a fresh temporary directory (FACTS.md section 1), and
 * stopped (directory removed) by registry_server_stop.
 */
struct registry_server {
	struct proc proc;
	char *dir;
	int port;
	char base[64];      /* http://127.0.0.1:PORT */
};

int registry_server_start(struct registry_server *s);
/* The same over TLS (base is https://...), with this PEM certificate and key. */
int registry_server_start_tls(struct registry_server *s, const char *cert, const char *key);
void registry_server_stop(struct registry_server *s);

#endif
