# syntax=docker/dockerfile:1
# Ostiary's container image: built on Debian 12 with the Rust toolchain, run on distroless
# (glibc and libgcc, no shell, no package manager) as the non-root user 65532.
#
#   docker build --build-arg OSTIARY_COMMIT="$(git rev-parse --short=12 HEAD)" -t ostiary .
#
# docs/deployment.md says how to run it: the secrets it needs, the volume, the ports.

ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-bookworm AS builder
WORKDIR /src
# `ostiary --version` names this commit (the build context has no .git to ask).
ARG OSTIARY_COMMIT=unknown
ENV OSTIARY_COMMIT=${OSTIARY_COMMIT}
COPY . .
# The dependencies need only a C compiler (aws-lc, SQLite, mimalloc), which the image has.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p ostiary-server \
    && install -D -m 0755 target/release/ostiary /out/usr/local/bin/ostiary \
    && install -d -m 0700 /out/var/lib/ostiary

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=builder /out/usr/local/bin/ostiary /usr/local/bin/ostiary
# The state directory: the SQLite database, the development secret file and the audit
# journal, owner-only (the server refuses a journal others may write to).
COPY --from=builder --chown=65532:65532 /out/var/lib/ostiary /var/lib/ostiary
WORKDIR /var/lib/ostiary
VOLUME ["/var/lib/ostiary"]
# Production refuses to start without OAUTH2_ISSUER (https), OAUTH2_JWT_SECRET and
# OAUTH2_SESSION_KEY (or their _FILE variants). The database defaults to sqlite://ostiary.db
# in the working directory, the volume; OAUTH2_DATABASE_URL (or _FILE) points elsewhere.
# Metrics listen on their own port: publish it to the scraper only.
ENV OAUTH2_ENV=production \
    OAUTH2_BIND=0.0.0.0:8080 \
    OAUTH2_METRICS_BIND=0.0.0.0:9090
EXPOSE 8080 9090
USER 65532:65532
# The binary asks its own /readyz (on loopback, from OAUTH2_BIND): ready once the database
# answers.
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
    CMD ["ostiary", "healthcheck"]
ENTRYPOINT ["ostiary"]
CMD ["serve"]
