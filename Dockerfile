FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends nodejs npm && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY backend backend
RUN pip install --no-cache-dir -e ".[ray]"
COPY frontend frontend
RUN npm --prefix frontend install --no-audit --no-fund && npm --prefix frontend run build
COPY scripts scripts
ENV CIRCUITSCOPE_DATA_DIR=/data CIRCUITSCOPE_HOST=0.0.0.0
EXPOSE 8000
CMD ["circuitscope", "serve"]
