# Three stages; the compose file builds the "test" one with a Dockerfile of this name.
FROM busybox:latest AS base
ARG GREETING=unset
RUN echo "base $GREETING" > /stage.txt
FROM base AS test
RUN echo "test stage after $(cat /stage.txt)" > /stage.txt
FROM base AS final
RUN echo "final stage" > /stage.txt
