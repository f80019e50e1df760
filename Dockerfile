# The web app: Django served by uvicorn (ASGI, which the event streams need).
# Configured only by environment variables; see docker-compose.yml and README "Configuration".
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .
# Static files are collected at build time (whitenoise serves them); the key is only for this step.
RUN SECRET_KEY=collectstatic-only DEBUG=0 python manage.py collectstatic --noinput --verbosity 0 \
    && useradd --create-home --uid 1000 app \
    && chown -R app /app
USER app

EXPOSE 8000
# Migrate, load the demo universe only into an empty database, then serve.
CMD ["sh", "-c", "python manage.py migrate --noinput && python manage.py load_demo --if-empty && exec uvicorn backtest_site.asgi:application --host 0.0.0.0 --port 8000 --timeout-graceful-shutdown 5"]
