/*
 * The worker pool (work.h): a FIFO of jobs under one mutex and condition
 * variable, served by a fixed set of threads. The queue is bounded
 * (WORK_QUEUE_MAX): when it is full the caller answers "busy" at once
 * instead of letting a flood grow memory and latency without limit.
 */
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "err.h"
#include "work.h"

#define WORK_THREADS_MAX	64
#define WORK_QUEUE_MAX		65536	/* jobs waiting for a thread */
#define WORK_STACK_SIZE		(256 * 1024)

struct work_item {
	void			*job;
	struct work_item	*next;
};

static pthread_mutex_t work_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t work_cond = PTHREAD_COND_INITIALIZER;
static struct work_item *work_head, *work_tail, *work_free_list;
static size_t work_nqueued, work_nthreads;
static pthread_t work_threads[WORK_THREADS_MAX];
static work_fn work_run;
static int work_stopping, work_started;

static void *
work_main(void *arg)
{
	struct work_item *it;
	void *job;

	(void)arg;
	pthread_mutex_lock(&work_lock);
	for (;;) {
		while (work_head == NULL && !work_stopping)
			pthread_cond_wait(&work_cond, &work_lock);
		if ((it = work_head) == NULL)
			break;		/* stopping, and nothing left */
		if ((work_head = it->next) == NULL)
			work_tail = NULL;
		work_nqueued--;
		job = it->job;
		it->next = work_free_list;	/* items are reused */
		work_free_list = it;
		pthread_mutex_unlock(&work_lock);
		work_run(job);
		pthread_mutex_lock(&work_lock);
	}
	pthread_mutex_unlock(&work_lock);
	return NULL;
}

size_t
work_default_threads(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	/*
	 * Handlers mostly wait (the database, a password hash), so more
	 * threads than cores; a few of them may be busy hashing passwords
	 * (at most one per core, console_auth.c) while the rest serve
	 * everybody else.
	 */
	if (n < 1)
		n = 1;
	if (n > 16)
		n = 16;
	return (size_t)(2 * n + 6);
}

int
work_start(size_t n, work_fn fn)
{
	pthread_attr_t attr;
	size_t i;

	if (n == 0 || n > WORK_THREADS_MAX || work_started)
		return LK_ERR_RANGE;
	work_run = fn;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, WORK_STACK_SIZE);
	for (i = 0; i < n; i++)
		if (pthread_create(&work_threads[i], &attr, work_main,
		    NULL) != 0)
			break;
	pthread_attr_destroy(&attr);
	work_nthreads = i;
	work_started = 1;
	if (i < n) {
		work_stop();
		return LK_ERR_SYSTEM;
	}
	return 0;
}

int
work_push(void *job)
{
	struct work_item *it;

	pthread_mutex_lock(&work_lock);
	if (work_stopping || !work_started ||
	    work_nqueued >= WORK_QUEUE_MAX) {
		pthread_mutex_unlock(&work_lock);
		return LK_ERR_BUSY;
	}
	if ((it = work_free_list) != NULL)
		work_free_list = it->next;
	else if ((it = malloc(sizeof(*it))) == NULL) {
		pthread_mutex_unlock(&work_lock);
		return LK_ERR_ALLOC;
	}
	it->job = job;
	it->next = NULL;
	if (work_tail != NULL)
		work_tail->next = it;
	else
		work_head = it;
	work_tail = it;
	work_nqueued++;
	pthread_cond_signal(&work_cond);
	pthread_mutex_unlock(&work_lock);
	return 0;
}

void
work_stop(void)
{
	struct work_item *it;
	size_t i;

	pthread_mutex_lock(&work_lock);
	work_stopping = 1;
	pthread_cond_broadcast(&work_cond);
	pthread_mutex_unlock(&work_lock);
	for (i = 0; i < work_nthreads; i++)
		pthread_join(work_threads[i], NULL);
	work_nthreads = 0;
	while ((it = work_free_list) != NULL) {
		work_free_list = it->next;
		free(it);
	}
}
