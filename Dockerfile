# syntax=docker/dockerfile:1
#
# Gatehouse as a static binary in a distroless image, run as a non-root user.
#   docker build -t gatehouse .
#   docker run --rm gatehouse version
# docs/deploy.md says how to run it: alone, with deploy/compose.yaml, or on
# Kubernetes (deploy/kubernetes/).

# The build runs on the builder's own platform and cross-compiles, which Go
# does without cgo: `docker buildx build --platform linux/amd64,linux/arm64`
# needs no emulator.
FROM --platform=$BUILDPLATFORM golang:1.26 AS build
ARG TARGETOS
ARG TARGETARCH
WORKDIR /src
# Modules first, so that a change of source reuses the downloaded ones.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
# CGO_ENABLED=0: fully static (the SQLite driver is pure Go), so the final
# image needs no libc. -trimpath keeps the build machine's paths out of the
# binary. The version (`gatehouse version`) comes from the module's build
# information; .git is not in the build context, so VCS stamping is off
# rather than failing.
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -buildvcs=false -ldflags="-s -w" -o /out/gatehouse ./cmd/gatehouse
# The data folder, made here because the final image has no shell to make
# it; it is copied owned by the non-root user.
RUN mkdir -p /out/data

# distroless/static: CA certificates, /etc/passwd with the nonroot user
# (65532), tzdata; no shell, no package manager.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/gatehouse /usr/local/bin/gatehouse
COPY --from=build --chown=65532:65532 /out/data /var/lib/gatehouse
# Inside a container a node must listen on every interface; it still
# refuses plain HTTP there unless TLS files are set or
# GATEHOUSE_BEHIND_TLS_PROXY=true says a TLS proxy is in front. These
# variables win over a config file's data_dir, addr and gateway.addr:
# change them with the environment (or flags), not the file.
ENV GATEHOUSE_DATA=/var/lib/gatehouse \
    GATEHOUSE_ADDR=:8080 \
    GATEHOUSE_GATEWAY_ADDR=:8081
USER 65532:65532
# 8080: the API (dashboard, OAuth and OpenID Connect, admin API, key
# verification, /healthz, /readyz, /metrics); 8081: the gateway.
EXPOSE 8080 8081
# SQLite database and secret file of a single node; unused by nodes on
# PostgreSQL with GATEHOUSE_SECRET.
VOLUME ["/var/lib/gatehouse"]
# No shell or curl here: the binary asks /readyz itself (503 only while the
# node drains; it does not ask the database, see docs/operations.md).
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["/usr/local/bin/gatehouse", "healthcheck", "--url", "http://127.0.0.1:8080/readyz", "--timeout", "3s"]
ENTRYPOINT ["/usr/local/bin/gatehouse"]
CMD ["serve"]
