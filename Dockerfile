# syntax=docker/dockerfile:1
# yixiang (仪享): one image, two process roles.
#   API:        docker run IMAGE                      (= yixiang serve --host 0.0.0.0 --port 8000)
#   Worker:     docker run IMAGE worker
#   Migrations: docker run IMAGE db upgrade
# The base image by exact version and by digest (the multi-platform index), so every build
# starts from the same bytes. To move to a newer patch release or a rebuilt image, look the
# digest up and change both parts together:
#   docker buildx imagetools inspect python:3.11.14-slim-bookworm     (the "Digest:" line)
# or `docker pull python:3.11.14-slim-bookworm` and read its RepoDigests.
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm@sha256:65a93d69fa75478d554f4ad27c85c1e69fa184956261b4301ebaf6dbb0a3543d

# ---------------------------------------------------------------------------------------
# Builder: install the runtime dependencies (pyproject.toml's, not the dev group) at the
# versions constraints.txt pins, each file checked against the hashes pinned there (uv.lock is
# not committed because it records download addresses), then the project, into /opt/venv.
# ---------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_NO_CACHE=1 \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3.11 \
    UV_PROJECT_ENVIRONMENT=/opt/venv

RUN pip install "uv==0.13.9"

WORKDIR /src

RUN uv venv /opt/venv
ENV VIRTUAL_ENV=/opt/venv
COPY pyproject.toml README.md constraints.txt ./
RUN uv pip install --no-cache --require-hashes -c constraints.txt -r pyproject.toml

# ... then the project itself, installed as a regular (non-editable) wheel, its dependencies
# already there.
COPY yixiang ./yixiang
COPY accounts ./accounts
COPY catalogue ./catalogue
COPY booking ./booking
COPY results ./results
COPY ratings ./ratings
COPY vouchers ./vouchers
COPY search ./search
COPY bot ./bot
COPY console ./console
COPY oversight ./oversight
RUN uv pip install --no-cache --no-deps . \
 && /opt/venv/bin/python -c "import yixiang, accounts, catalogue, booking, results, ratings, vouchers, search, bot, console, oversight"

# ---------------------------------------------------------------------------------------
# Runtime: no compilers, no uv, no source tree; only the virtualenv and a non-root user.
# ---------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

ENV PATH=/opt/venv/bin:$PATH \
    VIRTUAL_ENV=/opt/venv \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    YIXIANG_DATA_DIR=/var/lib/yixiang

RUN groupadd --system --gid 10001 yixiang \
 && useradd --system --uid 10001 --gid 10001 --no-create-home \
        --home-dir /var/lib/yixiang --shell /usr/sbin/nologin yixiang \
 && install -d -o 10001 -g 10001 -m 0750 /var/lib/yixiang

COPY --from=builder /opt/venv /opt/venv

WORKDIR /var/lib/yixiang
USER 10001:10001

EXPOSE 8000

# No HEALTHCHECK: the same image also runs the worker and the migration, which serve no
# HTTP. Kubernetes uses the /health and /ready probes in k8s/base/api-deployment.yaml.
ENTRYPOINT ["yixiang"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
