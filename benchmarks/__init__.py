"""clar_tf's benchmarks: run each as `python -m benchmarks.<name>` from the repository root
(benchmarks/README.md)."""
