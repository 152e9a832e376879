"""Operations: Prometheus metrics, health checks and structured logs (no Reflex imports)."""
