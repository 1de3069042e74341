"""The study runner: parameter spaces, LHS designs, storage, workers (SPEC 6).

    space.py       spaces as data (studies/spaces/*.toml): load, validate, write
    design.py      Latin Hypercube designs over a space (scipy.stats.qmc)
    storage.py     Optuna storages by URL (journal file, PostgreSQL), the atomic pop, the journal check
    study.py       create/resume a study, per-trial seeds, its loss (eq. 7), recovering lost trials
    worker.py      a worker process: drain a study's queue
    launch.py      lhs's local workers: devices, processes, supervision
    orchestrate.py run_study: create or resume a study and supervise its local workers
    progress.py    the progress lines and tables of lhs and status (terminal width, plain in a log)
    signals.py     Ctrl-C / SIGTERM: the running trial goes back to the queue
    weights.py     --save-models: which trials keep their autoencoder's weights
    export.py      a study as a tidy table (what the analysis reads)
    arguments.py   the argparse parsers of the lhs, extend, worker, status, export and repair subcommands
    commands.py    their handlers
    cli.py         error handling (one line, exit codes) and a spawned worker's parser
    errors.py      the exceptions (StudiesError and its kinds)
"""
