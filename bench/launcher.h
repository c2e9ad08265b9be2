#ifndef VIVA_BENCH_LAUNCHER_H
#define VIVA_BENCH_LAUNCHER_H

/*
 * A small process that starts the programs a benchmark measures and reports
 * each one's wall time and peak RSS.
 *
 * Why: peak RSS is wait4's ru_maxrss of the child, which Linux seeds at exec
 * with the high-water RSS of the memory image exec replaces, that is of the
 * forked copy of whoever forked it. Forked from a benchmark that holds a
 * fake API server and thousands of objects, a program would "peak" at the
 * benchmark's size. So the benchmark forks this launcher first thing in
 * main, while it is still small and has no thread, and has it fork every
 * measured run; the launcher's own peak (floor_kb) is the floor under which
 * no figure can go.
 *
 * One run at a time: launcher_run() blocks until the program exited.
 */
#include <stdbool.h>
#include <sys/types.h>

struct launcher {
	pid_t pid;
	int to, from;         /* our ends of its pipes */
	unsigned timeout_s;   /* > 0: a run still going after this long gets SIGALRM (status 128 + 14) */
};

/* What the launcher sends back for one run. */
struct launched {
	double t_start_ms;    /* CLOCK_MONOTONIC just before fork (launcher_now_ms's clock) */
	double t_end_ms;      /* ... once wait4 returned */
	double wall_ms;       /* t_end_ms - t_start_ms */
	double cpu_ms;        /* the program's user + system CPU time */
	long rss_kb;          /* the program's ru_maxrss */
	long floor_kb;        /* the launcher's own ru_maxrss */
	int status;           /* exit code, 128 + signal, or -1 when it could not start */
};

/* CLOCK_MONOTONIC in ms: the same clock in every process of the machine. */
double launcher_now_ms(void);

/*
 * Fork the launcher now, before the benchmark grows. Every run starts in
 * dir with the environment env (NULL-terminated; copied by the fork).
 * L->timeout_s starts at 0 (no limit).
 */
bool launcher_start(struct launcher *L, const char *dir, char *const env[]);

/*
 * Run argv (argv[0] an absolute path; NULL-terminated) with extra_env
 * ("NAME=value" entries added to the launcher's environment; NULL or
 * NULL-terminated). Its stdout goes to out_path (truncated; NULL:
 * /dev/null), its stderr is appended to err_path (NULL: /dev/null); both
 * absolute paths. Everything must fit in 16 KB. false when the launcher is
 * gone or the request does not fit; l->status -1 when the program did not
 * start.
 */
bool launcher_run(struct launcher *L, char *const argv[], char *const extra_env[], const char *out_path,
		  const char *err_path, struct launched *l);

/* Close its pipes and wait for it. */
void launcher_stop(struct launcher *L);

#endif
