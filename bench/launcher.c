/*
 * The benchmarks' launcher (bench/launcher.h): a process forked while the
 * benchmark is small, which forks and waits for each measured run.
 *
 * A request is a header (counts and the byte size of the strings) and the
 * strings, NUL-terminated one after the other: the arguments, the extra
 * environment, the stdout path, the stderr path ("" for /dev/null). The
 * answer is one struct launched. A run is bounded by alarm(2) in the child
 * before execve when the request carries a timeout.
 */
#include "bench/launcher.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define REQ_BYTES  16384
#define REQ_ITEMS  64

struct req_head {
	uint32_t nargs, nenv, bytes, timeout_s;
};

double launcher_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static bool full_io(int fd, void *buf, size_t n, bool wr)
{
	char *p = buf;

	while (n > 0) {
		ssize_t r = wr ? write(fd, p, n) : read(fd, p, n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return false;
		p += r;
		n -= (size_t)r;
	}
	return true;
}

/* Split n strings off *p (within end); NULL when they are not there. */
static bool take(char **p, const char *end, uint32_t n, char **out)
{
	for (uint32_t i = 0; i < n; i++) {
		char *z = memchr(*p, '\0', (size_t)(end - *p));

		if (!z)
			return false;
		out[i] = *p;
		*p = z + 1;
	}
	return true;
}

/* In the child: stdout and stderr where the request says. */
static void redirect(const char *path, int fd, int flags)
{
	int f = open(*path ? path : "/dev/null", O_WRONLY | O_CREAT | flags, 0644);

	if (f >= 0) {
		dup2(f, fd);
		close(f);
	}
}

/* The launcher's loop: one request in, one run, one struct launched out. */
static _Noreturn void launcher_main(int in, int out, const char *dir, char *const env[])
{
	static char buf[REQ_BYTES];
	struct req_head h;
	size_t nbase = 0;

	while (env[nbase])
		nbase++;
	while (full_io(in, &h, sizeof(h), false)) {
		struct launched l = { .status = -1 };
		char *argv[REQ_ITEMS + 1], *envv[REQ_ITEMS + 1 + 256], *paths[2], *p = buf;
		struct rusage ru, self;
		pid_t pid;
		int st = 0;

		if (h.bytes > sizeof(buf) || h.nargs < 1 || h.nargs > REQ_ITEMS || h.nenv > REQ_ITEMS || nbase > 256 ||
		    !full_io(in, buf, h.bytes, false))
			break;
		if (!take(&p, buf + h.bytes, h.nargs, argv) || !take(&p, buf + h.bytes, h.nenv, envv + nbase) ||
		    !take(&p, buf + h.bytes, 2, paths))
			break;
		argv[h.nargs] = NULL;
		memcpy(envv, env, nbase * sizeof(*envv));
		envv[nbase + h.nenv] = NULL;
		l.t_start_ms = launcher_now_ms();
		pid = fork();
		if (pid == 0) {
			close(in);
			close(out);
			if (chdir(dir) != 0)
				_exit(127);
			redirect(paths[0], 1, O_TRUNC);
			redirect(paths[1], 2, O_APPEND);
			alarm(h.timeout_s);   /* kept across execve */
			execve(argv[0], argv, envv);
			_exit(127);
		}
		if (pid > 0 && wait4(pid, &st, 0, &ru) == pid) {
			l.t_end_ms = launcher_now_ms();
			l.wall_ms = l.t_end_ms - l.t_start_ms;
			l.cpu_ms = (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
				   (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
			l.rss_kb = ru.ru_maxrss;
			l.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		}
		getrusage(RUSAGE_SELF, &self);
		l.floor_kb = self.ru_maxrss;
		if (!full_io(out, &l, sizeof(l), true))
			break;
	}
	_exit(0);
}

bool launcher_start(struct launcher *L, const char *dir, char *const env[])
{
	int down[2], up[2];

	/*
	 * Close-on-exec: a server the benchmark starts later (fork + exec)
	 * must not hold the request pipe open, or the launcher never sees it
	 * close and launcher_stop waits for ever. The launcher itself does
	 * not exec, and a measured program has no use for them.
	 */
	if (pipe2(down, O_CLOEXEC) != 0)
		return false;
	if (pipe2(up, O_CLOEXEC) != 0) {
		close(down[0]);
		close(down[1]);
		return false;
	}
	L->timeout_s = 0;
	L->pid = fork();
	if (L->pid < 0)
		return false;
	if (L->pid == 0) {
		close(down[1]);
		close(up[0]);
		launcher_main(down[0], up[1], dir, env);
	}
	close(down[0]);
	close(up[1]);
	L->to = down[1];
	L->from = up[0];
	return true;
}

/* Append s and its NUL to buf (at *len); false when it does not fit. */
static bool put(char *buf, size_t *len, const char *s)
{
	size_t n = strlen(s) + 1;

	if (*len + n > REQ_BYTES)
		return false;
	memcpy(buf + *len, s, n);
	*len += n;
	return true;
}

bool launcher_run(struct launcher *L, char *const argv[], char *const extra_env[], const char *out_path,
		  const char *err_path, struct launched *l)
{
	static char buf[REQ_BYTES];
	struct req_head h = { 0, 0, 0, L->timeout_s };
	size_t len = 0;
	bool ok = true;

	for (; argv[h.nargs] && ok; h.nargs++)
		ok = h.nargs < REQ_ITEMS && put(buf, &len, argv[h.nargs]);
	for (; extra_env && extra_env[h.nenv] && ok; h.nenv++)
		ok = h.nenv < REQ_ITEMS && put(buf, &len, extra_env[h.nenv]);
	ok = ok && h.nargs > 0 && put(buf, &len, out_path ? out_path : "") && put(buf, &len, err_path ? err_path : "");
	if (!ok)
		return false;
	h.bytes = (uint32_t)len;
	return full_io(L->to, &h, sizeof(h), true) && full_io(L->to, buf, len, true) &&
	       full_io(L->from, l, sizeof(*l), false);
}

void launcher_stop(struct launcher *L)
{
	close(L->to);
	close(L->from);
	waitpid(L->pid, NULL, 0);
}
