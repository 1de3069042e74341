"""The study runner: parameter spaces, LHS designs, storage, workers (SPEC 6).

    space.py       spaces as data (studies/spaces/*.toml): read the TOML into dimensions, check them
                   against the model's parameter registry once, write
    design.py      Latin Hypercube designs over a space (scipy.stats.qmc)
    storage.py     Optuna storages by URL (journal file, PostgreSQL), the atomic pop, the journal check
    study.py       create/resume a study, per-trial seeds, its loss (eq. 7), recovering lost trials
    drain.py       what a worker does: take a study's waiting trials and train them until none remain
    launch.py      lhs's local workers: devices, processes, supervision (the poll step)
    orchestrate.py run_study: create or resume a study and supervise its local workers; study names
    progress.py    the progress lines and tables of lhs and status (terminal width, plain in a log)
    signals.py     Ctrl-C / SIGTERM: the running trial goes back to the queue
    weights.py     --save-models: which trials keep their autoencoder's weights
    export.py      a study as a tidy table (what the analysis reads)
    where.py       Where: storage, results, data, slots and kept weights; its run() calls run_study
    arguments.py   the options the commands share (argparse types and add_* helpers)
    commands.py    the lhs, extend, status, export and repair subcommands: each parser beside its handler
    worker.py      the worker subcommand, and a worker process's one entry point: python -m studies.worker
    cli.py         the parser classes and error handling (one line, exit codes) of both entry points
    errors.py      the exceptions (StudiesError and its kinds) and the exit statuses (Exit)

Entry points: ``dcsomrl-study`` (:mod:`dcsomrl_study.cli`) and a worker
process, ``python -m studies.worker``. The path from ``dcsomrl-study lhs`` to a
worker's first trial: ``commands.lhs_command`` -> ``orchestrate.run_study`` ->
``launch.supervise`` / ``launch.spawn`` (``python -m studies.worker``) ->
``worker.main`` -> ``worker.worker_command`` -> ``drain.run_worker`` ->
``drain.run_one`` -> the model's trial function (:mod:`dcsomrl.models`).
"""
