/*
 * `viva serve`: the event loop thread owns the Slack Socket Mode
 * connection(s) and the HTTP endpoint. It parses each envelope,
 * acknowledges it at once (Slack gives 3 s, and the user sees an error when
 * we are late), and queues a job; worker threads do the work. Nothing on
 * this thread blocks or reads a file: apps.connections.open, DNS and the TLS
 * context (CA files) are the connector thread's, de-duplication runs on the
 * worker, a SIGHUP reload is a job, and answers that must go in an ack
 * (view_submission errors) come back through a mutex-guarded outbox.
 *
 * The files of `viva serve`:
 *   serve.c           this: serve_run (the setup, the loop, the shutdown),
 *                     signals, SIGHUP's reload job, the loop's tick and turn,
 *                     node API requests (bot/httpd.c) queued for a worker
 *   serve_envelope.c  envelopes in: the loop's frame handlers (the scan and
 *                     fast path, the inbox, the ack, the queue)
 *   serve_pool.c      the job pool, and the spill of a backlog to the inbox
 *   serve_job.c       running a job on a worker; "busy" notes to the user;
 *                     view_submission answers and their deadline
 *   serve_replay.c    the durable inbox at start-up: replay, or tell the user
 *   serve_impl.h      what these files share (internal to them)
 */
#include "bot/serve.h"
#include "bot/serve_impl.h"
#include "bot/model/config.h"
#include "bot/lib/err.h"
#include "bot/httpd.h"
#include "handlers/node_api.h"
#include "bot/lib/log.h"
#include "bot/metrics.h"
#include "bot/ops.h"
#include "bot/queue.h"
#include "bot/timers.h"
#include "bot/reload.h"
#include "store/inbox.h"
#include "bot/sched_thread.h"
#include "bot/slack/api.h"
#include "bot/slack/socket.h"
#include "bot/lib/alloc.h"
#include "bot/lib/thread.h"
#include "bot/lib/times.h"

#include <libwebsockets.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <errno.h>
#include <time.h>
#include <unistd.h>

#define TICK_US          (100 * 1000)
#define URGENT_WORKERS   2          /* the urgent lane: forms (trigger_id, response_action) */
#define URGENT_QUEUE     64
#define CLOSE_WAIT_MS    1500       /* Slack may never answer our close frame */
#define DRAIN_MS         25000      /* running jobs get this long at shutdown */
#define LOOP_NICE        (-5)
#define LOOP_SLICE_US    100
#define LOOP_RT_PRIO     1

static volatile sig_atomic_t got_stop;
static volatile sig_atomic_t got_hup;
static struct lws_context *signal_ctx;

static void on_signal(int sig)
{
	if (sig == SIGHUP)
		got_hup = 1;
	else
		got_stop = 1;
	if (signal_ctx)
		lws_cancel_service(signal_ctx);
}

/*
 * The loop acks; it should run the moment a frame arrives, not after a busy
 * thread's slice. realtime: SCHED_FIFO (the loop never spins; what it does
 * per frame is bounded), which needs CAP_SYS_NICE. normal, or realtime
 * refused: a short EEVDF slice (Linux >= 6.12) and nice -5 where permitted.
 * Called after the connector and scheduler threads are started; threads the
 * loop starts later (workers, busy notes) are created SCHED_OTHER and go
 * back to the base nice themselves.
 */
static void apply_loop_priority(const char *want)
{
	if (want && strcmp(want, "realtime") == 0) {
		if (thread_sched_realtime(LOOP_RT_PRIO) == 0) {
			log_info("event loop scheduling", "policy=SCHED_FIFO priority=%d", LOOP_RT_PRIO);
			return;
		}
		log_warn("loop_priority realtime refused; running at normal priority",
			 "errno=%d hint=\"needs CAP_SYS_NICE\"", errno);
	}
	if (thread_sched_latency(LOOP_SLICE_US, LOOP_NICE) != 0)
		log_debug("event loop scheduling hint refused", "errno=%d", errno);
}

/* ---- the loop's own work: results from other threads, timers ------------ */

/* The loop's turn: Slack links first (a fatal answer stops viva), then acks. */
static void loop_turn(struct serve *s)
{
	if (got_stop)
		s->stopping = true;
	sm_poll(s->sm);
	if (sm_fatal(s->sm)) {
		s->exit_code = 1;
		s->stopping = true;
	}
	serve_drain_outbox(s);
}

/* hooks.wake: another thread has news (connector result, view answer, signal). */
static void on_wake(void *user)
{
	struct serve *s = user;

	if (!s->done)
		loop_turn(s);
}

/* hooks.health */
static void on_health(void *user, bool up, const char *reason)
{
	struct serve *s = user;

	if (s->http)
		http_server_set_health(s->http, up, reason);
}

static void begin_stop(struct serve *s)
{
	if (s->stop_deadline_ms)
		return;
	s->stopping = true;
	s->stop_deadline_ms = now_ms_mono() + CLOSE_WAIT_MS;
	log_info("shutting down", "queued=%zu running=%d", queue_length(s->q), queue_running(s->q));
	sm_close_all(s->sm);
}

/*
 * SIGHUP: re-read templates and specs. That reads files and parses, so it
 * is a job like any other and the loop only queues it; signals that come
 * while one is queued or running fold into it. A full queue leaves the
 * signal pending for the next tick.
 */
static void reload_job_run(void *arg)
{
	struct serve *s = arg;
	struct reload_report rep;

	reload_all(s->env, "sighup", &rep);
	metrics_job_done(rep.error[0] ? "failed" : "ok");
	atomic_store(&s->reload_busy, false);
}

static void reload_job_drop(void *arg)
{
	struct serve *s = arg;

	atomic_store(&s->reload_busy, false);
}

static void queue_reload(struct serve *s)
{
	if (atomic_exchange(&s->reload_busy, true))
		return;   /* one is queued or running; got_hup stays set for after it */
	got_hup = 0;
	s->reload_job.run = reload_job_run;
	s->reload_job.drop = reload_job_drop;
	s->reload_job.arg = s;
	if (queue_push(s->q, &s->reload_job) != VIVA_OK) {
		atomic_store(&s->reload_busy, false);
		got_hup = 1;
		log_warn("reload postponed: the queue is full", "queued=%zu", queue_length(s->q));
	} else {
		log_info("reload queued", "why=SIGHUP");
	}
}

static void tick(lws_sorted_usec_list_t *sul)
{
	struct serve *s = lws_container_of(sul, struct serve, sul_tick);
	int64_t now = now_ms_mono();

	if (got_hup && !s->stopping && !got_stop)
		queue_reload(s);
	loop_turn(s);
	if (s->stopping) {
		begin_stop(s);
		/* Closing sockets still flush their last acks and the close frame. */
		if (!sm_any_open(s->sm) || now >= s->stop_deadline_ms) {
			s->done = true;
			lws_cancel_service(s->lws);
			return;
		}
	}
	lws_sul_schedule(s->lws, 0, &s->sul_tick, tick, TICK_US);
}

/* Tests only: VIVA_DEBUG_OPS_TOY=KIND:TARGET:DIR:SLEEP_MS starts a toy operation. */
static void debug_toy(struct serve *s)
{
	const char *v = getenv("VIVA_DEBUG_OPS_TOY");
	char kind[32], target[64], dir[512];
	long ms = 0;
	char why[512];
	json_t *data;
	struct op_request rq = { .user = "viva-debug" };

	if (!v || sscanf(v, "%31[^:]:%63[^:]:%511[^:]:%ld", kind, target, dir, &ms) != 4 ||
	    !(rq.kind = op_kind_lookup(kind)))
		return;
	data = json_pack("{s:s, s:I}", "dir", dir, "sleep_ms", (json_int_t)ms);
	rq.target = target;
	rq.data = data;
	if (ops_submit(s->env, &rq, NULL, why, sizeof(why)) != VIVA_OK)
		log_warn("debug toy operation not started", "why=\"%s\"", why);
	json_decref(data);
}

/* libwebsockets' own log lines, into ours. */
static void lws_log(int level, const char *line)
{
	size_t n = strlen(line);
	char buf[512];

	snprintf(buf, sizeof(buf), "%.*s", (int)(n && line[n - 1] == '\n' ? n - 1 : n), line);
	if (level & LLL_ERR)
		log_warn("libwebsockets", "line=\"%s\"", buf);
	else
		log_debug("libwebsockets", "line=\"%s\"", buf);
}

/*
 * The last worker retired after a minute without work. A burst leaves curl
 * handles with open connections in the pool and freed memory in the malloc
 * arenas (the retired threads' caches went back to them): close the idle
 * handles and hand the free heap pages back to the kernel. Calls still
 * running (the connector, a "busy" note) keep their handles. Cheap, and at
 * most once per idle period.
 */
static void workers_idle(void *arg)
{
	struct serve *s = arg;

	slack_api_thread_cleanup();
	malloc_trim(0);
	log_debug("workers idle; curl pool and heap trimmed", "queued=%zu", queue_length(s->q));
}

/* ---- the node API: requests under /v1/ run on a worker ------------------- */

static void api_job_run(void *arg)
{
	struct http_request *req = arg;
	struct serve *s = req->user;

	node_api_serve(s->env, req);
}

static void api_job_drop(void *arg)
{
	http_request_drop(arg);
}

/* http_server_set_api's route, on the loop: queue it, never wait. */
static int api_route(void *user, struct http_request *req)
{
	struct serve *s = user;

	req->job.run = api_job_run;
	req->job.drop = api_job_drop;
	req->job.arg = req;
	return queue_push(s->q, &req->job);
}

/*
 * Descriptors: the soft limit goes up to the hard one (systemd and
 * containers often start at 1024), so that outside calls and the HTTP
 * endpoint never starve the Slack link; lws itself is held to FD_LIMIT_LWS.
 */
#define FD_LIMIT_LWS 4096

static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rlim_t was = rl.rlim_cur;

		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
			log_info("descriptor limit raised", "from=%llu to=%llu", (unsigned long long)was,
				 (unsigned long long)rl.rlim_max);
	}
}

/*
 * A wrong bot token would only show when the first answer fails: check it
 * once at start. Slack being unreachable is not fatal (we retry later).
 */
static int check_bot_token(struct viva_env *env)
{
	json_t *args = json_object(), *resp = NULL;
	int rc = slack_call(env->slack, "auth.test", args, &resp);

	if (rc == VIVA_EREMOTE && slack_error_is_fatal(slack_error(resp))) {
		fprintf(stderr, "viva: Slack refused SLACK_BOT_TOKEN (auth.test: %s): check the bot token "
			"(xoxb-...) of the installed app\n", slack_error(resp));
	} else {
		if (rc != VIVA_OK)
			log_warn("auth.test failed; going on", "err=%s", resp ? slack_error(resp) : viva_strerror(rc));
		else
			log_info("bot token ok", "team=%s user_id=%s",
				 json_string_value(json_object_get(resp, "team")) ?
				 json_string_value(json_object_get(resp, "team")) : "",
				 json_string_value(json_object_get(resp, "user_id")) ?
				 json_string_value(json_object_get(resp, "user_id")) : "");
		rc = VIVA_OK;
	}
	json_decref(args);
	json_decref(resp);
	return rc;
}

int serve_run(struct viva_env *env)
{
	struct lws_context_creation_info info;
	struct serve *s = NULL;
	struct sched_thread *sched = NULL;
	const struct viva_config *cfg = env->cfg;
	struct sigaction sa;
	int rc = 1;

	if (!cfg->slack_app_token || !*cfg->slack_app_token) {
		fprintf(stderr, "viva: SLACK_APP_TOKEN is not set (xapp-..., see README: Install the Slack app)\n");
		return 1;
	}
	if (!cfg->slack_bot_token || !*cfg->slack_bot_token) {
		fprintf(stderr, "viva: SLACK_BOT_TOKEN is not set (xoxb-..., see README: Install the Slack app)\n");
		return 1;
	}
	/* Workers are many but short-lived in what they allocate: a few shared
	 * malloc arenas keep the peak resident size down (glibc makes up to
	 * 8 per core otherwise). */
	mallopt(M_ARENA_MAX, 2);
	thread_sched_init();   /* the nice viva was started with is the base */
	srand((unsigned)(sm_now_us() ^ getpid()));
	s = xcalloc(1, sizeof(*s));
	s->env = env;
	{
		pthread_mutexattr_t ma;

		/* the SCHED_FIFO loop and SCHED_BATCH workers share it: a worker
		 * holding it runs at the loop's priority until it lets go */
		pthread_mutexattr_init(&ma);
		pthread_mutexattr_setprotocol(&ma, PTHREAD_PRIO_INHERIT);
		pthread_mutex_init(&s->mu, &ma);
		pthread_mutexattr_destroy(&ma);
	}
	env->slack = slack_api_new(cfg->slack_api_base, cfg->slack_bot_token, cfg->slack_app_token);
	if (!env->slack) {
		fprintf(stderr, "viva: cannot set up the Slack Web API client (SLACK_API_BASE)\n");
		goto out;
	}
	if (check_bot_token(env) != VIVA_OK)
		goto out;

	lws_set_log_level(LLL_ERR | LLL_WARN, lws_log);
	raise_fd_limit();
	memset(&info, 0, sizeof(info));
	/* lws sizes its tables by this; the process limit may be huge */
	info.fd_limit_per_thread = FD_LIMIT_LWS;
	/* DO_SSL_GLOBAL_INIT here only initialises OpenSSL and lws's ex_data
	 * indexes, which a TLS vhost added later relies on; it loads no
	 * certificate. */
	info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS | LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	info.user = s;
	s->lws = lws_create_context(&info);
	if (!s->lws) {
		fprintf(stderr, "viva: cannot create the event loop (libwebsockets)\n");
		goto out;
	}
	{
		static const struct sm_hooks hooks = { .frame = serve_on_message, .wake = on_wake,
						       .health = on_health };
		if (sm_new(s->lws, env->slack, &hooks, s, &s->sm) != VIVA_OK)
			goto out;
	}
	if (cfg->http_listen) {
		char err[256];
		if (http_server_start(s->lws, env, cfg->http_listen, cfg->http_max_connections, &s->http, err,
				      sizeof(err)) != VIVA_OK) {
			fprintf(stderr, "viva: VIVA_HTTP_LISTEN=%s: %s\n", cfg->http_listen, err);
			goto out;
		}
	}
	s->q = queue_new((size_t)cfg->queue_size);
	if (s->http)
		http_server_set_api(s->http, cfg->node_token, api_route, s);
	serve_job_pool_init();
	queue_on_idle(s->q, workers_idle, s);
	if (queue_start_workers(s->q, cfg->workers) != VIVA_OK)
		goto out;
	s->urgent = queue_new(URGENT_QUEUE);
	queue_start_workers(s->urgent, URGENT_WORKERS);
	env->timers = timers_new(s->q);
	if (!env->timers) {
		fprintf(stderr, "viva: cannot start the timer thread\n");
		goto out;
	}
	/* the durable inbox: its own connection for the loop, then what a
	 * previous process acked and did not finish */
	if (strcmp(cfg->db_path, ":memory:") == 0) {
		log_warn("VIVA_DB is :memory:: acked requests do not survive a restart", "db=:memory:");
	} else if (inbox_open(cfg->db_path, &s->inbox) != VIVA_OK) {
		fprintf(stderr, "viva: cannot open the inbox in VIVA_DB=%s (see the log line above)\n", cfg->db_path);
		goto out;
	}
	if (s->inbox)
		serve_recover_inbox(s);
	serve_recover_answers(s);
	/* durable operations: their own pool; what a gone process held goes on */
	if (ops_new(env, cfg->operation_workers, &env->ops) != VIVA_OK) {
		fprintf(stderr, "viva: cannot start the operation pool\n");
		goto out;
	}
	ops_resume(env->ops);
	debug_toy(s);
	if (sched_thread_start(env, s->q, &sched) != VIVA_OK)
		goto out;

	signal_ctx = s->lws;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	/* The loop acks; it goes first when the machine is busy (root or
	 * CAP_SYS_NICE only; workers are lowered in bot/queue.c either way). */
	apply_loop_priority(cfg->loop_priority);
	log_info("viva starting", "workers=%d queue=%d http=%s", cfg->workers, cfg->queue_size,
		 cfg->http_listen ? cfg->http_listen : "off");
	sm_connect(s->sm);
	lws_sul_schedule(s->lws, 0, &s->sul_tick, tick, TICK_US);
	while (!s->done) {
		if (lws_service(s->lws, 0) < 0)
			break;
	}
	rc = s->exit_code;
out:
	/* Stop taking work, let what is queued and running finish (bounded). */
	if (s->lws)
		lws_sul_cancel(&s->sul_tick);
	sched_thread_stop(sched);
	/* answers still waiting to be tried again stay in the store for the
	 * next start (those it could not keep are given up and counted):
	 * nothing may push onto the queue once it closes */
	timers_stop(env->timers);
	if (s->urgent)
		queue_close(s->urgent);
	if (s->q) {
		queue_close(s->q);
		if (queue_join(s->q, DRAIN_MS) != VIVA_OK ||
		    (s->urgent && queue_join(s->urgent, DRAIN_MS) != VIVA_OK)) {
			/* A job still runs and uses the store, the Web API client and
			 * this struct: freeing them under it would crash. Leave now. */
			log_error("jobs still running after the drain time; exiting without cleanup",
				  "drain_ms=%d", DRAIN_MS);
			_exit(1);
		}
		queue_free(s->q);
	}
	queue_free(s->urgent);
	ops_free(env->ops);   /* its jobs use the Web API client: before it goes */
	env->ops = NULL;
	timers_free(env->timers);
	env->timers = NULL;
	serve_job_pool_release();
	/* "viva is busy" notes in flight use the Web API client: let them end. */
	for (int i = 0; i < 500 && atomic_load(&s->busy_notifiers) > 0; i++) {
		struct timespec ts = { 0, 10 * 1000000L };
		nanosleep(&ts, NULL);
	}
	if (atomic_load(&s->busy_notifiers) > 0)
		_exit(1);
	sm_shutdown(s->sm);
	inbox_close(s->inbox);
	signal_ctx = NULL;
	if (s->lws)
		lws_context_destroy(s->lws);
	sm_free(s->sm);   /* after the vhost that borrowed its TLS context */
	http_server_free(s->http);   /* lws calls it back until its context is gone */
	for (size_t i = 0; i < s->nview_acks; i++) {
		json_decref(s->view_acks[i].payload);
		free(s->view_acks[i].envelope_id);
	}
	free(s->view_acks);
	slack_api_free(env->slack);
	env->slack = NULL;
	pthread_mutex_destroy(&s->mu);
	free(s);
	log_info("viva stopped", "exit=%d", rc);
	return rc;
}
