"""The toy code world behind `pgrpo demo`: generator, exact oracle, rule-based editor, demo pipeline."""
