# viva: one non-recursive Makefile.
#   make            build ./viva (release flags)
#   make test       install what is missing, build with ASan+UBSan, run every test
#   make run        install what is missing, start viva (console when no Slack tokens)
#   make bench      benchmarks in bench/
#   make deps       install missing Debian packages (root or sudo)
#   make fuzz       libFuzzer targets in tests/fuzz/ (FUZZ_SECONDS each)
#   make install    PREFIX=/usr/local DESTDIR= : bin/viva and share/viva/ examples
#   V=1             show the full commands

CC      ?= cc
PKGS    := libwebsockets libcurl openssl jansson yaml-0.1 sqlite3
# cairo: its headers at build time; ./viva loads the library when it draws
# its first chart (bot/chart/cairo_dl.c), the tests link it (they decode PNGs).
WARN    := -Wall -Wextra -Werror -Wshadow -Wpointer-arith -Wstrict-prototypes \
           -Wmissing-prototypes -Wno-missing-field-initializers
CFLAGS_BASE = -std=c11 -D_GNU_SOURCE $(WARN) -I. $(shell pkg-config --cflags $(PKGS) cairo 2>/dev/null)
LIBS        = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread -lm
CAIRO_LIBS  = $(shell pkg-config --libs cairo 2>/dev/null)
OPT     ?= -O2 -g
SAN     := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

PREFIX  ?= /usr/local
DESTDIR ?=
VERSION := $(shell git describe --always --dirty 2>/dev/null || echo dev)

ifeq ($(V),1)
Q :=
else
Q := @
endif

# Debian packages: libraries, and the real servers the tests start
# (prometheus ships promtool too: tests/prom_fixture.c backfills with it).
DEB_BUILD := gcc make pkg-config libc6-dev libwebsockets-dev libcurl4-openssl-dev \
             libjansson-dev libyaml-dev libsqlite3-dev libssl-dev libcairo2-dev
DEB_TEST  := libcmocka-dev docker-registry prometheus apache2-utils curl jq openssl
# kubectl drives the fake Kubernetes API server (tests/test_kube_fake.c):
# the `kubectl` package where a Kubernetes repository is configured, else
# Debian's own kubernetes-client (tests/deps.sh: "a|b" alternatives).
DEB_TEST  += 'kubectl|kubernetes-client'
# systemd-analyze checks deploy/viva.service (tests/test_packaging.c).
DEB_TEST  += systemd
# templates/node/bootstrap.sh is checked with shellcheck and run under
# busybox sh as well as dash (tests/test_bootstrap_sh.c).
DEB_TEST  += shellcheck busybox
# A font for the text of charts (bot/chart/chart.c draws with fontconfig's sans-serif),
# and cairo, which viva loads when it draws its first chart.
DEB_RUN   := ca-certificates tzdata fonts-dejavu-core libcairo2
# What `make bench` sets viva beside (bench/bench_tags.c: skopeo list-tags).
DEB_BENCH := skopeo golang-go golang-github-slack-go-slack-dev

# ---- sources --------------------------------------------------------------
# Core objects shared by ./viva and the tests (everything but bot/main.c).
# bot/lib: small libraries without viva state (the fakes link them too).
LIB_SRCS += bot/lib/err.c
LIB_SRCS += bot/lib/log.c
LIB_SRCS += bot/lib/alloc.c
LIB_SRCS += bot/lib/strbuf.c
LIB_SRCS += bot/lib/text.c
LIB_SRCS += bot/lib/times.c
LIB_SRCS += bot/lib/fileio.c
LIB_SRCS += bot/lib/thread.c
LIB_SRCS += bot/lib/tz.c
LIB_SRCS += bot/lib/cron.c
LIB_SRCS += bot/lib/yamltree.c
LIB_SRCS += bot/lib/quantity.c

CORE_SRCS += $(LIB_SRCS)
CORE_SRCS += bot/slack/mrkdwn.c
CORE_SRCS += bot/slack/envscan.c
CORE_SRCS += bot/nodes/report.c
CORE_SRCS += bot/model/dotenv.c
CORE_SRCS += bot/model/config.c
CORE_SRCS += bot/model/config_env.c
CORE_SRCS += bot/model/config_yaml.c
CORE_SRCS += bot/model/config_schema.c
CORE_SRCS += bot/model/config_value.c
CORE_SRCS += bot/auth.c
CORE_SRCS += bot/model/catalog.c
CORE_SRCS += bot/model/spec.c
CORE_SRCS += bot/model/spec_errors.c
CORE_SRCS += bot/model/spec_validate.c
CORE_SRCS += bot/model/spec_validate_run.c
CORE_SRCS += bot/model/spec_write.c
CORE_SRCS += bot/clients/oci.c
CORE_SRCS += bot/clients/registry.c
CORE_SRCS += bot/clients/registry_http.c
CORE_SRCS += bot/clients/registry_auth.c
CORE_SRCS += bot/clients/kubeconfig.c
CORE_SRCS += bot/clients/kubeconfig_yaml.c
CORE_SRCS += bot/clients/kubeconfig_entries.c
CORE_SRCS += bot/clients/kubeconfig_check.c
CORE_SRCS += bot/clients/kubeconfig_target.c
CORE_SRCS += bot/clients/kube_exec.c
CORE_SRCS += bot/clients/kube.c
CORE_SRCS += bot/clients/kube_http.c
CORE_SRCS += bot/clients/prom.c
CORE_SRCS += bot/model/tmpl.c
CORE_SRCS += bot/model/tmpl_render.c
CORE_SRCS += bot/model/tmpl_subst.c
CORE_SRCS += bot/model/builtin.c
CORE_SRCS += bot/model/render.c
CORE_SRCS += bot/reply.c
CORE_SRCS += bot/commands.c
CORE_SRCS += bot/dispatch.c
CORE_SRCS += bot/console.c
CORE_SRCS += bot/serve.c
CORE_SRCS += bot/serve_envelope.c
CORE_SRCS += bot/serve_pool.c
CORE_SRCS += bot/serve_job.c
CORE_SRCS += bot/serve_replay.c
CORE_SRCS += bot/queue.c
CORE_SRCS += bot/runtime.c
CORE_SRCS += bot/reload.c
CORE_SRCS += bot/ops.c
CORE_SRCS += bot/timers.c
CORE_SRCS += bot/httpd.c
CORE_SRCS += bot/metrics.c
CORE_SRCS += bot/slack/api.c
CORE_SRCS += bot/chart/chart.c
CORE_SRCS += bot/chart/cairo_dl.c
CORE_SRCS += bot/slack/socket.c
CORE_SRCS += bot/sched.c
CORE_SRCS += bot/sched_thread.c
CORE_SRCS += bot/clients/tls.c
# store/: all SQL, one file per domain (db.c: the connection and migrations).
STORE_SRCS += store/db.c
STORE_SRCS += store/audit.c
STORE_SRCS += store/envelopes.c
STORE_SRCS += store/schedules.c
STORE_SRCS += store/services.c
STORE_SRCS += store/images.c
STORE_SRCS += store/inbox.c
STORE_SRCS += store/outbox.c
STORE_SRCS += store/nodes.c
STORE_SRCS += store/operations.c
STORE_SRCS += store/unused.c
CORE_SRCS += $(STORE_SRCS)
CORE_SRCS += bot/clients/http.c
CORE_SRCS += bot/clients/http_client.c
CORE_SRCS += bot/clients/http_request.c
CORE_SRCS += bot/clients/http_response.c
CORE_SRCS += bot/clients/http_judge.c
CORE_SRCS += handlers/help.c
CORE_SRCS += handlers/node_api.c
CORE_SRCS += handlers/nodes.c
CORE_SRCS += handlers/node_upgrade.c
CORE_SRCS += handlers/audit.c
CORE_SRCS += handlers/housekeeping.c
CORE_SRCS += handlers/pipeline.c
CORE_SRCS += handlers/tags.c
CORE_SRCS += handlers/promote.c
CORE_SRCS += handlers/deploy.c
CORE_SRCS += handlers/deploy_ops.c
CORE_SRCS += handlers/lag.c
CORE_SRCS += handlers/unused.c
CORE_SRCS += handlers/traffic.c
CORE_SRCS += bot/k8s/apply.c
CORE_SRCS += bot/k8s/rollout.c
CORE_SRCS += bot/k8s/doctor.c
CORE_SRCS += bot/k8s/nodes.c
CORE_SRCS += bot/k8s/nodes_join.c
CORE_SRCS += bot/k8s/nodes_drain.c
CORE_SRCS += bot/doctor.c
CORE_SRCS += handlers/pipeline_k8s.c
CORE_SRCS += handlers/ops.c
# bot/nodes: cluster configs and node files (SPEC 10.1, 10.2), a pure model.
CORE_SRCS += bot/nodes/cluster.c
CORE_SRCS += bot/nodes/cluster_config.c
CORE_SRCS += bot/nodes/cluster_parse.c
CORE_SRCS += bot/nodes/cluster_check.c
CORE_SRCS += bot/nodes/cluster_resolve.c
CORE_SRCS += bot/nodes/nodefiles.c
CORE_SRCS += bot/nodes/nodefiles_tmpl.c

MAIN_SRCS := bot/main.c

# templates/ is built into the binary (bot/model/embed.sh); data files, so
# listed by the tree rather than by hand.
TEMPLATE_FILES := $(shell find templates -type f ! -name '.*' | LC_ALL=C sort)
GEN_SRCS       := build/gen/builtin_templates.c

TESTS += tests/test_config
TESTS += tests/test_store
TESTS += tests/test_tmpl
TESTS += tests/test_render
TESTS += tests/test_commands
TESTS += tests/test_runtime
TESTS += tests/test_auth
TESTS += tests/test_ops
TESTS += tests/test_console
TESTS += tests/test_exec
TESTS += tests/test_pipeline
TESTS += tests/test_tags
TESTS += tests/test_spec
TESTS += tests/test_registry
TESTS += tests/test_tags_e2e
TESTS += tests/test_cron
TESTS += tests/test_queue
TESTS += tests/test_envscan
TESTS += tests/test_metrics
TESTS += tests/test_slack_api
TESTS += tests/test_fake_slack
TESTS += tests/test_serve
TESTS += tests/test_yamltree
TESTS += tests/test_quantity
TESTS += tests/test_dotenv
TESTS += tests/test_http
TESTS += tests/test_kubeconfig
TESTS += tests/test_kube
TESTS += tests/test_kube_fake
TESTS += tests/test_k8s
TESTS += tests/test_k8s_nodes
TESTS += tests/test_deploy
TESTS += tests/test_serve_deploy
TESTS += tests/test_prom
TESTS += tests/test_unused
TESTS += tests/test_traffic
TESTS += tests/test_chart
TESTS += tests/test_slack_upload
TESTS += tests/test_fileio
TESTS += tests/test_doctor
TESTS += tests/test_packaging
TESTS += tests/test_node_api
TESTS += tests/test_node_report
TESTS += tests/test_nodes_cmd
TESTS += tests/test_node_upgrade
TESTS += tests/test_nodes
TESTS += tests/test_bootstrap_sh

# ---- build ----------------------------------------------------------------
BUILD    := build/rel
TBUILD   := build/san
CORE_OBJS  := $(CORE_SRCS:%.c=$(BUILD)/%.o) $(GEN_SRCS:%.c=$(BUILD)/%.o)
TCORE_OBJS := $(CORE_SRCS:%.c=$(TBUILD)/%.o) $(GEN_SRCS:%.c=$(TBUILD)/%.o)

# A removed template must leave the binary too: the list itself is a prerequisite.
TEMPLATE_LIST := $(shell mkdir -p build/gen && echo '$(TEMPLATE_FILES)' > build/gen/template_list.new && \
		   (cmp -s build/gen/template_list.new build/gen/template_list || \
		    mv build/gen/template_list.new build/gen/template_list); echo build/gen/template_list)

build/gen/builtin_templates.c: $(TEMPLATE_FILES) $(TEMPLATE_LIST) bot/model/embed.sh
	@mkdir -p $(dir $@)
	@echo "  EMBED   templates/ ($(words $(TEMPLATE_FILES)) files)"
	$(Q)sh bot/model/embed.sh $(TEMPLATE_FILES) > $@.tmp && mv $@.tmp $@

all: viva

viva: $(CORE_OBJS) $(BUILD)/bot/main.o
	@echo "  LD      $@"
	$(Q)$(CC) $(OPT) -o $@ $^ $(LIBS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(CFLAGS_BASE) $(OPT) -MMD -MP -c -o $@ $<

$(TBUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC/SAN  $<"
	$(Q)$(CC) $(CFLAGS_BASE) -O1 -g $(SAN) -MMD -MP -c -o $@ $<

$(BUILD)/bot/main.o $(TBUILD)/bot/main.o: CFLAGS_BASE += -DVIVA_VERSION='"$(VERSION)"'

# The sanitized viva binary that end-to-end tests run as a process.
$(TBUILD)/viva: $(TCORE_OBJS) $(TBUILD)/bot/main.o
	@echo "  LD/SAN  $@"
	$(Q)$(CC) $(SAN) -o $@ $^ $(LIBS)

# The fake Kubernetes API server (tests/kube/README.md): a library for
# in-process tests, and the standalone tests/fake_kube.
KUBE_FAKE_SRCS += tests/kube/server.c
KUBE_FAKE_SRCS += tests/kube/pki.c
KUBE_FAKE_SRCS += tests/kube/api.c
KUBE_FAKE_SRCS += tests/kube/resources.c
KUBE_FAKE_SRCS += tests/kube/store.c
KUBE_FAKE_SRCS += tests/kube/schema.c
KUBE_FAKE_SRCS += tests/kube/patch.c
KUBE_FAKE_SRCS += tests/kube/apply.c
KUBE_FAKE_SRCS += tests/kube/rollout.c
KUBE_FAKE_SRCS += tests/kube/yaml.c
KUBE_FAKE_SRCS += tests/kube/bootstrap.c
KUBE_FAKE_OBJS := $(KUBE_FAKE_SRCS:%.c=$(TBUILD)/%.o)

TEST_HELPERS := $(TBUILD)/tests/helpers.o $(TBUILD)/tests/proc.o $(TBUILD)/tests/fake_registry.o \
                $(TBUILD)/tests/http_front.o $(TBUILD)/tests/registry_proxy.o $(TBUILD)/tests/registry_push.o \
                $(TBUILD)/tests/registry_server.o $(TBUILD)/tests/fake_slack_blocks.o \
                $(TBUILD)/tests/tls_front.o $(TBUILD)/tests/serve_fx.o $(TBUILD)/tests/prom_fixture.o \
                $(TBUILD)/tests/prom_proxy.o $(TBUILD)/tests/fake_node_api.o $(KUBE_FAKE_OBJS)

$(TBUILD)/tests/%: $(TBUILD)/tests/%.o $(TEST_HELPERS) $(TCORE_OBJS)
	@echo "  LD/SAN  $@"
	$(Q)$(CC) $(SAN) -o $@ $^ $(LIBS) $(CAIRO_LIBS) -lcmocka

# The fake Slack server the end-to-end tests and the benchmark run against.
$(TBUILD)/tests/fake_slack: $(TBUILD)/tests/fake_slack.o $(TBUILD)/tests/fake_slack_blocks.o \
		$(LIB_SRCS:%.c=$(TBUILD)/%.o)
	@echo "  LD/SAN  $@"
	$(Q)$(CC) $(SAN) -o $@ $^ $(LIBS)
# An optimised build of the same fake for benchmarks (no sanitizer overhead).
$(BUILD)/tests/fake_slack: $(BUILD)/tests/fake_slack.o $(BUILD)/tests/fake_slack_blocks.o \
		$(LIB_SRCS:%.c=$(BUILD)/%.o)
	@echo "  LD      $@"
	$(Q)$(CC) $(OPT) -o $@ $^ $(LIBS)

# The fake Kubernetes API server as a process (prints READY url=... kubeconfig=...).
$(TBUILD)/tests/fake_kube: $(TBUILD)/tests/kube/main.o $(KUBE_FAKE_OBJS) $(LIB_SRCS:%.c=$(TBUILD)/%.o)
	@echo "  LD/SAN  $@"
	$(Q)$(CC) $(SAN) -o $@ $^ $(LIBS)

# An optimised build of the same fake for benchmarks (no sanitizer overhead).
$(BUILD)/tests/fake_kube: $(BUILD)/tests/kube/main.o $(KUBE_FAKE_SRCS:%.c=$(BUILD)/%.o) $(LIB_SRCS:%.c=$(BUILD)/%.o)
	@echo "  LD      $@"
	$(Q)$(CC) $(OPT) -o $@ $^ $(LIBS)

TEST_BINS := $(TESTS:%=$(TBUILD)/%)

# ---- targets --------------------------------------------------------------
deps:
	@sh tests/deps.sh $(DEB_BUILD) $(DEB_RUN) $(DEB_TEST)

test: deps
	$(Q)$(MAKE) --no-print-directory test-build
	$(Q)sh tests/run.sh $(TEST_BINS)

test-build: $(TEST_BINS) $(TBUILD)/viva $(TBUILD)/tests/fake_slack $(TBUILD)/tests/fake_kube

run: deps
	$(Q)$(MAKE) --no-print-directory viva
	$(Q)sh bot/run.sh

# The binary and what an operator starts from; INSTALL_BIN lets the tests
# install the sanitized build.
INSTALL_BIN ?= viva
install: $(INSTALL_BIN)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/viva
	install -m 0755 $(INSTALL_BIN) $(DESTDIR)$(PREFIX)/bin/viva
	install -m 0644 viva.example.yaml deploy/slack-app-manifest.yaml deploy/viva.service $(DESTDIR)$(PREFIX)/share/viva/
	install -m 0644 .env.example $(DESTDIR)$(PREFIX)/share/viva/env.example

BENCH_TAGS_OBJS := $(BUILD)/bench/bench_tags.o $(BUILD)/bench/util.o $(BUILD)/tests/proc.o $(BUILD)/tests/registry_server.o \
                   $(BUILD)/tests/registry_push.o $(BUILD)/tests/registry_proxy.o $(BUILD)/tests/http_front.o \
                   $(CORE_OBJS)
$(BUILD)/bench/bench_tags: $(BENCH_TAGS_OBJS)
	@echo "  LD      $@"
	$(Q)$(CC) $(OPT) -o $@ $^ $(LIBS)

# pipeline apply of 500 services x 2 environments against the fake API server.
$(BUILD)/bench/bench_apply: $(BUILD)/bench/bench_apply.o $(BUILD)/bench/launcher.o $(BUILD)/bench/util.o $(KUBE_FAKE_SRCS:%.c=$(BUILD)/%.o) \
		$(LIB_SRCS:%.c=$(BUILD)/%.o)
	@echo "  LD      $@"
	$(Q)$(CC) $(OPT) -o $@ $^ $(LIBS)

# Blue-green overhead and the lag audit over 1,000 services against the fake
# API server; seeds objects rendered by viva's own code (CORE_OBJS).
$(BUILD)/bench/bench_deploy: $(BUILD)/bench/bench_deploy.o $(BUILD)/bench/launcher.o $(BUILD)/bench/util.o \
		$(KUBE_FAKE_SRCS:%.c=$(BUILD)/%.o) $(CORE_OBJS)
	@echo "  LD      $@"
	$(Q)$(CC) $(OPT) -o $@ $^ $(LIBS)

# /viva traffic for one service over 7 days, chart included, against a real
# Prometheus (tests/prom_fixture.c backfills it).
$(BUILD)/bench/bench_traffic: $(BUILD)/bench/bench_traffic.o $(BUILD)/bench/launcher.o $(BUILD)/bench/util.o \
		$(BUILD)/tests/prom_fixture.o $(BUILD)/tests/proc.o $(LIB_SRCS:%.c=$(BUILD)/%.o)
	@echo "  LD      $@"
	$(Q)$(CC) $(OPT) -o $@ $^ $(LIBS)

# The unused audit over 10,000 services against a real Prometheus (promtool
# backfill, cached in bench/out/), through the recording proxy.
$(BUILD)/bench/bench_unused: $(BUILD)/bench/bench_unused.o $(BUILD)/bench/launcher.o $(BUILD)/bench/util.o $(BUILD)/tests/prom_fixture.o \
		$(BUILD)/tests/prom_proxy.o $(BUILD)/tests/http_front.o $(BUILD)/tests/proc.o $(CORE_OBJS)
	@echo "  LD      $@"
	$(Q)$(CC) $(OPT) -o $@ $^ $(LIBS)

# What loading viva's libraries costs before viva does anything (bench/run.sh).
$(BUILD)/bench/floor: $(BUILD)/bench/floor.o $(STORE_SRCS:%.c=$(BUILD)/%.o) $(LIB_SRCS:%.c=$(BUILD)/%.o)
	@echo "  LD      $@"
	$(Q)$(CC) $(OPT) -o $@ $^ $(LIBS)

bench: deps
	@sh tests/deps.sh $(DEB_BENCH)
	$(Q)$(MAKE) --no-print-directory viva $(BUILD)/bench/bench_tags $(BUILD)/bench/floor $(BUILD)/bench/bench_apply \
		$(BUILD)/bench/bench_deploy $(BUILD)/bench/bench_traffic \
		$(BUILD)/bench/bench_unused
	$(Q)sh bench/run.sh
	$(Q)$(BUILD)/bench/bench_tags
	$(Q)$(BUILD)/bench/bench_apply
	$(Q)$(BUILD)/bench/bench_deploy
	$(Q)$(BUILD)/bench/bench_traffic
	$(Q)$(BUILD)/bench/bench_unused

# ---- fuzzing (libFuzzer; `make fuzz FUZZ_SECONDS=60`) ------------------------
FUZZ_SECONDS ?= 20
FUZZERS      := fuzz_spec fuzz_tmpl fuzz_dispatch fuzz_envscan
FUZZERS      += fuzz_yamltree
FBUILD       := build/fuzz
FCORE_OBJS   := $(CORE_SRCS:%.c=$(FBUILD)/%.o) $(GEN_SRCS:%.c=$(FBUILD)/%.o)
FUZZ_COMPILE := -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer -O1 -g

$(FBUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC/FUZZ $<"
	$(Q)clang $(CFLAGS_BASE) $(FUZZ_COMPILE) -MMD -MP -c -o $@ $<

$(FBUILD)/tests/fuzz/%: $(FBUILD)/tests/fuzz/%.o $(FCORE_OBJS)
	@echo "  LD/FUZZ $@"
	$(Q)clang -fsanitize=fuzzer,address,undefined -o $@ $^ $(LIBS)

fuzz: deps
	@sh tests/deps.sh clang libclang-rt-14-dev
	$(Q)$(MAKE) --no-print-directory $(FUZZERS:%=$(FBUILD)/tests/fuzz/%)
	$(Q)for f in $(FUZZERS); do \
		mkdir -p $(FBUILD)/corpus/$$f; \
		echo "== $$f ($(FUZZ_SECONDS) s)"; \
		$(FBUILD)/tests/fuzz/$$f -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 \
			-print_final_stats=1 -artifact_prefix=$(FBUILD)/ $(FBUILD)/corpus/$$f tests/fuzz/seeds/$$f \
			>$(FBUILD)/$$f.log 2>&1; rc=$$?; tail -n 8 $(FBUILD)/$$f.log; \
		[ $$rc -eq 0 ] || { echo "$$f failed: see $(FBUILD)/$$f.log"; exit 1; }; \
	done

clean:
	rm -rf build viva

.PHONY: all deps test test-build run bench fuzz clean install
.SECONDARY:

-include $(shell find build -name '*.d' 2>/dev/null)
