"""Operations: health checks, Prometheus metrics and structured logs (no Reflex imports)."""
