# kube-state-otel image: built with the glibc target on Debian bookworm, run on distroless
# cc-debian12 (glibc, libgcc, CA certificates and /usr/share/zoneinfo - CronJob metrics resolve
# spec.timeZone from it) as nobody (65534), the user deploy/ runs it as, like kube-state-metrics.
# Numeric, so the kubelet can check runAsNonRoot without a runAsUser. No shell, no package
# manager.
#
#   docker build -t kube-state-otel .
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin kube-state-otel \
    && install -D target/release/kube-state-otel /out/kube-state-otel

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/kube-state-otel /usr/local/bin/kube-state-otel
USER 65534:65534
EXPOSE 8080 8081
ENTRYPOINT ["/usr/local/bin/kube-state-otel"]
