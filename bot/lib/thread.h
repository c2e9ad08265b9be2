#ifndef VIVA_BOT_LIB_THREAD_H
#define VIVA_BOT_LIB_THREAD_H

#include <pthread.h>
#include <stdbool.h>

/*
 * Scheduling for the calling thread (Linux; best effort, never fatal). The
 * process's nice at thread_sched_init() is the base: threads go back to it,
 * never below it unless asked (lowering needs CAP_SYS_NICE).
 * thread_sched_latency(): a short EEVDF slice (Linux >= 6.12), so the thread
 * preempts busy threads as soon as it wakes instead of waiting up to a full
 * default slice; plus base+nice_delta when permitted, else the base.
 * thread_sched_batch(): SCHED_BATCH at the base nice, for throughput threads
 * that should not preempt on wake-up. thread_sched_realtime(): SCHED_FIFO
 * (needs CAP_SYS_NICE or RLIMIT_RTPRIO). thread_sched_default(): SCHED_OTHER
 * at the base nice and the default slice.
 * All return 0 when applied, -1 (errno set) when the kernel refused.
 */
void thread_sched_init(void);
int thread_sched_latency(unsigned slice_us, int nice_delta);
int thread_sched_batch(void);
int thread_sched_realtime(int prio);
int thread_sched_default(void);
/*
 * pthread_create with SCHED_OTHER set explicitly, so a thread started by a
 * SCHED_FIFO thread does not inherit its policy (nice is still inherited:
 * the new thread calls thread_sched_batch/default). Returns pthread_create's.
 */
int thread_create_normal(pthread_t *t, bool detached, void *(*fn)(void *), void *arg);

#endif
