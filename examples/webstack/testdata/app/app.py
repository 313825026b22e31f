"""A visit counter: Flask in front of Redis.

GET /        counts the visit in Redis and answers {"visits": n, "served_by": host}.
GET /health  answers 200 when Redis answers a PING, 503 otherwise.

Redis is found at $REDIS_HOST:$REDIS_PORT ("redis:6379" on the stack's network).
When Redis cannot be reached, both endpoints answer 503 with the reason instead of
crashing, and the next request tries again: the application recovers by itself
when Redis is back.
"""

import os
import socket

import redis
from flask import Flask, jsonify
from redis.backoff import NoBackoff
from redis.retry import Retry

app = Flask(__name__)

store = redis.Redis(
    host=os.environ.get("REDIS_HOST", "redis"),
    port=int(os.environ.get("REDIS_PORT", "6379")),
    socket_connect_timeout=1,
    socket_timeout=2,
    # A pooled connection to a Redis that has since restarted fails once (reset, or
    # silence when Redis came back on another address); reconnect and try again
    # instead of failing the request. After a timeout, the retried INCR may count a
    # visit twice: better than an error page, for a visit counter.
    retry=Retry(NoBackoff(), 1),
    retry_on_error=[redis.exceptions.ConnectionError, redis.exceptions.TimeoutError],
)


def unavailable(err):
    app.logger.warning("redis unavailable: %s", err)
    return jsonify(error="redis unavailable", detail=str(err)), 503


@app.get("/")
def visit():
    try:
        visits = store.incr("visits")
    except redis.exceptions.RedisError as err:
        return unavailable(err)
    return jsonify(visits=visits, served_by=socket.gethostname())


@app.get("/health")
def health():
    try:
        store.ping()
    except redis.exceptions.RedisError as err:
        return unavailable(err)
    return jsonify(status="ok", redis="up")
