"""absl launchers. rl_darts is imported first so that TF starts quiet."""

import rl_darts  # pylint: disable=unused-import
