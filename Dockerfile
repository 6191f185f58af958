FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends nodejs npm && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY backend backend
RUN pip install --no-cache-dir -e ".[ray]"
COPY frontend frontend
RUN npm --prefix frontend install --no-audit --no-fund && npm --prefix frontend run build
COPY scripts scripts
# The container listens on all interfaces, so it is multi-user by default: no local admin that every visitor
# would act as (`serve` refuses that combination). Create accounts with
#   docker run ... circuitscope users create NAME --role admin --prompt
# and list the names the server is reached by in CIRCUITSCOPE_ALLOWED_HOSTS (e.g. "microscope.lab.example").
ENV CIRCUITSCOPE_DATA_DIR=/data CIRCUITSCOPE_HOST=0.0.0.0 CIRCUITSCOPE_LOCAL_USER= \
    CIRCUITSCOPE_ALLOWED_HOSTS=localhost,127.0.0.1
EXPOSE 8000
CMD ["circuitscope", "serve"]
