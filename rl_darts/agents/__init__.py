"""The RL agents whose encoder is searched: PPO (TF-Agents), Rainbow (Acme)
and SAC, with the Acme compatibility layer and exact gradient accumulation."""
