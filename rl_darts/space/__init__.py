"""The search space and its networks: ops, genotypes, the DARTS cell
(`MixedOp`, the reference forward), supernets and discrete networks, the
paper cells, cell diagrams, and NASWOT's ReLU recorder."""
