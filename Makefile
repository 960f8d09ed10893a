# weir: the two commands a fresh machine needs are `make run` and `make test`.
GO ?= go
BIN := bin/weir
PKGS := ./...
# The JSON validator's string loop has a vector version (pipeline/docscan/plainrun_simd.go)
# behind Go 1.26's simd experiment; a build without it uses the word-at-a-time loop.
GOEXPERIMENT ?= simd
export GOEXPERIMENT

.PHONY: all build test unit run bench bench-compare lint clean image deploy-check iam-policy opensearch-start opensearch-stop moto-start moto-stop

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

# weir vs Benthos v4.27.0 vs the machine's ceiling, side by side (builds Benthos into bench/.peers).
bench-compare:
	scripts/bench-compare.sh

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

# The container image (deploy/Dockerfile), where a Docker engine exists; CI does not build it.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
IMAGE ?= weir:$(VERSION)
image:
	docker build -f deploy/Dockerfile --build-arg VERSION=$(VERSION) -t $(IMAGE) .

# cfn-lint, hadolint, systemd-analyze, weir validate and the policy tests over deploy/
# (installs the linters into .cache/venv when missing); part of make test.
deploy-check:
	scripts/deploy-check.sh

# Regenerates deploy/iam/weir-identity-policy.json from the ECS configuration (with the
# S3 dead-letter copy the ECS README recommends) for the example account.
iam-policy: build
	$(BIN) policy minimal -c deploy/ecs/weir.yaml --account 123456789012 \
		--set dead_letter.s3_uri=s3://weir-dead-letters/weir/ > deploy/iam/weir-identity-policy.json.tmp
	mv deploy/iam/weir-identity-policy.json.tmp deploy/iam/weir-identity-policy.json

clean:
	rm -rf bin
