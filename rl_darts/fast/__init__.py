"""The speed paths: the cells' fast forward (`cells`) and its compiled
mixing kernel (`fused`, `kernels/`), tested equal to the reference."""
