# basalt in a container. Build the binary first, on a Debian 12 machine (the image's glibc):
#
#   cargo build --release -p basalt
#   docker build -t basalt .
#   docker run -p 54321:54321 -v "$PWD":/project basalt start --project /project \
#       --db-url 'postgres://user:pass@db.example:5432/postgres?sslmode=verify-full'
#
# The project's supabase/config.toml needs `[basalt] listen_address = "0.0.0.0"` for the
# published port to reach basalt, and then a JWT secret of its own (BASALT_JWT_SECRET or
# [auth] jwt_secret): basalt refuses the CLI's well-known local secret on a non-loopback address.
# Without --db-url basalt runs its own Postgres (the postgresql-15 package below) in
# /project/.basalt. It runs as the unprivileged user `basalt`; /health/live is the HEALTHCHECK
# (the process serves), /health/ready says whether the database answers.
FROM debian:bookworm-slim

RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl postgresql-15 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --create-home --home-dir /home/basalt --uid 10001 basalt \
 && mkdir /project && chown basalt:basalt /project

COPY target/release/basalt /usr/local/bin/basalt

ENV BASALT_PG_BIN=/usr/lib/postgresql/15/bin \
    BASALT_LOG_FORMAT=json
USER basalt
WORKDIR /project
EXPOSE 54321
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
  CMD curl -fsS http://127.0.0.1:54321/health/live || exit 1
ENTRYPOINT ["/usr/local/bin/basalt"]
CMD ["start", "--project", "/project"]
