/* Thread scheduling hints (see thread.h). */
#include "bot/lib/thread.h"

#include <errno.h>
#include <stdint.h>
#include <sched.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

/* glibc 2.36 has no sched_setattr wrapper; this is the kernel's ABI
 * (include/uapi/linux/sched/types.h, SCHED_ATTR_SIZE_VER0). */
struct viva_sched_attr {
	uint32_t size;
	uint32_t sched_policy;
	uint64_t sched_flags;
	int32_t sched_nice;
	uint32_t sched_priority;
	uint64_t sched_runtime;  /* SCHED_OTHER: the requested slice, ns */
	uint64_t sched_deadline;
	uint64_t sched_period;
};

static int set_sched(unsigned policy, int nice, uint64_t runtime_ns)
{
#ifdef SYS_sched_setattr
	struct viva_sched_attr a;

	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	a.sched_policy = policy;
	a.sched_nice = nice;
	a.sched_runtime = runtime_ns;
	return (int)syscall(SYS_sched_setattr, 0, &a, 0);
#else
	(void)policy; (void)nice; (void)runtime_ns;
	errno = ENOSYS;
	return -1;
#endif
}

static int base_nice;

void thread_sched_init(void)
{
	errno = 0;
	base_nice = getpriority(PRIO_PROCESS, 0);
	if (errno)
		base_nice = 0;
}

int thread_sched_latency(unsigned slice_us, int nice_delta)
{
	int want = base_nice + nice_delta;

	if (want < -20)
		want = -20;
	/* A lower nice needs CAP_SYS_NICE; without it keep the slice alone. */
	if (set_sched(SCHED_OTHER, want, (uint64_t)slice_us * 1000) == 0)
		return 0;
	return set_sched(SCHED_OTHER, base_nice, (uint64_t)slice_us * 1000);
}

int thread_sched_batch(void)
{
	return set_sched(SCHED_BATCH, base_nice, 0);
}

int thread_sched_realtime(int prio)
{
	struct sched_param sp = { .sched_priority = prio };

	return sched_setscheduler(0, SCHED_FIFO, &sp);
}

int thread_sched_default(void)
{
	return set_sched(SCHED_OTHER, base_nice, 0);
}

int thread_create_normal(pthread_t *t, bool detached, void *(*fn)(void *), void *arg)
{
	pthread_attr_t attr;
	struct sched_param sp = { .sched_priority = 0 };
	int rc;

	pthread_attr_init(&attr);
	pthread_attr_setinheritsched(&attr, PTHREAD_EXPLICIT_SCHED);
	pthread_attr_setschedpolicy(&attr, SCHED_OTHER);
	pthread_attr_setschedparam(&attr, &sp);
	if (detached)
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	rc = pthread_create(t, &attr, fn, arg);
	pthread_attr_destroy(&attr);
	return rc;
}
