"""The study runner: parameter spaces, LHS designs, storage, workers (SPEC 6).

    space.py     spaces as data (studies/spaces/*.toml): load, validate, write
    design.py    Latin Hypercube designs over a space (scipy.stats.qmc)
    storage.py   Optuna storages by URL (journal file, PostgreSQL), the atomic pop
    study.py     create/resume a study, per-trial seeds, recovering lost trials
    worker.py    a worker process: drain a study's queue
    launch.py    lhs's local workers: devices, processes, supervision
    export.py    a study as a tidy table (what the analysis reads)
    commands.py  the lhs, worker, status and export subcommands
    errors.py    the exceptions (StudiesError and its kinds)
"""
