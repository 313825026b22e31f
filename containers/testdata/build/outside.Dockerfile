# A Dockerfile that lies outside the build context (TestBuildDockerfilePath).
# COPY . shows what the engine received: the context, without this file.
FROM busybox:latest
COPY . /ctx/
ENV DOCKERFILE=outside
