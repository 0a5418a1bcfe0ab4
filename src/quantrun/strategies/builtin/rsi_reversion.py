"""rsi_reversion: placeholder until implemented."""
