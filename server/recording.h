/*
 * Shell sessions' recordings (docs/sessions.md, "Recording"): the agent's
 * upload, checked and stored with the session's record.
 */
#ifndef LK_SERVER_RECORDING_H
#define LK_SERVER_RECORDING_H

#include <stddef.h>
#include <stdint.h>

/* --recording-max: the largest upload taken (the body's limit too). */
extern uint64_t recording_max;

/* Is path (the request's, from "/") an upload, whose body may be larger? */
int	recording_is_upload(const char *path);

/*
 * POST /agent/v1/recording/<session>[?truncated=1] from instance's agent
 * (authenticated): rest is what follows "recording/". Returns the HTTP
 * status with the JSON answer in *outp: 200 stored (or already stored),
 * 400 not a session id or not asciicast v2, 404 not a shell session of
 * this instance, 413 over --recording-max, 503 the database.
 */
int	recording_upload(const char *instance, const char *rest,
	    const char *query, const char *body, size_t bodylen, char **outp);

#endif
