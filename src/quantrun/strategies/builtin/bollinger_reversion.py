"""bollinger_reversion: placeholder until implemented."""
