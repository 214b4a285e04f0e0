# syntax=docker/dockerfile:1
#
# m2m-gateway: one image for every deployment shape; the config file picks the parts.
#
#   docker build -t m2m-gateway .
#   docker run -p 8080:8080 -v m2m-data:/app/data m2m-gateway                 # the demo config
#   docker run -v ./my-config:/app/config:ro -v m2m-data:/app/data m2m-gateway   # your gateway.yaml
#   docker run m2m-gateway check-config /app/config/gateway.yaml
#   docker exec <container> m2m-gateway tokens list --kind api --owner tenant --tenant acme

# Build: every dependency, compile the TypeScript, then keep the production dependencies only.
FROM node:24-trixie-slim AS build
# better-sqlite3 downloads a prebuilt binding for this Node.js; these build it where none matches.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
# No dependency's install script runs, except better-sqlite3's: its native binding, built for the
# Node.js of this image, which is the runtime's.
RUN npm ci --ignore-scripts --no-audit --no-fund \
 && npm rebuild better-sqlite3
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY bench ./bench
COPY scripts ./scripts
# The binding must load here, or the build fails rather than the first start.
RUN npm run build \
 && npm prune --omit=dev --no-audit --no-fund \
 && chmod 0755 dist/src/main.js \
 && node -e "new (require('better-sqlite3'))(':memory:').close()"

# Runtime: Node.js, the compiled gateway and its production dependencies; no compiler, no npm
# install, no dev dependency. Everything is root's and read-only to the gateway's user.
FROM node:24-trixie-slim
ENV NODE_ENV=production \
    M2M_DATA_DIR=/app/data
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist/src ./dist/src
COPY config ./config
# The package's bin, linked as `npm install --global` would; the data directory belongs to the
# gateway's user, so a fresh volume mounted there does too.
RUN ln -s /app/dist/src/main.js /usr/local/bin/m2m-gateway \
 && mkdir -p /app/data \
 && chown 1000:1000 /app/data
# The image's `node` user, by number so that Kubernetes' runAsNonRoot can check it.
USER 1000:1000
# The proxy listener and the admin listener (/healthz, /readyz, /metrics).
EXPOSE 8080 9090
# The config file(s), and the SQLite store with the generated keys (back this one up).
VOLUME ["/app/config", "/app/data"]
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.M2M_ADMIN_PORT||9090)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["m2m-gateway"]
CMD ["serve", "--config", "/app/config/gateway.yaml"]
