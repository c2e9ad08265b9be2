/*
 * The TLS front for the fake Slack (see tls_front.h). One thread accepts on
 * both ports; each connection gets a thread of its own. Every blocking read
 * or write is bounded by IO_MS, every loop by the stop flag.
 */
#include "tests/tls_front.h"
#include "bot/lib/alloc.h"
#include "bot/lib/strbuf.h"
#include "bot/lib/times.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define MAX_HEAD        65536
#define MAX_BODY        (1 << 20)
#define IO_MS           5000
#define POLL_MS         100

struct tls_front {
	int upstream_port;
	SSL_CTX *api_ctx;
	SSL_CTX *link_ctx;
	int api_fd;
	int link_fd;
	int api_port;
	int link_port;
	pthread_t th;
	atomic_bool stop;
	atomic_int active;           /* connection threads still running */
	pthread_mutex_t mu;          /* guards st */
	struct tls_front_stats st;
};

struct conn_arg {
	struct tls_front *t;
	int fd;
	bool link;
};

static int listen_local(int *port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 16) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) != 0) {
		close(fd);
		return -1;
	}
	*port = ntohs(sa.sin_port);
	return fd;
}

static SSL_CTX *server_ctx(const char *cert, const char *key)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (!ctx)
		return NULL;
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		fprintf(stderr, "tls_front: cannot use %s / %s\n", cert, key);
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

static void count(struct tls_front *t, int *field)
{
	pthread_mutex_lock(&t->mu);
	(*field)++;
	pthread_mutex_unlock(&t->mu);
}

/* ---- the API port ---------------------------------------------------------- */

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	struct strbuf *sb = arg;

	if (sb->len + size * n > MAX_BODY)
		return 0;
	sb_add(sb, p, size * n);
	return size * n;
}

/* A header's value from the head, or NULL (caller frees). */
static char *header(const char *head, const char *name)
{
	size_t n = strlen(name);

	for (const char *l = strstr(head, "\r\n"); l && l[2] != '\r'; l = strstr(l + 2, "\r\n")) {
		const char *s = l + 2;
		if (strncasecmp(s, name, n) == 0 && s[n] == ':') {
			s += n + 1;
			while (*s == ' ')
				s++;
			return xstrndup(s, strcspn(s, "\r\n"));
		}
	}
	return NULL;
}

static bool ssl_write_all(SSL *ssl, int fd, const char *p, size_t n)
{
	int64_t end = now_ms_mono() + IO_MS;

	while (n > 0 && now_ms_mono() < end) {
		int w = SSL_write(ssl, p, (int)n);
		if (w > 0) {
			p += w;
			n -= (size_t)w;
			continue;
		}
		switch (SSL_get_error(ssl, w)) {
		case SSL_ERROR_WANT_WRITE: {
			struct pollfd pf = { .fd = fd, .events = POLLOUT };
			poll(&pf, 1, POLL_MS);
			break;
		}
		case SSL_ERROR_WANT_READ: {
			struct pollfd pf = { .fd = fd, .events = POLLIN };
			poll(&pf, 1, POLL_MS);
			break;
		}
		default:
			return false;
		}
	}
	return n == 0;
}

/* The fake's ws://127.0.0.1:UP/... becomes wss://127.0.0.1:LINK/... */
static char *rewrite_link(struct tls_front *t, const char *body)
{
	json_t *j = json_loads(body, 0, NULL);
	const char *url = json_string_value(json_object_get(j, "url"));
	char *prefix = xasprintf("ws://127.0.0.1:%d/", t->upstream_port);
	char *out = NULL;

	if (url && strncmp(url, prefix, strlen(prefix)) == 0) {
		json_object_set_new(j, "url", json_sprintf("wss://127.0.0.1:%d/%s", t->link_port,
							   url + strlen(prefix)));
		out = json_dumps(j, JSON_COMPACT);
	}
	free(prefix);
	json_decref(j);
	return out ? out : xstrdup(body);
}

static void api_serve(struct tls_front *t, SSL *ssl, int fd)
{
	struct strbuf in, resp;
	struct curl_slist *hdrs = NULL;
	char *auth = NULL, *ctype = NULL, *clen = NULL, *line = NULL, *url = NULL, *body = NULL;
	char method[16] = "", path[1024] = "", *eoh;
	size_t want, have;
	long status = 0;
	CURL *h = NULL;
	int64_t end = now_ms_mono() + IO_MS;

	sb_init(&in);
	sb_init(&resp);
	/* the head, then the body (Content-Length) */
	while (!(eoh = strstr(in.buf, "\r\n\r\n")) && in.len < MAX_HEAD && now_ms_mono() < end) {
		char buf[4096];
		int n = SSL_read(ssl, buf, sizeof(buf));
		if (n <= 0)
			goto out;
		sb_add(&in, buf, (size_t)n);
	}
	if (!eoh || sscanf(in.buf, "%15s %1023s", method, path) != 2)
		goto out;
	eoh[2] = '\0';   /* the head, for header(); the body starts at eoh + 4 */
	auth = header(in.buf, "Authorization");
	ctype = header(in.buf, "Content-Type");
	clen = header(in.buf, "Content-Length");
	want = clen ? strtoul(clen, NULL, 10) : 0;
	have = in.len - (size_t)(eoh + 4 - in.buf);
	if (want > MAX_BODY)
		goto out;
	body = xmalloc(want + 1);
	memcpy(body, eoh + 4, have < want ? have : want);
	while (have < want && now_ms_mono() < end) {
		int n = SSL_read(ssl, body + have, (int)(want - have));
		if (n <= 0)
			goto out;
		have += (size_t)n;
	}
	if (have < want)
		goto out;
	body[want] = '\0';

	h = curl_easy_init();
	url = xasprintf("http://127.0.0.1:%d%s", t->upstream_port, path);
	if (auth) {
		line = xasprintf("Authorization: %s", auth);
		hdrs = curl_slist_append(hdrs, line);
		free(line);
	}
	if (ctype) {
		line = xasprintf("Content-Type: %s", ctype);
		hdrs = curl_slist_append(hdrs, line);
		free(line);
	}
	hdrs = curl_slist_append(hdrs, "Expect:");
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)IO_MS);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	if (strcmp(method, "POST") == 0) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)want);
	}
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &resp);
	if (curl_easy_perform(h) != CURLE_OK)
		goto out;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	{
		char *out = strstr(path, "apps.connections.open") ? rewrite_link(t, resp.buf) : xstrdup(resp.buf);
		char *head = xasprintf("HTTP/1.1 %ld X\r\nContent-Type: application/json; charset=utf-8\r\n"
				       "Content-Length: %zu\r\nConnection: close\r\n\r\n", status, strlen(out));
		if (ssl_write_all(ssl, fd, head, strlen(head)) && ssl_write_all(ssl, fd, out, strlen(out)))
			count(t, &t->st.api_requests);
		free(head);
		free(out);
	}
out:
	if (h)
		curl_easy_cleanup(h);
	curl_slist_free_all(hdrs);
	free(url);
	free(body);
	free(auth);
	free(ctype);
	free(clen);
	sb_release(&in);
	sb_release(&resp);
}

/* ---- the link port ----------------------------------------------------------- */

static int connect_upstream(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}

static bool write_all(int fd, const char *p, size_t n)
{
	int64_t end = now_ms_mono() + IO_MS;

	while (n > 0 && now_ms_mono() < end) {
		ssize_t w = write(fd, p, n);
		if (w > 0) {
			p += w;
			n -= (size_t)w;
		} else if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
			struct pollfd pf = { .fd = fd, .events = POLLOUT };
			poll(&pf, 1, POLL_MS);
		} else {
			return false;
		}
	}
	return n == 0;
}

/* Bytes both ways until either side closes or the front stops. */
static void link_pipe(struct tls_front *t, SSL *ssl, int fd)
{
	int up = connect_upstream(t->upstream_port);
	char buf[16384];

	if (up < 0)
		return;
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	fcntl(up, F_SETFL, fcntl(up, F_GETFL) | O_NONBLOCK);
	while (!atomic_load(&t->stop)) {
		struct pollfd pf[2] = { { .fd = fd, .events = POLLIN }, { .fd = up, .events = POLLIN } };

		if (SSL_pending(ssl) == 0 && poll(pf, 2, POLL_MS) <= 0)
			continue;
		if (SSL_pending(ssl) > 0 || (pf[0].revents & (POLLIN | POLLHUP | POLLERR))) {
			int n = SSL_read(ssl, buf, sizeof(buf));
			if (n > 0) {
				if (!write_all(up, buf, (size_t)n))
					break;
			} else {
				int e = SSL_get_error(ssl, n);
				if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
					break;
			}
		}
		if (pf[1].revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t n = read(up, buf, sizeof(buf));
			if (n > 0) {
				if (!ssl_write_all(ssl, fd, buf, (size_t)n))
					break;
			} else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
				break;
			}
		}
	}
	close(up);
}

/* ---- threads ------------------------------------------------------------------- */

static void *conn_main(void *arg)
{
	struct conn_arg *a = arg;
	struct tls_front *t = a->t;
	struct timeval tv = { IO_MS / 1000, 0 };
	SSL *ssl = SSL_new(a->link ? t->link_ctx : t->api_ctx);

	/* the handshake and the API exchange block, bounded by these */
	setsockopt(a->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(a->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (!ssl)
		goto out;
	SSL_set_fd(ssl, a->fd);
	if (SSL_accept(ssl) != 1) {
		ERR_clear_error();
		count(t, a->link ? &t->st.link_refused : &t->st.api_refused);
		goto out;
	}
	if (a->link) {
		count(t, &t->st.links);
		link_pipe(t, ssl, a->fd);
	} else {
		api_serve(t, ssl, a->fd);
	}
	SSL_shutdown(ssl);
out:
	ERR_clear_error();
	SSL_free(ssl);
	close(a->fd);
	atomic_fetch_sub(&t->active, 1);
	free(a);
	return NULL;
}

static void *accept_main(void *arg)
{
	struct tls_front *t = arg;

	while (!atomic_load(&t->stop)) {
		struct pollfd pf[2] = { { .fd = t->api_fd, .events = POLLIN }, { .fd = t->link_fd, .events = POLLIN } };

		if (poll(pf, 2, POLL_MS) <= 0)
			continue;
		for (int i = 0; i < 2; i++) {
			struct conn_arg *a;
			pthread_t th;
			int fd;

			if (!(pf[i].revents & POLLIN))
				continue;
			fd = accept4(pf[i].fd, NULL, NULL, SOCK_CLOEXEC);
			if (fd < 0)
				continue;
			a = xcalloc(1, sizeof(*a));
			a->t = t;
			a->fd = fd;
			a->link = i == 1;
			atomic_fetch_add(&t->active, 1);
			if (pthread_create(&th, NULL, conn_main, a) != 0) {
				atomic_fetch_sub(&t->active, 1);
				close(fd);
				free(a);
				continue;
			}
			pthread_detach(th);
		}
	}
	return NULL;
}

struct tls_front *tls_front_start(const struct tls_front_opts *o)
{
	struct tls_front *t = xcalloc(1, sizeof(*t));

	curl_global_init(CURL_GLOBAL_DEFAULT);
	t->upstream_port = o->upstream_port;
	t->api_fd = t->link_fd = -1;
	pthread_mutex_init(&t->mu, NULL);
	t->api_ctx = server_ctx(o->api_cert, o->api_key);
	t->link_ctx = server_ctx(o->link_cert, o->link_key);
	if (!t->api_ctx || !t->link_ctx)
		goto fail;
	if (o->api_client_ca) {
		STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(o->api_client_ca);

		if (!names || SSL_CTX_load_verify_locations(t->api_ctx, o->api_client_ca, NULL) != 1) {
			fprintf(stderr, "tls_front: cannot use client CA %s\n", o->api_client_ca);
			sk_X509_NAME_pop_free(names, X509_NAME_free);
			goto fail;
		}
		SSL_CTX_set_client_CA_list(t->api_ctx, names);
		SSL_CTX_set_verify(t->api_ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
		/* OpenSSL refuses to resume a session of a verified peer without a
		 * session id context: a client's second connection (libcurl
		 * resumes) would fail its handshake */
		SSL_CTX_set_session_id_context(t->api_ctx, (const unsigned char *)"viva-test", 9);
	}
	t->api_fd = listen_local(&t->api_port);
	t->link_fd = listen_local(&t->link_port);
	if (t->api_fd < 0 || t->link_fd < 0)
		goto fail;
	if (pthread_create(&t->th, NULL, accept_main, t) != 0)
		goto fail;
	return t;
fail:
	if (t->api_fd >= 0)
		close(t->api_fd);
	if (t->link_fd >= 0)
		close(t->link_fd);
	SSL_CTX_free(t->api_ctx);
	SSL_CTX_free(t->link_ctx);
	pthread_mutex_destroy(&t->mu);
	free(t);
	curl_global_cleanup();
	return NULL;
}

int tls_front_api_port(const struct tls_front *t)
{
	return t->api_port;
}

void tls_front_stats(struct tls_front *t, struct tls_front_stats *out)
{
	pthread_mutex_lock(&t->mu);
	*out = t->st;
	pthread_mutex_unlock(&t->mu);
}

void tls_front_stop(struct tls_front *t)
{
	int64_t end;

	if (!t)
		return;
	atomic_store(&t->stop, true);
	pthread_join(t->th, NULL);
	close(t->api_fd);
	close(t->link_fd);
	/* connection threads see the flag within POLL_MS, or IO_MS when blocked */
	end = now_ms_mono() + 2 * IO_MS;
	while (atomic_load(&t->active) > 0 && now_ms_mono() < end) {
		struct timespec ts = { 0, 10 * 1000000L };
		nanosleep(&ts, NULL);
	}
	if (atomic_load(&t->active) > 0) {
		/* they still use t: leave it to the process exit */
		fprintf(stderr, "tls_front: connections still open at stop\n");
		return;
	}
	SSL_CTX_free(t->api_ctx);
	SSL_CTX_free(t->link_ctx);
	pthread_mutex_destroy(&t->mu);
	free(t);
	curl_global_cleanup();
}
