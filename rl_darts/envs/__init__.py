"""Environments and data: Procgen, DM-Control, the synthetic tasks and
image data sets, behind one `Environment` setting."""
