"""Hand-written kernels (installed as npsrcnn.kernels): one file per op and target, numbered versions."""
