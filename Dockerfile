# pve-evacuate: one image for the worker, the bot, the lab and the CLI.
# The project ships TypeScript run by tsx (a runtime dependency), so there is no build step:
# `npm ci --omit=dev` keeps tsx and drops typescript, vitest and biome, which only check the code.

FROM node:20-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

FROM node:20-bookworm-slim
# iputils-ping: the ICMP probe (QOS_METHOD=icmp). fonts-dejavu-core: text in the QoS charts (resvg
# uses system fonts). libcap2-bin: setcap, so ping carries CAP_NET_RAW as a file capability instead
# of being setuid root.
RUN apt-get update \
 && apt-get install -y --no-install-recommends iputils-ping libcap2-bin fonts-dejavu-core \
 && setcap cap_net_raw+ep /bin/ping \
 && rm -rf /var/lib/apt/lists/*

ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY . .
# `pve-evacuate` on the PATH; /var/lib/pve-evacuate/lab is where the demo lab publishes its CA for the
# other containers (a named volume is mounted there and inherits the ownership).
RUN ln -s /app/bin/pve-evacuate.js /usr/local/bin/pve-evacuate \
 && mkdir -p /var/lib/pve-evacuate/lab \
 && chown -R node:node /var/lib/pve-evacuate

# Non-root. ICMP probes still work: Docker grants NET_RAW by default and ping has it as a file
# capability (runtimes that drop it, e.g. Podman or a restricted Kubernetes profile, need
# `cap_add: [NET_RAW]`); Docker's default net.ipv4.ping_group_range also allows ICMP without it.
USER node

# /metrics and /healthz when METRICS_PORT is set (docker-compose.yml sets 9464).
EXPOSE 9464
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD node -e "const p=process.env.METRICS_PORT; if(!p) process.exit(0); fetch('http://127.0.0.1:'+p+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"

ENTRYPOINT ["node", "/app/bin/pve-evacuate.js"]
CMD ["--help"]
