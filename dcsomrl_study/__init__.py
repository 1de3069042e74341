"""``dcsomrl-study``: the one entry point, above the three layers (analysis -> studies -> dcsomrl).

:mod:`dcsomrl_study.cli` imports each layer's commands statically; no layer
imports this package.
"""
