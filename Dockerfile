# gitmesh itself: the control plane compose.yaml runs.
FROM node:20-slim
WORKDIR /gitmesh
COPY package.json package-lock.json tsconfig.json ./
COPY protos protos
COPY schemas schemas
COPY src src
COPY test test
COPY bench bench
RUN npm ci --no-audit --no-fund && npm run build && npm prune --omit=dev
EXPOSE 15010 15012 15014
ENTRYPOINT ["node", "dist/src/cli/main.js"]
