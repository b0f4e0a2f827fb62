import os
from pathlib import Path

import matplotlib
matplotlib.use('Agg')   # headless: notebooks draw their figures without a display

from hypothesis import HealthCheck, settings

ROOT = Path(__file__).resolve().parent.parent

# 'ci' (default): enough examples to find shape and option bugs in a few minutes on two cores.
# LOSSBOOK_HYPOTHESIS=thorough for a long local hunt.
settings.register_profile('ci', max_examples=int(os.environ.get("LOSSBOOK_EXAMPLES", 200)), deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large], derandomize=True)
settings.register_profile('thorough', max_examples=1000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.load_profile(os.environ.get('LOSSBOOK_HYPOTHESIS', 'ci'))
