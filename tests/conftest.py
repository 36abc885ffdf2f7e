"""Test setup: rl_darts first (it quiets TF before TF loads)."""

import rl_darts  # pylint: disable=unused-import
