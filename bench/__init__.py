"""Benchmarks: training, inference, data path, end to end and Keras backends, side by side.

``python -m bench`` (``make bench``) runs every workload on the CPU and writes one
JSON file per workload under ``bench/results/``; ``--gpu`` uses the bigger
sizes meant for a CUDA machine, ``--quick`` smaller ones. See
``docs/performance.md`` for the measured numbers and what limits each.

Nothing here is imported by the package; heavy modules load inside functions.
"""
