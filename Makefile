# weir: the two commands a fresh machine needs are `make run` and `make test`.
GO ?= go
BIN := bin/weir
PKGS := ./...

.PHONY: all build test unit run bench lint clean opensearch-start opensearch-stop moto-start moto-stop

all: build

build:
	$(GO) build -trimpath -o $(BIN) ./cmd/weir

# Starts a real OpenSearch node (from Maven Central) and moto, runs unit tests with the race
# detector and integration tests against them, and stops what it started.
test:
	scripts/test.sh

# Unit tests only: no node, no emulator.
unit:
	$(GO) test -count=1 $(PKGS)

# Starts the local node and weir on the bundled default configuration.
run: build
	scripts/opensearch.sh start
	scripts/run.sh

bench:
	$(GO) test -run='^$$' -bench=. -benchmem -count=1 $(PKGS)

lint:
	@out="$$(gofmt -l $$(git ls-files '*.go'))"; if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

opensearch-start:
	scripts/opensearch.sh start
opensearch-stop:
	scripts/opensearch.sh stop
moto-start:
	scripts/moto.sh start
moto-stop:
	scripts/moto.sh stop

clean:
	rm -rf bin
