"""Tracing without AutoGraph.

This project's networks loop in plain Python over cells, edges and ops, so
AutoGraph, which TF-Agents' and Acme's `tf.function`s turn on, has nothing to
convert in them: it would only rewrite and re-parse their source on each
process's first trace. The library's and launchers' `tf.function`s pass
`autograph=False`; every network model (the encoders, the DARTS networks and
the agents' networks, which TF-Agents' and Acme's `tf.function`s call) marks
its `call` with `no_autograph`, which covers every layer it calls in turn.
"""

from __future__ import annotations

import inspect
from typing import Callable, TypeVar

import tensorflow as tf

Call = TypeVar('Call', bound=Callable)


def no_autograph(call: Call) -> Call:
  """A Keras `call` traced as plain Python (and the layers it calls), its
  signature kept: Keras reads it to pass `training` and split the inputs."""
  unconverted = tf.autograph.experimental.do_not_convert(call)
  unconverted.__signature__ = inspect.signature(call)
  return unconverted
