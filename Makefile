# fsbridge — see README.md. `make help` lists the targets.
SHELL := /bin/bash
export PATH := $(PATH):/usr/local/go/bin
export SHARED ?= $(abspath $(CURDIR)/../shared)

GO        ?= go
BIN       := bin
# go test -race needs cgo; the box has 2 shared cores, so keep -p low.
TESTFLAGS ?= -race -timeout 10m -p 2
FUZZTIME  ?= 10m
BENCHTIME ?= 1s

.PHONY: help all build deps deps-ganesha deps-bench test unit vet lint interop fuzz bench bench-go bench-deleg bench-meta demo pynfs stress clean

all: build

help:
	@echo "make build         go build ./... and put the binaries in ./bin"
	@echo "make deps          install system packages (Debian 12, root) and build the kernel-client VM"
	@echo "make deps-ganesha  install nfs-ganesha (reference server, optional)"
	@echo "make test          vet + unit tests (-race) + interop"
	@echo "make unit          vet + unit tests only"
	@echo "make interop       fs_serv vs Linux kernel client (qemu) and libnfs"
	@echo "make pynfs         pynfs 4.0 + 4.1 suites against fs_serv"
	@echo "make fuzz          every Fuzz target of the repo for FUZZTIME ($(FUZZTIME)) each, FUZZPAR workers (1); table in /tmp/fuzz-summary.txt"
	@echo "make stress        hostile clients vs fs_serv for ~2 min (latency, memory bounds)"
	@echo "make bench         mount_remote vs go-fuse loopback vs sshfs (scripts/bench.sh; root; QUICK=1 for a short run)"
	@echo "make bench-go      go benchmarks of proto/..."
	@echo "make bench-deleg   what delegations buy: hot-file stat/open+read with and without (root, FUSE)"
	@echo "make bench-meta    one fchmod/utimens/create/unlink through a mount: round trips, CPU, context switches (root, FUSE)"
	@echo "make deps-bench    install what make bench needs (fio, dbench, sshfs, openssh-server...)"
	@echo "make demo          serve a sample folder and look at it through a client"
	@echo "make lint          gofmt -l + go vet"
	@echo "make clean         remove ./bin"

build:
	$(GO) build ./...
	@mkdir -p $(BIN)
	@if [ -d cmd ] && [ -n "$$(ls cmd)" ]; then \
		echo "$(GO) build -o $(BIN)/ ./cmd/..."; $(GO) build -o $(BIN)/ ./cmd/...; \
	else echo "build: no cmd/ binaries yet"; fi

deps:
	scripts/deps.sh

deps-ganesha:
	scripts/deps.sh --ganesha

deps-bench:
	scripts/deps.sh --bench

vet:
	$(GO) vet ./...

lint: vet
	@out=$$(gofmt -l $$(git ls-files -co --exclude-standard '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt -l: these files need gofmt:"; echo "$$out"; exit 1; fi
	@echo "lint: ok"

unit: vet
	$(GO) test $(TESTFLAGS) ./...

test: unit
	$(MAKE) interop

interop: build
	scripts/interop.sh

pynfs: build
	scripts/pynfs.sh start

# fuzz: e.g. make fuzz FUZZTIME=30s; FUZZ_MATCH=nfs4 for a subset, FUZZ_KEEP=1
# to copy small new corpus entries into testdata (scripts/fuzz.sh).
fuzz:
	scripts/fuzz.sh $(FUZZTIME)

# stress: the full hostile-client run (cmd/hostile); `make unit` runs the
# short version as cmd/hostile's TestHostileShort.
stress:
	scripts/stress.sh

# load: 64 clients' mixed workload vs a fresh fs_serv for LOAD_DURATION
# (default 10m; cmd/loadtest); `make unit` runs a 15 s version as
# cmd/loadtest's TestLoad.
.PHONY: load
load:
	scripts/load.sh

bench:
	scripts/bench.sh

bench-go:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) ./proto/...

bench-deleg:
	$(GO) test -run '^$$' -bench HotFile -benchtime 3s ./mount/

bench-meta:
	$(GO) test -run '^$$' -bench MetaOps -benchtime 5000x ./mount/

demo: build
	scripts/demo.sh

clean:
	rm -rf $(BIN)

# install: the binaries into $(PREFIX)/bin and the mount(8) helper as
# $(SBINDIR)/mount.fuse.mount_remote (so `mount -t fuse.mount_remote` and
# fstab lines work); DESTDIR for staging.
PREFIX  ?= /usr/local
SBINDIR ?= /sbin
.PHONY: install
install: build
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(SBINDIR)
	install -m 0755 $(BIN)/mount_remote $(BIN)/fs_serv $(BIN)/fsctl $(DESTDIR)$(PREFIX)/bin/
	sed 's|@BINDIR@|$(PREFIX)/bin|' scripts/mount.fuse.mount_remote > $(DESTDIR)$(SBINDIR)/mount.fuse.mount_remote.tmp
	chmod 0755 $(DESTDIR)$(SBINDIR)/mount.fuse.mount_remote.tmp
	mv -f $(DESTDIR)$(SBINDIR)/mount.fuse.mount_remote.tmp $(DESTDIR)$(SBINDIR)/mount.fuse.mount_remote
