# latchkey: one Makefile for every program, test and benchmark.
#
#   make            build every program into build/bin/
#   make test       install dependencies, then run the whole suite twice:
#                   a normal build and an ASan+UBSan build, plus fuzzers
#   make demo       push a key, log in with a real sshd, watch it expire
#   make demo-ha    the same through HAProxy and three replicas, one killed
#   make bench      run the benchmarks and print their figures
#   make install    PREFIX=/usr/local DESTDIR=

PREFIX		?= /usr/local
DESTDIR		?=
BINDIR		 = $(PREFIX)/bin
SBINDIR		 = $(PREFIX)/sbin
LIBEXECDIR	 = $(PREFIX)/libexec/latchkey
PLUGINDIR	 = $(PREFIX)/lib/latchkey/plugins
MANDIR		 = $(PREFIX)/share/man
SYSCONFDIR	?= /etc

CC		?= cc
SANITIZE	?= 0
ifeq ($(SANITIZE),1)
BUILD		?= build-asan
SANFLAGS	 = -fsanitize=address,undefined -fno-sanitize-recover=all \
		   -fno-omit-frame-pointer
else
BUILD		?= build
SANFLAGS	 =
endif

WARNINGS	 = -Wall -Wextra -Wstrict-prototypes -Wmissing-prototypes \
		   -Wshadow -Wpointer-arith -Wcast-qual -Wsign-compare -Werror
CFLAGS		?= -O2 -g
ALL_CFLAGS	 = -std=c11 -D_GNU_SOURCE $(WARNINGS) $(CFLAGS) $(SANFLAGS) \
		   -Ilib -DLK_PLUGINDIR='"$(PLUGINDIR)"' \
		   -DLK_LIBEXECDIR='"$(LIBEXECDIR)"' \
		   -DLK_SYSCONFDIR='"$(SYSCONFDIR)"' -MMD -MP
ALL_LDFLAGS	 = -Wl,--as-needed $(LDFLAGS) $(SANFLAGS)
LIBS		 = -lcrypto

LIB_SRCS	 = lib/err.c lib/log.c lib/b64.c lib/sshkey.c lib/util.c \
		   lib/record.c lib/keystore.c lib/keystore_write.c lib/fsutil.c \
		   lib/sshkey_wire.c lib/params.c lib/sig.c lib/subst.c \
		   lib/subst_lex.c lib/ws.c lib/ws_key.c lib/wsframe.c \
		   lib/wsconn.c lib/stream.c lib/tunnel.c lib/conf.c
LIB_OBJS	 = $(LIB_SRCS:%.c=$(BUILD)/obj/%.o)
LIB_A		 = $(BUILD)/liblatchkey.a

PROGS		 = $(BUILD)/bin/send_ssh_public_key \
		   $(BUILD)/bin/latchkey-authorized-keys \
		   $(BUILD)/bin/acs-plugin-manager \
		   $(BUILD)/bin/config_ecs_instance_connect \
		   $(BUILD)/bin/latchkeyd \
		   $(BUILD)/bin/latchkey-agent \
		   $(BUILD)/bin/latchkey

UNIT_SRCS	 = $(wildcard tests/unit/test_*.c)
UNIT_BINS	 = $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)

FUZZ_SRCS	 = $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS	 = $(FUZZ_SRCS:tests/fuzz/%.c=build-fuzz/%)
FUZZ_CFLAGS	 = -std=c11 -D_GNU_SOURCE -g -O1 -Ilib \
		   -fsanitize=fuzzer,address,undefined
# lib/ws.c (in LIB_SRCS) needs libcurl and jansson.
FUZZ_LIBS	 = -lcurl -ljansson $(LIBS)

BENCH_BINS	 = $(BUILD)/bench/helper_bench $(BUILD)/bench/agent_load \
		   $(BUILD)/bench/echo_rtt $(BUILD)/bench/api_rate \
		   $(BUILD)/bench/ws_bench \
		   $(BUILD)/bench/splice_fwd $(BUILD)/bench/delay_fwd \
		   $(BUILD)/bench/cpu_wrap
DEMO_TTL	?= 15
KEEP		?= 0

.PHONY: all deps deps-bench test check unit fuzz fuzz-long bench demo demo-ha install uninstall clean lint

all: $(PROGS)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(LIB_A): $(LIB_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/bin/send_ssh_public_key: $(BUILD)/obj/plugins/config_ecs_instance_connect/send_ssh_public_key.o $(LIB_A)
$(BUILD)/bin/latchkey-authorized-keys: $(BUILD)/obj/authkeys/latchkey-authorized-keys.o $(LIB_A)
$(BUILD)/bin/acs-plugin-manager: $(BUILD)/obj/agent/acs-plugin-manager.o $(LIB_A)
$(BUILD)/bin/config_ecs_instance_connect: $(BUILD)/obj/plugins/config_ecs_instance_connect/plugin.o $(LIB_A)

SERVER_SRCS	 = $(wildcard server/*.c)
# Only the PostgreSQL backend sees libpq's header.
PQ_CFLAGS	:= $(shell pkg-config --cflags libpq 2>/dev/null || echo -I/usr/include/postgresql)
$(BUILD)/obj/server/db_pg.o: ALL_CFLAGS += $(PQ_CFLAGS)
SERVER_OBJS	 = $(SERVER_SRCS:%.c=$(BUILD)/obj/%.o)
$(BUILD)/bin/latchkeyd: $(SERVER_OBJS) $(BUILD)/obj/gen/console_assets.o $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ -lmicrohttpd -ljansson \
	    -lsqlite3 -lpq $(LIBS) -lpthread

# The web console's assets, embedded in latchkeyd as C arrays.
CONSOLE_ASSETS	 = $(sort $(wildcard server/console/*))
$(BUILD)/tools/embed: tools/embed.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $<
$(BUILD)/gen/console_assets.c: $(BUILD)/tools/embed $(CONSOLE_ASSETS)
	@mkdir -p $(dir $@)
	$(BUILD)/tools/embed $(CONSOLE_ASSETS) >$@.tmp && mv $@.tmp $@
$(BUILD)/obj/gen/console_assets.o: $(BUILD)/gen/console_assets.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Iserver -c -o $@ $<

AGENT_SRCS	 = agent/latchkey-agent.c agent/agent_run.c agent/agent_task.c \
		   agent/agent_exec.c agent/agent_report.c agent/agent_http.c \
		   agent/agent_state.c agent/agent_log.c agent/agent_sess.c \
		   agent/agent_hostkeys.c
AGENT_OBJS	 = $(AGENT_SRCS:%.c=$(BUILD)/obj/%.o)
$(BUILD)/bin/latchkey-agent: $(AGENT_OBJS) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ -lcurl -ljansson $(LIBS) -lpthread

CLI_SRCS	 = $(wildcard cli/*.c)
CLI_OBJS	 = $(CLI_SRCS:%.c=$(BUILD)/obj/%.o)
$(BUILD)/bin/latchkey: $(CLI_OBJS) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ -lcurl -ljansson $(LIBS)

$(filter-out $(BUILD)/bin/latchkeyd $(BUILD)/bin/latchkey-agent \
    $(BUILD)/bin/latchkey,$(PROGS)):
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/tests/%: tests/unit/%.c $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Wno-missing-prototypes $(ALL_LDFLAGS) -o $@ $< $(LIB_A) $(LIBS) -lcmocka

# The resumable stream alone (pure state: no I/O, no other module).
$(BUILD)/tests/test_stream: tests/unit/test_stream.c $(BUILD)/obj/lib/stream.o $(BUILD)/obj/lib/err.o
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Wno-missing-prototypes $(ALL_LDFLAGS) -o $@ $(filter %.c %.o,$^) -lcmocka

# Two tunnel ends through a relay of the test's own, over loopback.
$(BUILD)/tests/test_tunnel: tests/unit/test_tunnel.c $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Wno-missing-prototypes $(ALL_LDFLAGS) -o $@ $< \
	    $(LIB_A) -lcmocka -lcurl -ljansson $(LIBS) -lpthread

# The console's parsers, and its sessions on both storage backends.
CONSOLE_TEST_OBJS = $(addprefix $(BUILD)/obj/server/,console_parse.o \
		   console_auth.o keys.o store.o store_keys.o store_console.o db.o \
		   db_sqlite.o db_pg.o util.o)
$(BUILD)/tests/test_console: tests/unit/test_console.c $(CONSOLE_TEST_OBJS) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Wno-missing-prototypes -Iserver $(ALL_LDFLAGS) \
	    -o $@ $^ -lcmocka -ljansson -lsqlite3 -lpq $(LIBS) -lpthread

# The store operations of keys, nonces, operators and console sessions on
# both storage backends.
STORAGE_KEYS_TEST_OBJS = $(addprefix $(BUILD)/obj/server/,store_keys.o \
		   store_console.o db.o db_sqlite.o db_pg.o)
$(BUILD)/tests/test_storage_keys: tests/unit/test_storage_keys.c $(STORAGE_KEYS_TEST_OBJS) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Wno-missing-prototypes -Iserver $(ALL_LDFLAGS) \
	    -o $@ $^ -lcmocka -ljansson -lsqlite3 -lpq $(LIBS) -lpthread

# The event loop's parts that stand alone: parked polls, workers, admission.
LONGPOLL_TEST_OBJS = $(addprefix $(BUILD)/obj/server/,longpoll.o work.o conn.o)
$(BUILD)/tests/test_longpoll: tests/unit/test_longpoll.c $(LONGPOLL_TEST_OBJS) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Wno-missing-prototypes -Iserver $(ALL_LDFLAGS) \
	    -o $@ $^ -lcmocka $(LIBS) -lpthread

# Heartbeats on an in-memory database.
HEARTBEAT_TEST_OBJS = $(addprefix $(BUILD)/obj/server/,heartbeat.o \
		   store_agent.o store_hostkeys.o db.o db_sqlite.o db_pg.o)
$(BUILD)/tests/test_heartbeat: tests/unit/test_heartbeat.c $(HEARTBEAT_TEST_OBJS) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Wno-missing-prototypes -Iserver $(ALL_LDFLAGS) \
	    -o $@ $^ -lcmocka -ljansson -lsqlite3 -lpq $(LIBS) -lpthread

# Commands and invocations in the store, on SQLite and PostgreSQL
STORAGE_INV_TEST_OBJS = $(addprefix $(BUILD)/obj/server/,store_inv.o \
		   store_cmd.o store.o db.o db_sqlite.o db_pg.o util.o)
$(BUILD)/tests/test_storage_inv: tests/unit/test_storage_inv.c $(STORAGE_INV_TEST_OBJS) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) -Iserver $(ALL_CFLAGS) -Wno-missing-prototypes $(ALL_LDFLAGS) \
	    -o $@ $^ -lcmocka -ljansson -lsqlite3 -lpq $(LIBS) -lpthread

# Instances and sessions in storage, on both backends.
SESS_TEST_OBJS = $(addprefix $(BUILD)/obj/server/,store_inst.o store_sess.o \
		   db.o db_sqlite.o db_pg.o)
$(BUILD)/tests/test_storage_sess: tests/unit/test_storage_sess.c $(SESS_TEST_OBJS) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) -Iserver $(ALL_CFLAGS) -Wno-missing-prototypes $(ALL_LDFLAGS) \
	    -o $@ $^ -lcmocka -ljansson -lsqlite3 -lpq $(LIBS) -lpthread

# The agents' store operations on both backends.
STORAGE_AGENT_TEST_OBJS = $(addprefix $(BUILD)/obj/server/,store_agent.o \
		   store_hostkeys.o db.o db_sqlite.o db_pg.o)
$(BUILD)/tests/test_storage_agent: tests/unit/test_storage_agent.c $(STORAGE_AGENT_TEST_OBJS) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) -Iserver $(ALL_CFLAGS) -Wno-missing-prototypes $(ALL_LDFLAGS) \
	    -o $@ $^ -lcmocka -ljansson -lsqlite3 -lpq $(LIBS) -lpthread

# The host keys agents report: their store operations on both backends,
# and the validation of hostile reports.
HOSTKEYS_TEST_OBJS = $(addprefix $(BUILD)/obj/server/,hostkeys.o store_agent.o \
		   store_hostkeys.o db.o db_sqlite.o db_pg.o)
$(BUILD)/tests/test_storage_hostkeys: tests/unit/test_storage_hostkeys.c $(HOSTKEYS_TEST_OBJS) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) -Iserver $(ALL_CFLAGS) -Wno-missing-prototypes $(ALL_LDFLAGS) \
	    -o $@ $^ -lcmocka -ljansson -lsqlite3 -lpq $(LIBS) -lpthread

# The counters behind /metrics.
$(BUILD)/tests/test_metrics: tests/unit/test_metrics.c $(BUILD)/obj/server/metrics.o $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Wno-missing-prototypes -Iserver $(ALL_LDFLAGS) \
	    -o $@ $^ -lcmocka $(LIBS) -lpthread

$(BUILD)/bench/%: bench/%.c $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(LIB_A) $(LIBS) -lm

build-fuzz/%: tests/fuzz/%.c $(LIB_SRCS)
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -o $@ $< $(LIB_SRCS) $(FUZZ_LIBS)

# agentd.c's poll calls relay_take(); the stub stands in for the relay.
build-fuzz/fuzz_agentd: tests/fuzz/fuzz_agentd.c $(LIB_SRCS) server/agentd.c \
    server/db.c server/db_sqlite.c server/db_pg.c server/util.c server/longpoll.c server/agentauth.c \
    server/heartbeat.c server/notify.c server/store_agent.c \
    server/store_hostkeys.c server/hostkeys.c \
    server/store_sess.c server/store.c server/metrics.c tests/fuzz/stub_relay.c
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) $(PQ_CFLAGS) -Iserver -o $@ $^ -lsqlite3 -lpq $(FUZZ_LIBS) \
	    -lpthread

build-fuzz/fuzz_stream: tests/fuzz/fuzz_stream.c lib/stream.c lib/err.c
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -o $@ $^

build-fuzz/fuzz_console: tests/fuzz/fuzz_console.c $(LIB_SRCS) \
    server/console_parse.c
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -Iserver -o $@ $^ $(FUZZ_LIBS)

# The unit tests, the simulated agents test_replicas.sh runs and the
# delaying forwarder of test_resume.sh's long link (tests/tools/longlink).
unit: $(UNIT_BINS) $(BUILD)/bench/agent_load $(BUILD)/bench/delay_fwd
fuzz: $(FUZZ_BINS)

# Every fuzz target for FUZZ_LONG_RUNS executions (10 million) or
# FUZZ_LONG_SECONDS (1200) each, keeping the grown corpus in
# tests/fuzz/grown/; not part of "make test". See docs/fuzzing.md.
fuzz-long: fuzz
	tests/fuzz/run-long

deps:
	@scripts/install-deps
deps-bench:
	@scripts/install-deps --bench

# The whole suite: normal build, sanitizer build, fuzzers; one summary.
test:
	@scripts/install-deps --test
	$(MAKE) lint
	$(MAKE) all unit
	$(MAKE) SANITIZE=1 all unit
	$(MAKE) fuzz
	tests/run build build-asan

check: all unit
	tests/run $(BUILD)

bench: deps-bench
	$(MAKE) all $(BENCH_BINS)
	bench/run $(BUILD)

demo: deps all
	TTL=$(DEMO_TTL) KEEP=$(KEEP) scripts/demo $(BUILD)

# PostgreSQL, three latchkeyd, HAProxy, an agent; one replica is killed.
demo-ha: all
	@scripts/install-deps --ha
	scripts/demo-ha $(BUILD)

lint:
	@! grep -nE '\b(sprintf|strcpy|strcat|strtok|atoi|sscanf|gets)\s*\(' \
	    lib/*.c lib/*.h */*.c */*/*.c || \
	    { echo "banned function used"; exit 1; }

install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(LIBEXECDIR) \
	    $(DESTDIR)$(PLUGINDIR)/config_ecs_instance_connect \
	    $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(MANDIR)/man5
	install -d $(DESTDIR)$(PREFIX)/lib/systemd/system $(DESTDIR)$(BINDIR) \
	    $(DESTDIR)$(MANDIR)/man1 \
	    $(DESTDIR)$(PREFIX)/share/bash-completion/completions
	install -m 0755 $(BUILD)/bin/latchkey $(DESTDIR)$(BINDIR)/
	install -m 0644 cli/latchkey.1 $(DESTDIR)$(MANDIR)/man1/
	install -m 0644 cli/latchkey.bash-completion \
	    $(DESTDIR)$(PREFIX)/share/bash-completion/completions/latchkey
	install -m 0755 $(BUILD)/bin/acs-plugin-manager \
	    $(BUILD)/bin/latchkey-agent $(BUILD)/bin/latchkeyd \
	    $(DESTDIR)$(SBINDIR)/
	install -m 0644 agent/latchkey-agent.8 server/latchkeyd.8 \
	    $(DESTDIR)$(MANDIR)/man8/
	install -m 0644 server/latchkeyd.conf.5 $(DESTDIR)$(MANDIR)/man5/
	sed 's|/usr/local/sbin|$(SBINDIR)|' agent/latchkey-agent.service \
	    >$(DESTDIR)$(PREFIX)/lib/systemd/system/latchkey-agent.service
	install -m 0755 $(BUILD)/bin/config_ecs_instance_connect \
	    $(BUILD)/bin/send_ssh_public_key \
	    $(BUILD)/bin/latchkey-authorized-keys \
	    $(DESTDIR)$(PLUGINDIR)/config_ecs_instance_connect/
	install -m 0644 plugins/config_ecs_instance_connect/VERSION \
	    $(DESTDIR)$(PLUGINDIR)/config_ecs_instance_connect/
	install -m 0644 agent/acs-plugin-manager.8 \
	    plugins/config_ecs_instance_connect/send_ssh_public_key.8 \
	    authkeys/latchkey-authorized-keys.8 \
	    plugins/config_ecs_instance_connect/config_ecs_instance_connect.8 \
	    $(DESTDIR)$(MANDIR)/man8/

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/latchkey $(DESTDIR)$(MANDIR)/man1/latchkey.1 \
	    $(DESTDIR)$(PREFIX)/share/bash-completion/completions/latchkey
	rm -f $(DESTDIR)$(SBINDIR)/acs-plugin-manager \
	    $(DESTDIR)$(SBINDIR)/latchkey-agent $(DESTDIR)$(SBINDIR)/latchkeyd \
	    $(DESTDIR)$(MANDIR)/man8/latchkey-agent.8 \
	    $(DESTDIR)$(MANDIR)/man8/latchkeyd.8 \
	    $(DESTDIR)$(MANDIR)/man5/latchkeyd.conf.5 \
	    $(DESTDIR)$(PREFIX)/lib/systemd/system/latchkey-agent.service
	rm -rf $(DESTDIR)$(PLUGINDIR)/config_ecs_instance_connect
	rm -f $(DESTDIR)$(MANDIR)/man8/acs-plugin-manager.8 \
	    $(DESTDIR)$(MANDIR)/man8/send_ssh_public_key.8 \
	    $(DESTDIR)$(MANDIR)/man8/latchkey-authorized-keys.8 \
	    $(DESTDIR)$(MANDIR)/man8/config_ecs_instance_connect.8

clean:
	rm -rf build build-asan build-fuzz

-include $(wildcard $(BUILD)/obj/*/*.d $(BUILD)/obj/*/*/*.d $(BUILD)/tests/*.d)
