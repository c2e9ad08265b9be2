#ifndef VIVA_BOT_METRICS_H
#define VIVA_BOT_METRICS_H

#include <stddef.h>
#include <stdint.h>

/*
 * Process metrics for /metrics (Prometheus text exposition format 0.0.4).
 * Every function is thread-safe and cheap (atomics; the labelled families
 * take a small mutex). Names:
 *   viva_envelopes_total{type}                 envelopes received by type
 *   viva_envelopes_duplicate_total             skipped as already processed
 *   viva_acks_total                            acks written
 *   viva_ack_latency_seconds (histogram)       receive -> ack written
 *   viva_jobs_queued / viva_jobs_running       gauges
 *   viva_jobs_total{result="ok|failed|rejected"}
 *   viva_slack_api_calls_total{method,status}  status = HTTP status or "error"
 *   viva_http_requests_total{client,status}    every outside HTTP exchange (bot/clients/http.c):
 *                                              client = slack, registry, ...
 *   viva_replies_total{kind,result}            answers to users: kind = message|post|view,
 *                                              result = delivered|undelivered
 *   viva_actions_total{outcome}                commands and clicks run: ok, failed, denied,
 *                                              invalid (bad request), duplicate
 *   viva_http_connections_refused_total        endpoint connections hung up on at the cap
 *   viva_reconnects_total
 *   viva_connected                             1 while a Socket Mode link is up
 */
void metrics_envelope(const char *type);
void metrics_duplicate(void);
void metrics_ack(int64_t latency_us);
void metrics_jobs_queued(int delta);
void metrics_jobs_running(int delta);
void metrics_job_done(const char *result);
void metrics_api_call(const char *method, int http_status);   /* 0 = transport error */
void metrics_http_request(const char *client, int http_status); /* 0 = no answer */
/* An answer handed to Slack: rc VIVA_OK "delivered", VIVA_EDEFERRED
 * "deferred" (kept to try again; its end is counted once more, delivered
 * or undelivered), anything else "undelivered". */
void metrics_reply(const char *kind, int rc);
void metrics_action(const char *outcome);
void metrics_reconnect(void);
/* A deploy ended: kind canary | bluegreen | rollback, outcome ok | failed | abandoned, and how long it took. */
void metrics_deploy(const char *kind, const char *outcome, int64_t seconds);
void metrics_http_refused(void);
void metrics_connected(int up);

/* The whole exposition (caller frees). */
char *metrics_render(void);
/* Forget everything (tests). */
void metrics_reset(void);

#endif
