"""Test setup: rl_darts first (it quiets TF before TF loads)."""

import rl_darts  # pylint: disable=unused-import

# The longest test first: on 2 xdist workers it then overlaps the rest of the
# suite instead of running alone at the end.
LONGEST = ('tests/test_study.py',)


def pytest_collection_modifyitems(items):
  items.sort(key=lambda item: not item.nodeid.startswith(LONGEST))
