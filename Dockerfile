# kubesonic sidecar / exporter image: `kubesonic sync <feature>` and `kubesonic gate <feature>` in
# the feature's DaemonSet pod, `kubesonic exporter` on its own. The build stage compiles and bundles;
# the runtime stage carries only node and the two single-file bundles (no node_modules).
FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json vitest.config.ts ./
COPY scripts/bundle.mjs ./scripts/bundle.mjs
COPY src ./src
COPY testbed ./testbed
COPY test ./test
RUN npx tsc -p tsconfig.json --noEmit && node scripts/bundle.mjs

FROM node:20-bookworm-slim
LABEL org.opencontainers.image.title="kubesonic" \
      org.opencontainers.image.description="FEATURE sync sidecar, gate and memory exporter for SONiC features on Kubernetes"
COPY --from=build /src/dist/kubesonic.mjs /src/dist/memory_checker.mjs /opt/kubesonic/
# The exporter and memory_checker run as the unprivileged "node" user. The sync sidecar and the
# gate are given runAsUser: 0 by `kubesonic render` (they write root-owned host files and talk to
# the Docker socket) with all capabilities dropped and a read-only root filesystem.
USER node
ENV NODE_ENV=production
ENTRYPOINT ["node", "/opt/kubesonic/kubesonic.mjs"]
CMD ["--help"]
