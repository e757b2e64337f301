# quotagate image: one image for every process; the command picks which
# (`migrate`, `gateway`, `worker`, `demo-upstream`: see docker-compose.yml).

# Build: every dependency (the TypeScript compiler included), then src/ → dist/.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# The workspaces' manifests (the client package, the example app), which the lockfile names.
COPY packages/client/package.json ./packages/client/
COPY examples/hono-app/package.json ./examples/hono-app/
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# Runtime: production dependencies only. Optional ones are left out too: they are the
# embedded PostgreSQL binaries `quotagate start` falls back to on a bare machine, which a
# deployment with its own Postgres never uses.
FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
# Only the gateway's own dependencies: the workspaces (client package, example) are not part of the image.
RUN npm ci --omit=dev --omit=optional --ignore-scripts --no-audit --no-fund --workspaces=false && npm cache clean --force
COPY --from=build /app/dist ./dist
# Found at run time two levels up from dist/<module dir>/, i.e. in /app.
COPY lua ./lua
COPY migrations ./migrations
COPY config ./config
ENV HOST=0.0.0.0 \
    PORT=8080 \
    POLICY_FILE=config/policy.yaml
# The node image's unprivileged user; nothing in /app is writable by it.
USER node
EXPOSE 8080
ENTRYPOINT ["node", "dist/cli/main.js"]
CMD ["gateway"]
