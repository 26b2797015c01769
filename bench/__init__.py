"""The benchmarks (`make bench` runs `bench.suite`) and, in `bench.calibrate`, the scripts that fit defaults.
Run each as a module from the repository: `python -m bench.suite`, `python -m bench.calibrate.fusion_sweep`."""
