/*
 * `viva serve`'s job pool (struct env_job in serve_impl.h): fixed-size slots
 * the loop takes without a malloc and any worker gives back, the malloc
 * fallback, and the spill of a backlog to the durable inbox (a job that
 * keeps only its ids when the pool is full).
 */
#include "bot/serve_impl.h"
#include "bot/lib/alloc.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/*
 * Fixed-size slots, taken only by the loop and given back by any worker:
 * a bitmap the loop sets and workers clear (atomically), so neither side
 * ever waits. The memory is reserved at start and touched as slots are
 * first used. Frames that do not fit, or a full pool, fall back to malloc.
 */
#define JOB_SLOT_SIZE   4096
#define JOB_SLOTS       256
#define JOB_POOL_WORDS  (JOB_SLOTS / 64)

static unsigned char *job_pool;
static atomic_uint_fast64_t job_pool_used[JOB_POOL_WORDS];

/* Under AddressSanitizer a free slot is poisoned, so a job used after it was
 * dropped is caught as it would be with malloc. */
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define SLOT_POISON(p)   ASAN_POISON_MEMORY_REGION((p), JOB_SLOT_SIZE)
#define SLOT_UNPOISON(p) ASAN_UNPOISON_MEMORY_REGION((p), JOB_SLOT_SIZE)
#else
#define SLOT_POISON(p)   ((void)(p))
#define SLOT_UNPOISON(p) ((void)(p))
#endif

void serve_job_pool_init(void)
{
	/* large: calloc maps it, pages are touched as slots are first used */
	job_pool = xcalloc(JOB_SLOTS, JOB_SLOT_SIZE);
	for (int i = 0; i < JOB_SLOTS; i++)
		SLOT_POISON(job_pool + (size_t)i * JOB_SLOT_SIZE);
}

void serve_job_pool_release(void)
{
	if (job_pool)
		for (int i = 0; i < JOB_SLOTS; i++)
			SLOT_UNPOISON(job_pool + (size_t)i * JOB_SLOT_SIZE);
	free(job_pool);   /* every job has run or been dropped */
	job_pool = NULL;
}

/*
 * may_spill: the frame is in the durable inbox already. When the pool is
 * full (a backlog: the workers are behind), the job then keeps only its ids
 * and the worker reads the frame back from the inbox with its "started"
 * mark (store_inbox_started_frame: one statement, as before). A backlog of
 * thousands then holds ~250 bytes a job instead of ~1.3 KB: in
 * bench/run.sh, where the workers fall behind on a busy 2-CPU machine, the
 * peak RSS was ~4 MB lower and the backlog drained no slower.
 */
struct env_job *serve_job_alloc(struct serve *s, size_t text_len, bool may_spill)
{
	size_t need = sizeof(struct env_job) + text_len + 1;
	struct env_job *j = NULL;
	int slot = -1;

	if (job_pool && need <= JOB_SLOT_SIZE)
		for (int w = 0; w < JOB_POOL_WORDS && slot < 0; w++) {
			uint_fast64_t used = atomic_load(&job_pool_used[w]);
			if (~used == 0)
				continue;
			int b = __builtin_ctzll((unsigned long long)~used);
			atomic_fetch_or(&job_pool_used[w], (uint_fast64_t)1 << b);
			slot = w * 64 + b;
		}
	if (slot >= 0) {
		j = (struct env_job *)(job_pool + (size_t)slot * JOB_SLOT_SIZE);
		SLOT_UNPOISON(j);
		memset(j, 0, sizeof(*j));
	} else if (may_spill) {
		j = xcalloc(1, sizeof(*j) + 1);
		j->spilled = true;
	} else {
		j = xcalloc(1, need);
	}
	j->s = s;
	j->slot = slot;
	j->len = j->spilled ? 0 : text_len;
	return j;
}

void serve_env_job_drop(void *arg)
{
	struct env_job *j = arg;
	int slot = j->slot;

	json_decref(j->payload);
	if (slot < 0) {
		free(j);
		return;
	}
	SLOT_POISON(j);   /* before the slot can be handed out again */
	atomic_fetch_and(&job_pool_used[slot / 64], ~((uint_fast64_t)1 << (slot % 64)));
}
