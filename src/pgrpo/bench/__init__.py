"""LCB-RB: the benchmark of reasoning reward models built from LiveCodeBench (`pgrpo bench build`)."""
