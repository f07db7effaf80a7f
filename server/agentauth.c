/*
 * An agent's credential (docs/agent-protocol.md): the instance id and the
 * secret issued at registration, stored as SHA-256 only. Used by the
 * agents' endpoints (agentd.c) and the relay's dial-back (relay.c).
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agentauth.h"
#include "err.h"
#include "sig.h"
#include "store.h"

/*
 * Credentials verified lately, so that an idle agent's polls (one every
 * 25 s) cost the database nothing: a slot per instance id's hash holding
 * the id and its credential's SHA-256, trusted for AGENTAUTH_CACHE_SEC.
 * A credential never changes for an instance (registering again makes a
 * new instance), so the only staleness is that of a deregistered
 * instance: the replica that deregisters it forgets it here at once; on
 * another replica its cached credential still passes for at most that
 * long, but its polls are refused all the same (store_agent_take finds
 * the instance gone, and the deregistration wakes them), no task can be
 * created for it, and its results change nothing (its tasks have failed).
 * Failures are never kept: a wrong credential always reaches the
 * database.
 */
#define AGENTAUTH_CACHE_SLOTS	16384
#define AGENTAUTH_CACHE_SEC	300
#define AGENTAUTH_ID_MAX	64

struct agentauth_slot {
	char		id[AGENTAUTH_ID_MAX];
	char		hash[LK_SIG_V3_SIZE];
	int64_t		until;		/* monotonic seconds */
};

static pthread_mutex_t agentauth_lock = PTHREAD_MUTEX_INITIALIZER;
static struct agentauth_slot *agentauth_cache;

static int64_t
agentauth_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec;
}

static size_t
agentauth_slot_of(const char *id)
{
	uint32_t h = 2166136261u;		/* FNV-1a */

	for (; *id != '\0'; id++)
		h = (h ^ (unsigned char)*id) * 16777619u;
	return h % AGENTAUTH_CACHE_SLOTS;
}

/* Whether hash is id's credential as verified in the last minute. */
static int
agentauth_cached(const char *id, const char *hash)
{
	struct agentauth_slot *e;
	int ok = 0;

	pthread_mutex_lock(&agentauth_lock);
	if (agentauth_cache != NULL) {
		e = &agentauth_cache[agentauth_slot_of(id)];
		ok = e->until > agentauth_mono() && strcmp(e->id, id) == 0 &&
		    lk_sig_equal(e->hash, hash);
	}
	pthread_mutex_unlock(&agentauth_lock);
	return ok;
}

static void
agentauth_remember(const char *id, const char *hash)
{
	struct agentauth_slot *e;

	if (strlen(id) >= AGENTAUTH_ID_MAX)
		return;
	pthread_mutex_lock(&agentauth_lock);
	if (agentauth_cache == NULL)
		agentauth_cache = calloc(AGENTAUTH_CACHE_SLOTS,
		    sizeof(*agentauth_cache));
	if (agentauth_cache != NULL) {
		e = &agentauth_cache[agentauth_slot_of(id)];
		snprintf(e->id, sizeof(e->id), "%s", id);
		snprintf(e->hash, sizeof(e->hash), "%s", hash);
		e->until = agentauth_mono() + AGENTAUTH_CACHE_SEC;
	}
	pthread_mutex_unlock(&agentauth_lock);
}

/*
 * "Bearer <instance>.<credential>" → the instance id in id. 0 when the
 * credential is the instance's, LK_ERR_NOT_FOUND when it is not (or the
 * header is missing or malformed), LK_ERR_UNAVAILABLE when the database
 * cannot say.
 */
void
agentauth_forget(const char *id)
{
	struct agentauth_slot *e;

	pthread_mutex_lock(&agentauth_lock);
	if (agentauth_cache != NULL) {
		e = &agentauth_cache[agentauth_slot_of(id)];
		if (strcmp(e->id, id) == 0)
			memset(e, 0, sizeof(*e));
	}
	pthread_mutex_unlock(&agentauth_lock);
}

/*
 * hash is not the credential of a registered instance id: LK_ERR_STATE
 * when it was that of instance id before it went, else LK_ERR_NOT_FOUND.
 */
static int
agentauth_gone(const char *id, const char *hash)
{
	char *want = NULL, *reason = NULL;
	int r;

	if ((r = store_agent_gone(id, &want, &reason)) != 0)
		return r == LK_ERR_UNAVAILABLE ? r : LK_ERR_NOT_FOUND;
	r = lk_sig_equal(hash, want) ? LK_ERR_STATE : LK_ERR_NOT_FOUND;
	free(want);
	free(reason);
	return r;
}

int
agentauth_verify(const struct lk_sig_header *h, size_t nh, char *id,
    size_t idsize)
{
	const char *auth = NULL, *dot;
	char hash[LK_SIG_V3_SIZE], *want = NULL;
	size_t i;
	int r;

	for (i = 0; i < nh; i++)
		if (strcmp(h[i].name, "authorization") == 0)
			auth = h[i].value;
	if (auth == NULL || strncmp(auth, "Bearer ", 7) != 0 ||
	    (dot = strchr(auth + 7, '.')) == NULL ||
	    (size_t)(dot - auth - 7) >= idsize)
		return LK_ERR_NOT_FOUND;
	memcpy(id, auth + 7, (size_t)(dot - auth - 7));
	id[dot - auth - 7] = '\0';
	if ((r = lk_sig_sha256_hex(dot + 1, strlen(dot + 1), hash)) != 0)
		return LK_ERR_NOT_FOUND;
	if (agentauth_cached(id, hash))
		return 0;
	if ((r = store_agent_cred(id, &want)) != 0)
		return r == LK_ERR_NOT_FOUND ? agentauth_gone(id, hash) :
		    r == LK_ERR_UNAVAILABLE ? r : LK_ERR_NOT_FOUND;
	r = lk_sig_equal(hash, want) ? 0 : LK_ERR_NOT_FOUND;
	free(want);
	if (r == 0)
		agentauth_remember(id, hash);
	return r;
}

int
agentauth_check(const struct lk_sig_header *h, size_t nh, char *id,
    size_t idsize)
{
	return agentauth_verify(h, nh, id, idsize) == 0;
}
