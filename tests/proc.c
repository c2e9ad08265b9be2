#include "tests/proc.h"
#include "bot/lib/alloc.h"
#include "bot/lib/fileio.h"
#include "bot/lib/strbuf.h"
#include "bot/lib/times.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

int proc_start(struct proc *p, char *const argv[], char *const env[], const char *log_path)
{
	return proc_start_in(p, NULL, false, argv, env, log_path);
}

int proc_start_in(struct proc *p, const char *cwd, bool clean_env, char *const argv[], char *const env[],
		  const char *log_path)
{
	/* what a clean environment keeps: the sanitizers' options and a PATH */
	static const char *const keep[] = { "ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS", NULL };
	char *kept[8] = { NULL };
	pid_t parent = getpid(), pid;

	memset(p, 0, sizeof(*p));
	p->status = -1;
	p->log = xstrdup(log_path);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		/* a test that crashes must not leave its servers running */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
			_exit(125);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
		if (cwd && chdir(cwd) != 0)
			_exit(126);
		if (clean_env) {
			size_t k = 0;
			for (size_t i = 0; keep[i]; i++)
				if (getenv(keep[i]))
					kept[k++] = xasprintf("%s=%s", keep[i], getenv(keep[i]));
			clearenv();
			putenv("PATH=/usr/bin:/bin");
			putenv("HOME=/nonexistent");
			for (size_t i = 0; i < k; i++)
				putenv(kept[i]);
		}
		for (char *const *e = env; e && *e; e++)
			putenv(*e);
		execv(argv[0], argv);
		_exit(127);
	}
	p->pid = pid;
	return 0;
}

char *proc_log(struct proc *p)
{
	char *s = NULL;
	if (read_file(p->log, &s, NULL) != 0)
		return xstrdup("");
	return s;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static bool reap(struct proc *p, bool block)
{
	int st;
	pid_t r;

	if (p->reaped)
		return true;
	r = waitpid(p->pid, &st, block ? 0 : WNOHANG);
	if (r != p->pid)
		return false;
	p->reaped = true;
	p->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
	return true;
}

bool proc_wait_log(struct proc *p, const char *needle, long timeout_ms)
{
	int64_t end = now_ms_mono() + timeout_ms;

	while (now_ms_mono() < end) {
		char *s = proc_log(p);
		bool found = strstr(s, needle) != NULL;
		free(s);
		if (found)
			return true;
		if (reap(p, false))
			return false;
		sleep_ms(20);
	}
	return false;
}

int proc_wait(struct proc *p, long timeout_ms)
{
	int64_t end = now_ms_mono() + timeout_ms;

	while (!reap(p, false)) {
		if (now_ms_mono() >= end)
			return -1;
		sleep_ms(10);
	}
	return p->status;
}

int proc_stop(struct proc *p, int sig, long timeout_ms)
{
	if (p->pid <= 0)
		return -1;   /* never started: kill(0) would signal the whole process group */
	if (!p->reaped)
		kill(p->pid, sig);
	return proc_wait(p, timeout_ms);
}

void proc_release(struct proc *p)
{
	if (p->pid > 0 && !p->reaped) {
		kill(p->pid, SIGKILL);
		reap(p, true);
	}
	free(p->log);
	p->log = NULL;
}

int free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
	sb_add(arg, data, size * n);
	return size * n;
}

static char *request_n(const char *url, const char *ctype, const char *body, long *status, size_t *len)
{
	CURL *c = curl_easy_init();
	struct curl_slist *h = NULL;
	struct strbuf sb;

	sb_init(&sb);
	*status = 0;
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &sb);
	if (body) {
		char *hdr = xasprintf("Content-Type: %s", ctype);
		h = curl_slist_append(h, hdr);
		free(hdr);
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	}
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	if (len)
		*len = sb.len;
	return sb_detach(&sb);
}

static char *request(const char *url, const char *ctype, const char *body, long *status)
{
	return request_n(url, ctype, body, status, NULL);
}

char *http_get_n(const char *url, long *status, size_t *len)
{
	return request_n(url, NULL, NULL, status, len);
}

char *http_get(const char *url, long *status)
{
	return request(url, NULL, NULL, status);
}

char *http_post(const char *url, const char *content_type, const char *body, long *status)
{
	return request(url, content_type, body, status);
}

json_t *http_post_json(const char *url, const char *json_text)
{
	long st;
	char *b = http_post(url, "application/json", json_text, &st);
	json_t *j = json_loads(b, 0, NULL);
	free(b);
	return j;
}

json_t *http_get_json(const char *url)
{
	long st;
	char *b = http_get(url, &st);
	json_t *j = json_loads(b, 0, NULL);
	free(b);
	return j;
}

char *http_raw(int port, const char *req, size_t len, long *status)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct timeval tv = { 10, 0 };
	struct strbuf sb;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	size_t off = 0;
	char buf[8192], *hdr_end, *body = NULL;

	*status = 0;
	if (fd < 0)
		return NULL;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		close(fd);
		return NULL;
	}
	/* the server may answer and hang up before taking it all (413) */
	while (off < len) {
		ssize_t w = send(fd, req + off, len - off, MSG_NOSIGNAL);
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	sb_init(&sb);
	for (int i = 0; i < 10000; i++) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		if (n <= 0)
			break;
		sb_add(&sb, buf, (size_t)n);
		hdr_end = sb.len ? strstr(sb.buf, "\r\n\r\n") : NULL;
		if (hdr_end) {
			const char *cl = strcasestr(sb.buf, "\r\ncontent-length:");
			if (cl && cl < hdr_end &&
			    sb.len >= (size_t)(hdr_end + 4 - sb.buf) + strtoul(cl + 17, NULL, 10))
				break;
		}
	}
	close(fd);
	if (sb.len > 12 && strncmp(sb.buf, "HTTP/1.", 7) == 0)
		*status = strtol(sb.buf + 9, NULL, 10);
	hdr_end = sb.len ? strstr(sb.buf, "\r\n\r\n") : NULL;
	if (hdr_end)
		body = xstrdup(hdr_end + 4);
	sb_release(&sb);
	return body;
}
