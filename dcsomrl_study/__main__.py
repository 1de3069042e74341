"""``python -m dcsomrl_study ARGS``: the same as ``dcsomrl-study ARGS``."""
import sys

from dcsomrl_study.cli import main

sys.exit(main())
