# Build stage: compile TypeScript with dev dependencies, then keep production ones only.
FROM node:22-bookworm-slim AS build
WORKDIR /app
# A C compiler for the batched UDP reader (native/udp_recvmmsg.c), which `npm ci` builds into build/native.
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
COPY native ./native
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
# recheck (the regex safety checker) ships a JVM jar (23 MB) beside its native binary; the image
# has no Java and the bridge runs only the native binary (src/match/checker.ts), so the jar goes.
RUN npm run build && npm prune --omit=dev --no-audit --no-fund && rm -rf node_modules/recheck-jar

# Runtime stage: no compiler, no dev dependencies, not root.
FROM node:22-bookworm-slim
ENV NODE_ENV=production
# Every command (serve, check, sessions, failed …) reads this config unless -c says otherwise.
ENV PTIM_CONFIG=/etc/ptim-bridge/config.yaml
WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/build ./build
COPY patterns ./patterns
# The operator console's pages and script (served from the package, never a CDN).
COPY web ./web
COPY deploy/config.yaml /etc/ptim-bridge/config.yaml
# The session journal's directory (sessions.journalDir): a volume mounted here inherits this owner.
RUN mkdir -p /var/lib/ptim-bridge/journal && chown -R node:node /var/lib/ptim-bridge
USER node
# Unprivileged ports inside the container; compose maps 514 → 5514.
EXPOSE 5514/udp 5514/tcp 6514/tcp 9514/tcp
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:9514/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# The main thread's heap setting and glibc's arena count (src/threads/heap.ts, README "Threading model").
ENV MALLOC_ARENA_MAX=2
ENTRYPOINT ["node", "--max-semi-space-size=2", "dist/main.js"]
CMD ["serve"]
