#!/usr/bin/env bash
# Lint the GitHub Actions workflows (schema + security).
# Needs check-jsonschema and zizmor on PATH, e.g.:
#   python3 -m venv /tmp/lintvenv && /tmp/lintvenv/bin/pip install check-jsonschema zizmor
#   PATH=/tmp/lintvenv/bin:$PATH tools/lint_workflows.sh
set -euo pipefail
cd "$(dirname "$0")/.."
check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yaml
if [ -f .github/dependabot.yml ]; then
  check-jsonschema --builtin-schema vendor.dependabot .github/dependabot.yml
fi
zizmor --offline .github/
