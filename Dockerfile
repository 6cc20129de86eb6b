# The flinkops operator image: a release build of the `flinkops` binary on a slim Debian runtime.
#
#   docker build -t flinkops/flinkops:0.1.0 .
#
# git2 builds libgit2 with https (OpenSSL) and ssh (libssh2) support, so the build stage needs OpenSSL headers and
# the runtime needs libssl3 and CA certificates. The image runs as an unprivileged user (65532, as the chart's
# podSecurityContext expects) and writes only to /var/lib/flinkops and /tmp (the chart mounts both as emptyDirs, so
# the root filesystem can be read-only).

FROM rust:1.95-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends pkg-config libssl-dev cmake \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Dependencies first, so a source change does not rebuild them.
COPY Cargo.toml Cargo.lock ./
RUN mkdir -p src benches && echo 'fn main() {}' > src/main.rs && touch src/lib.rs \
 && for b in validate plan writeback; do echo 'fn main() {}' > benches/$b.rs; done \
 && cargo build --release --locked \
 && rm -rf src benches
COPY src src
COPY assets assets
COPY benches benches
RUN touch src/main.rs src/lib.rs && cargo build --release --locked --bin flinkops

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libssl3 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 65532 flinkops \
 && useradd --uid 65532 --gid 65532 --home-dir /var/lib/flinkops --create-home --shell /usr/sbin/nologin flinkops
COPY --from=build /src/target/release/flinkops /usr/local/bin/flinkops
USER 65532:65532
WORKDIR /var/lib/flinkops
ENTRYPOINT ["/usr/local/bin/flinkops"]
CMD ["--help"]
