"""Makes dm-acme 0.4.0 work on this stack (Python 3.11, TF 2.15, Reverb 0.14).

dm-acme 0.4.0 is installed with `--no-deps` (its metadata pins TF 2.8 and
dm-launchpad, which has no Python 3.11 wheel). Three things then break, all on
import or on the first Reverb write; `install()` handles each and must run
before the first `import acme` (`import rl_darts.agents.acme_compat` does it):

1. `acme.utils.signals` imports `launchpad` for `register_stop_handler` and
   `unregister_stop_handler` only. Without Launchpad there is no program to
   send stop signals, so a minimal `launchpad` module keeps the handlers and
   never fires them (processes here stop by their own step budget or SIGTERM).
   It is installed only when the real dm-launchpad cannot be imported.
2. `acme.adders.reverb.utils` imports `jax.numpy` for one isinstance check that
   no TF adder reaches. A stand-in `jax` is visible only while acme's adders
   import, then removed, so no other library ever sees a fake jax.
3. Reverb 0.14's `Client.trajectory_writer()` no longer accepts
   `get_signature_timeout_ms`, which `ReverbAdder._writer` passes; the property
   is replaced by one that omits it.
"""

import importlib.util
import sys
import time
import types

_INSTALLED = False


def _install_launchpad_stand_in() -> None:
  if importlib.util.find_spec('launchpad') is not None:
    return
  launchpad = types.ModuleType('launchpad')
  launchpad.__doc__ = 'rl_darts stand-in: stop handlers only (no Launchpad).'
  handlers = []
  launchpad.register_stop_handler = handlers.append
  launchpad.unregister_stop_handler = handlers.remove
  sys.modules['launchpad'] = launchpad


def _import_adders_without_jax() -> None:
  stand_ins = {}
  if importlib.util.find_spec('jax') is None:
    jax = types.ModuleType('jax')
    jax.numpy = types.ModuleType('jax.numpy')
    jax.numpy.DeviceArray = type('DeviceArray', (), {})  # Matches nothing.
    stand_ins = {'jax': jax, 'jax.numpy': jax.numpy}
  sys.modules.update(stand_ins)
  try:
    importlib.import_module('acme.adders.reverb')
  finally:
    for name in stand_ins:
      del sys.modules[name]


def _patch_trajectory_writer() -> None:
  from acme.adders.reverb import base  # pylint: disable=g-import-not-at-top

  def writer(self):
    if self._ReverbAdder__writer is None:  # pylint: disable=protected-access
      self._ReverbAdder__writer = self._client.trajectory_writer(  # pylint: disable=protected-access
          num_keep_alive_refs=self._max_sequence_length)
      self._writer_created_timestamp = time.time()
    return self._ReverbAdder__writer  # pylint: disable=protected-access

  base.ReverbAdder._writer = property(writer)  # pylint: disable=protected-access


def install() -> None:
  """Applies the three fixes once; call before the first acme import."""
  global _INSTALLED
  if _INSTALLED:
    return
  _install_launchpad_stand_in()
  _import_adders_without_jax()
  _patch_trajectory_writer()
  _INSTALLED = True


install()
