"""``dcsomrl-study``: the one command-line entry point, above the three layers (analysis -> studies -> dcsomrl).

    cli.py       the parser: ``train`` and the static registry of every layer's subcommands; ``main``
    __main__.py  ``python -m dcsomrl_study ARGS``, the same as ``dcsomrl-study ARGS``

:mod:`dcsomrl_study.cli` imports each layer's commands statically; no layer
imports this package. (A worker process has its own entry point,
``python -m studies.worker``, which the study runner starts.)
"""
