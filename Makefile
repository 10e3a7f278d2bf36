# tidegate's developer entry points. `make demo` and `make test` are the
# two commands the README promises work on a fresh machine.
SHELL := /usr/bin/env bash
GO ?= go
export GOFLAGS ?= -mod=mod

.PHONY: all build test testenv gitea demo cluster bench lint fmt image fuzz release-snapshot

all: build

build:
	$(GO) build -trimpath -ldflags "-s -w" -o bin/tidegate .

# Everything CI runs: Debian packages the tests start, the test API server
# binaries (built once, cached), vet, gofmt, and every test.
test: testenv gitea lint
	@tools="$$(hack/ci-tools.sh)"; rel=($$(hack/release-tools.sh)); set -x; \
	TIDEGATE_TESTENV_ASSETS="$$(hack/testenv.sh)" TIDEGATE_GITEA="$$(hack/gitea.sh)" \
	TIDEGATE_ACT="$${tools%% *}" TIDEGATE_GITLAB_CI_LOCAL="$${tools##* }" \
	TIDEGATE_GORELEASER="$${rel[0]}" TIDEGATE_CYCLONEDX_GOMOD="$${rel[1]}" \
	TIDEGATE_HELM="$$(hack/helm-tool.sh)" \
		$(GO) test -count=1 -timeout 45m ./...

testenv:
	@if [ "$$(id -u)" -eq 0 ]; then hack/ci-deps.sh; fi
	@hack/testenv.sh >/dev/null

# The Gitea server the propose tests open pull requests on (built once).
gitea:
	@hack/gitea.sh >/dev/null

lint:
	$(GO) vet ./...
	@out="$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))"; \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	@rel=($$(hack/release-tools.sh)); set -x; \
	"$${rel[2]}" -no-color .github/workflows/*.yml testdata/github/*.yml && "$${rel[0]}" check
	@lint="$$(hack/lint-tools.sh)"; set -x; "$$lint" run ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

# The main job on an embedded default: a local API server and the example
# repository in testdata/fleet.
demo: testenv
	hack/demo.sh

# A local API server that stays up; prints its kubeconfig.
cluster: testenv
	$(GO) run ./internal/testenv/cmd/testcluster --kubeconfig "$${KUBECONFIG_OUT:-/tmp/tidegate-cluster.kubeconfig}"

# The container image without a Docker engine (see Dockerfile for the
# same image with one): IMAGE=registry/tidegate:tag make image
image:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w" -o bin/tidegate-static .
	$(GO) run ./hack/image --binary bin/tidegate-static $${IMAGE:+--push $$IMAGE} --oci-layout bin/oci

# A release of every platform as the release workflow makes it, without
# publishing or signing: dist/ gets the archives, SBOMs, checksums.txt, and
# the multi-arch image as an OCI layout (dist/oci), with each platform's
# compressed size printed. make test runs the one-platform part of this
# (e2e TestReleaseSnapshot).
release-snapshot:
	@rel=($$(hack/release-tools.sh)); set -x; \
	PATH="$$(dirname "$${rel[1]}"):$$PATH" "$${rel[0]}" release --snapshot --clean --skip=sign
	$(GO) run ./hack/image --dist dist --oci-layout dist/oci

bench: testenv
	hack/bench.sh

# Every fuzzer for FUZZTIME each (default 60s); not run by CI, which replays
# the seed corpora as ordinary tests. FUZZ=FuzzDecode selects some.
fuzz:
	hack/fuzz.sh $${FUZZ:-.}
