"""rl-darts: differentiable architecture search in and with reinforcement learning."""

from rl_darts.runtime import logs

logs.quiet_by_default()
