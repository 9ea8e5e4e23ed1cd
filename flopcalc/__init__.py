"""flopcalc: exact FLOP, parameter and shape tables for decoder-only transformers.

>>> from flopcalc import Config, Conventions, flop_report, param_report
>>> flop_report(Config()).block_total          # GPT-2 small, 128 tokens, 2 FLOPs per MAC
1862270976
>>> param_report(Config()).total
124439808
>>> from flopcalc.architectures.presets import preset_architecture
>>> llama = preset_architecture("meta-llama/Llama-3.1-8B")   # an Architecture: no workload
>>> param_report(llama).total
8030261248
>>> flop_report(llama, workload=Workload(batch=1, seq_len=128)).total
1929782493184

Everything here is exact integer arithmetic; ``flopcalc.formulas`` (sympy) gives the same
counts as formulas.
"""

__version__ = "0.1.0"

from .architecture import Architecture, Workload
from .analysis import FlopReport, ParamReport, ShapeReport, flop_report, param_report, shape_report
from .config import PRESETS, Config, Conventions, FlopcalcError, Mode, load_hf_config, make_config
from .model import ELEMENTWISE_COST, Dims, Op, Param, build_ops

__all__ = [
    "Architecture", "Workload", "Config", "Conventions", "Dims", "Mode", "ELEMENTWISE_COST", "FlopReport", "FlopcalcError", "Op",
    "PRESETS", "Param", "ParamReport", "ShapeReport", "build_ops", "flop_report",
    "load_hf_config", "make_config", "param_report", "shape_report", "__version__",
]
