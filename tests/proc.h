#ifndef VIVA_TESTS_PROC_H
#define VIVA_TESTS_PROC_H

#include <jansson.h>
#include <stdbool.h>
#include <sys/types.h>

/*
 * Processes and HTTP for end-to-end tests: start a program with extra
 * environment variables (its stdout+stderr go to a log file), wait for a
 * line in that log, stop it; call HTTP endpoints on 127.0.0.1.
 * Every wait is bounded.
 */
struct proc {
	pid_t pid;
	char *log;       /* path of the combined output */
	int status;      /* exit status once reaped, -1 before */
	bool reaped;
};

/* argv is NULL-terminated; env is "K=V" strings, NULL-terminated, added to
 * the test's own environment. */
int proc_start(struct proc *p, char *const argv[], char *const env[], const char *log_path);
/*
 * The same, run in directory cwd (NULL: the test's own); with clean_env the
 * program sees only PATH, HOME, the sanitizer options and env: viva as it
 * is installed, with nothing of the repository around it.
 */
int proc_start_in(struct proc *p, const char *cwd, bool clean_env, char *const argv[], char *const env[],
		  const char *log_path);
/* Wait until the log contains `needle` (true) or timeout_ms passes (false). */
bool proc_wait_log(struct proc *p, const char *needle, long timeout_ms);
/* The log so far (caller frees). */
char *proc_log(struct proc *p);
/* Send sig; wait up to timeout_ms for exit; returns the exit code, 128+signal, or -1 on timeout. */
int proc_stop(struct proc *p, int sig, long timeout_ms);
/* Wait for exit without signalling. */
int proc_wait(struct proc *p, long timeout_ms);
/* SIGKILL if still running, reap, free. */
void proc_release(struct proc *p);

/* A free TCP port on 127.0.0.1 (bind to 0, read, close). */
int free_port(void);

/* HTTP: returns the body (caller frees) and sets *status (0 on transport error). */
char *http_get(const char *url, long *status);
char *http_post(const char *url, const char *content_type, const char *body, long *status);
/* GET a body that may hold any bytes: *len is its length. */
char *http_get_n(const char *url, long *status, size_t *len);
/*
 * Send len bytes of a request as they are (any method, headers, body,
 * malformed on purpose) to 127.0.0.1:port and read the answer until the
 * server closes or a whole response (by Content-Length) is in, at most
 * 10 s: returns the body (caller frees; NULL if no answer) and sets
 * *status from the status line (0 if none).
 */
char *http_raw(int port, const char *req, size_t len, long *status);
/* POST JSON text, parse the JSON answer (NULL if none). */
json_t *http_post_json(const char *url, const char *json_text);
json_t *http_get_json(const char *url);

#endif
