# syntax=docker/dockerfile:1
# One image for every role of the platform; ROLES picks what a container runs (docker-compose.yml
# runs it as `api` and as `ingest`). Build: docker compose build, or docker build -t recovery-telematics .

ARG NODE_IMAGE=node:20-bookworm-slim
# The lockfile is written by npm 11 (the project's npm); node 20 images ship npm 10.
ARG NPM_VERSION=11.19.1

# --- build: all dependencies, the web app, then drop the dev dependencies -------------------------
FROM ${NODE_IMAGE} AS build
ARG NPM_VERSION
WORKDIR /app
RUN npm install -g "npm@${NPM_VERSION}" --no-audit --no-fund
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build:web \
  && npm prune --omit=dev --no-audit --no-fund \
  && rm -rf /root/.npm

# --- runtime -------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    PORT=8080 \
    DATA_DIR=/app/data
WORKDIR /app
# The code is owned by root and read-only for the app; only DATA_DIR and /app/broker (the device
# password file the broker reads, on a volume shared with it) are writable.
COPY --from=build /app /app
RUN mkdir -p /app/data /app/broker && chown node:node /app/data /app/broker
USER node
EXPOSE 8080
# /api/health answers 200 when the database and the broker are reachable, 503 otherwise.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/api/health').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# tsx is a runtime dependency: the TypeScript runs as it is, no separate compile step.
CMD ["node", "--import", "tsx", "main.ts"]
