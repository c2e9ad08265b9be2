#ifndef VIVA_TESTS_TLS_FRONT_H
#define VIVA_TESTS_TLS_FRONT_H

/*
 * A TLS front for the fake Slack (which speaks only plain HTTP and ws://),
 * run in threads of the test, so that viva can be tested over https:// and
 * wss:// with a throwaway CA:
 *  - the API port terminates TLS and answers each Web API request (one per
 *    connection, Connection: close) by forwarding it to the fake with
 *    libcurl; in apps.connections.open answers it rewrites the fake's
 *    ws://127.0.0.1:P URL into wss://127.0.0.1:<link port>;
 *  - the link port terminates TLS and pipes the bytes both ways to the
 *    fake's port (the WebSocket handshake and frames pass untouched).
 * Each port has its own certificate, so a test can give the link a
 * certificate for another host name. Listens on 127.0.0.1 only.
 */
struct tls_front_opts {
	int upstream_port;           /* the fake */
	const char *api_cert;        /* PEM certificate chain and key of each port */
	const char *api_key;
	const char *link_cert;
	const char *link_key;
	/* PEM CA file: the API port then requires a client certificate signed
	 * by it (mutual TLS); NULL: no client certificate asked for */
	const char *api_client_ca;
};

struct tls_front_stats {
	int api_requests;            /* answered */
	int links;                   /* TLS handshakes completed on the link port */
	int link_refused;            /* handshakes on the link port that failed */
	int api_refused;             /* handshakes on the API port that failed */
};

struct tls_front;

struct tls_front *tls_front_start(const struct tls_front_opts *o);  /* NULL on failure */
int tls_front_api_port(const struct tls_front *t);
void tls_front_stats(struct tls_front *t, struct tls_front_stats *out);
/* Stop listening, end every connection (bounded), free. */
void tls_front_stop(struct tls_front *t);

#endif
