"""Testing circuit hypotheses: necessity against random sets, sufficiency, minimality, edge attributions.

images.py (test-image selection), ablation.py (batched channel ablations), statistics.py (random sets,
configs, z / p), attribution.py (edge attributions), engine.py (one test, no database), plan.py
(a stored circuit -> what to test, with the checks), runner.py (load, run, store), job.py (the queued
job kind), cli.py (`circuitscope circuits test`).
"""
