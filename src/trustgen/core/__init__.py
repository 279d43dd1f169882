"""Method-agnostic building blocks: errors, config, runs, safe IO, data, metrics, zoo."""
