"""donchian_breakout: placeholder until implemented."""
