# kubesonic sidecar / exporter image, for people with a registry: `kubesonic sync <feature>` and
# `kubesonic gate <feature>` in the feature's DaemonSet pod, `kubesonic exporter` on its own.
# The project's own machines have no registry: testbed/image.ts builds the same image (same base
# suite and nodejs, files, user, entrypoint, env; test/unit/image-recipe.test.ts compares them)
# from Debian packages with mmdebstrap, reproducibly.
# Bases are pinned by tag, not digest: a digest cannot be resolved offline where this file is
# tested. node:22-bookworm-slim (Node 22 LTS, supported to April 2027) only builds; the image runs
# Debian trixie's own nodejs 20.19, which Debian supports for trixie's lifetime.
FROM node:22-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json vitest.config.ts ./
COPY scripts/bundle.mjs ./scripts/bundle.mjs
COPY src ./src
COPY testbed ./testbed
COPY test ./test
# Every bundle but the testbed's, so a CLI added to scripts/bundle.mjs ships without an edit here.
RUN npx tsc -p tsconfig.json --noEmit && node scripts/bundle.mjs \
 && mkdir /out && cp dist/*.mjs /out/ && rm /out/testbed.mjs

FROM debian:trixie-slim
LABEL org.opencontainers.image.title="kubesonic" \
      org.opencontainers.image.description="FEATURE sync sidecar, gate and memory exporter for SONiC features on Kubernetes"
RUN apt-get update \
 && apt-get install -y --no-install-recommends nodejs \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build --chmod=0755 /out/ /opt/kubesonic/
# The exporter runs as nobody (65534). The sync sidecar and the gate are given runAsUser: 0 by
# `kubesonic render` (they write root-owned host files and talk to the Docker socket) with all
# capabilities dropped and a read-only root filesystem.
USER 65534:65534
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin NODE_ENV=production
ENTRYPOINT ["/usr/bin/node", "/opt/kubesonic/kubesonic.mjs"]
CMD ["--help"]
