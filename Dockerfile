# Build stage: compile TypeScript with the dev dependencies.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-fund --no-audit --ignore-scripts
COPY tsconfig.json ./
COPY src ./src
COPY scripts ./scripts
RUN npx tsc -p tsconfig.json

# Runtime stage: production dependencies and the compiled output only.
FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-fund --no-audit --ignore-scripts && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY rules ./rules
COPY riskgate.example.yaml ./riskgate.yaml
USER node
ENV RISKGATE_LISTEN=0.0.0.0:8080
# Kubernetes probes and Prometheus reach a pod on its own address, not its loopback, so the
# admin listener (health, metrics; the admin API only with a token) binds every interface
# inside the container. Publish port 9090 only to the operators' network.
ENV RISKGATE_ADMIN_LISTEN=0.0.0.0:9090
EXPOSE 8080 9090
HEALTHCHECK --interval=10s --timeout=2s --retries=3 \
  CMD node -e "require('http').get('http://127.0.0.1:9090/healthz',r=>process.exit(r.statusCode===200?0:1)).on('error',()=>process.exit(1))"
ENTRYPOINT ["node", "dist/cli/main.js"]
CMD ["start", "--config", "/app/riskgate.yaml"]
