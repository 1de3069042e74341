"""``dcsomrl-study inspect RUN_DIR``: the paper's qualitative figures for one trained model.

For a trial's run directory (from ``train``, ``lhs`` or ``final``) it writes,
into ``RUN_DIR/inspect/`` unless ``--out`` says otherwise, PNGs of

* the histogram of all relevances (paper Fig. 2),
* the effect of disturbing dimensions of low or high relevance (Fig. 3), measured,
* a sweep of one highly relevant latent dimension (Fig. 4),
* a joint t-SNE of encoded test samples and prototypes with the map's topology (Fig. 5),
* prototypes beside their nearest test samples (Fig. 10) and the clusters-vs-classes matrix (A.3),
* the validation curve of Purity and NMI (Fig. 7),

and ``inspect.md``, which shows them with one line of reading each.

Modules: :mod:`.data` (pure, seeded functions computing each figure's data),
:mod:`.plots` (thin matplotlib Agg renderers), :mod:`.report`
(:func:`analysis.inspect.report.write_inspection`: load, compute, draw, write
the page). This module only registers the command: importing it loads
neither torch nor numpy (``dcsomrl-study --help`` stays fast).
"""
from __future__ import annotations

__all__ = ["add_commands", "cmd_inspect"]


def add_commands(subparsers) -> None:
    """Register ``inspect`` on the ``dcsomrl-study`` subcommand parser."""
    p = subparsers.add_parser(
        "inspect", help="qualitative figures of one trained model (paper Figs. 2-5, 7, 10)",
        description="Write the paper's qualitative figures (relevance histogram, perturbation "
                    "effect, latent traversal, t-SNE with topology, nearest samples, clusters vs "
                    "classes, validation curve) for one run directory, and inspect.md reading them.")
    p.add_argument("run_dir", metavar="RUN_DIR", help="a trial's run directory (from train, lhs or final)")
    p.add_argument("--out", help="output folder (default: RUN_DIR/inspect)")
    p.add_argument("--data-dir", help="data directory (default: $DCSOMRL_DATA or ~/.cache/dcsomrl)")
    p.add_argument("--tsne-samples", type=int, default=2000,
                   help="test samples embedded by t-SNE, a seeded subsample")
    p.add_argument("--seed", type=int, default=0, help="seed of the subsample, t-SNE and perturbations")
    p.set_defaults(func=cmd_inspect)


def cmd_inspect(args) -> int:
    """``dcsomrl-study inspect``: :func:`analysis.inspect.report.write_inspection`, then its path."""
    from .report import write_inspection

    page = write_inspection(args.run_dir, args.out, args.data_dir, tsne_samples=args.tsne_samples, seed=args.seed)
    print(f"inspection page: {page}")
    return 0
