/*
 * Every JSON body latchkeyd reads from agents (register, hello, result),
 * on an in-memory database with one registered instance: whatever the
 * input, the handler answers with a status and a JSON body, never crashes,
 * and never lets a body act for another instance.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "agentd.h"
#include "err.h"
#include "latchkeyd.h"
#include "log.h"
#include "sig.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct lkd_env fuzz_env;
struct lkd_env *lkd = &fuzz_env;
static char fuzz_auth[128];

static void
fuzz_init(void)
{
	struct agentd_act_spec spec = { .count = 1000000, .ttl = 3600 };
	char *id = NULL, *code = NULL, exp[32], body[512], *out = NULL;
	struct agentd_poll poll = { .fd = -1 };
	json_t *v;

	log_init("fuzz", 0, 0);
	if (lkdb_open(":memory:", &lkd->db) != 0 ||
	    agentd_activation_create(&spec, &id, &code, exp,
	    sizeof(exp)) != 0)
		abort();
	snprintf(body, sizeof(body), "{\"activation_id\":\"%s\","
	    "\"activation_code\":\"%s\",\"hostname\":\"h\",\"os\":\"o\","
	    "\"version\":\"1\",\"addresses\":[\"127.0.0.1\"]}", id, code);
	if (agentd_handle("POST", "register", "", NULL, 0, body, strlen(body),
	    &poll, &out) != 200 || (v = json_loads(out, 0, NULL)) == NULL)
		abort();
	snprintf(fuzz_auth, sizeof(fuzz_auth), "Bearer %s.%s",
	    json_string_value(json_object_get(v, "instance_id")),
	    json_string_value(json_object_get(v, "credential")));
	json_decref(v);
	free(out);
	free(id);
	free(code);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const paths[] = { "register", "hello", "result",
	    "poll", "login", "nope" };
	struct lk_sig_header h = { "authorization", fuzz_auth };
	struct agentd_poll poll = { .fd = -1 };
	const char *path;
	char *out = NULL;
	json_t *v;
	int status;

	if (lkd->db == NULL)
		fuzz_init();
	if (size < 1)
		return 0;
	path = paths[data[0] % 6];
	if (strcmp(path, "poll") == 0)
		return 0;	/* parks; covered by the integration tests */
	status = agentd_handle("POST", path, "", &h, 1,
	    (const char *)data + 1, size - 1, &poll, &out);
	if (status < 200 || status > 599 || out == NULL ||
	    (v = json_loads(out, 0, NULL)) == NULL)
		abort();
	json_decref(v);
	free(out);
	return 0;
}
