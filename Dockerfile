# patchcord's node agent image: the multi-call binary, built from this tree, on a small Debian base
# with the tools the agent and the plugins run. The manifests use it as patchcord:0.1.0:
#   docker build -t patchcord:0.1.0 .
# Both bases are build arguments so that a machine without a registry can substitute local ones
# (scripts/image/build.sh does, with buildah).
ARG NODE_IMAGE=node:20-bookworm-slim
ARG RUNTIME_IMAGE=debian:bookworm-slim

FROM ${NODE_IMAGE} AS build
# gcc and libc6-dev build QuickJS and the native shim (dist/bin/patchcord-shim) from the sources
# npm ci brings (the package qjsc, whose own install script .npmrc turns off).
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc libc6-dev \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin
WORKDIR /src
# Dependencies first: a change to the sources alone reuses this layer.
COPY package.json package-lock.json .npmrc ./
RUN npm ci --no-audit --no-fund
COPY . .
# Bun (from node_modules) compiles everything into one self-contained executable; QuickJS compiles
# the shim that the agent installs under the plugins' names.
RUN npm run build && dist/bin/patchcord --version && test -x dist/bin/patchcord-shim && test -f dist/bin/patchcord-syscall.node

FROM ${RUNTIME_IMAGE}
# An ARG, not an ENV: it quiets debconf during the build without staying in the image.
ARG DEBIAN_FRONTEND=noninteractive
# iproute2: ip; nftables: nft (masquerade, ipMasq); iptables: iptables-restore for nodes whose
# rules are in iptables. Nothing else: the binary carries its own runtime.
RUN apt-get update \
 && apt-get install -y --no-install-recommends iproute2 nftables iptables \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin
COPY --from=build /src/dist/bin/patchcord /src/dist/bin/patchcord-shim /src/dist/bin/patchcord-syscall.node /usr/local/bin/
ENTRYPOINT ["/usr/local/bin/patchcord"]
CMD ["agent"]
