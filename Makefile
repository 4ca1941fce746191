# broker_seats: PGXS build of the extension, plus the project's own targets.
#   make demo   install what is missing, build, install, play the runbook in psql
#   make test   the same set-up, then unit, fuzz, regression, isolation and TAP tests
#   make bench  the same set-up, then the benchmarks into docs/benchmarks.md
# Both work on a fresh Debian 12 with only make, g++ and git: the set-up
# installs the packages before PGXS is needed.

EXTENSION = broker_seats
MODULE_big = broker_seats
# The released scripts (src/sql/broker_seats--1.0.sql and the upgrade
# scripts) never change; the current version's install script is assembled
# from the sources by concern in src/sql/install/, in file-name order.
EXTVERSION = 1.1
DATA = $(wildcard src/sql/broker_seats--*.sql)
DATA_built = broker_seats--$(EXTVERSION).sql
INSTALL_SOURCES = $(sort $(wildcard src/sql/install/*.sql))
EXTRA_CLEAN = broker_seats--$(EXTVERSION).sql

CORE_SRCS = $(wildcard src/core/*.cpp)
PG_SRCS = $(wildcard src/pg/*.cpp)
OBJS = $(CORE_SRCS:.cpp=.o) $(PG_SRCS:.cpp=.o)

# The suites, as PGXS names them: `make installcheck` runs them against a
# server you already have (PGHOST, PGPORT, PGUSER as usual; the user must be
# a superuser; the TAP tests start their own clusters and need a non-root
# OS user). `make test` runs them all on a throwaway cluster instead.
REGRESS = $(patsubst sql/%.sql,%,$(sort $(wildcard sql/*.sql)))
ISOLATION = $(patsubst test/isolation/specs/%.spec,%,$(sort $(wildcard test/isolation/specs/*.spec)))
ISOLATION_OPTS = --inputdir=test/isolation
TAP_TESTS = 1
PROVE_TESTS = test/t/*.pl

PG_CONFIG ?= $(firstword $(wildcard /usr/lib/postgresql/15/bin/pg_config) pg_config)
PG_CPPFLAGS = -I$(srcdir)/src
PG_CXXFLAGS = -std=c++17 -O2 -Wall -Wextra -Wno-register -Wno-unused-parameter \
	-Wno-missing-field-initializers -fvisibility-inlines-hidden -MMD -MP
SHLIB_LINK += -lstdc++

srcdir ?= $(CURDIR)

PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)
ifneq ($(PGXS),)
ifneq ($(wildcard $(PGXS)),)
include $(PGXS)
# Debian's PostgreSQL is built with LLVM: PGXS also compiles every .cpp to
# bitcode with clang and ignores PG_CXXFLAGS there.
COMPILE.cxx.bc += -std=c++17 -Wno-register -Wno-ignored-attributes
override CXXFLAGS := $(filter-out -Wmissing-prototypes -Wdeclaration-after-statement,$(CXXFLAGS))
endif
endif

# Header dependencies (-MMD): a changed header rebuilds what includes it.
-include $(OBJS:.o=.d)
EXTRA_CLEAN += $(OBJS:.o=.d)

.PHONY: deps test demo unit bench

broker_seats--$(EXTVERSION).sql: $(INSTALL_SOURCES)
	cat $^ > $@

deps:
	@bash scripts/install-deps.sh

# Quiet: one line for the packages and one for the build (VERBOSE=1 shows
# them whole).
test: deps
	@PG_CONFIG=$(PG_CONFIG) bash scripts/build.sh
	bash scripts/run-tests.sh

demo: deps
	@PG_CONFIG=$(PG_CONFIG) bash scripts/build.sh
	@bash scripts/demo.sh

unit: deps
	bash scripts/run-unit.sh

bench: deps
	@PG_CONFIG=$(PG_CONFIG) bash scripts/build.sh
	bash scripts/bench.sh $(BENCH_ARGS)
