"""The one exception users see: a problem with their input, reported as a single line."""


class NpsrcnnError(Exception):
    """Bad input (a file, a weight, an image, an option). The CLI prints `npsrcnn: <message>` and exits 1.

    The message names the thing and the problem, e.g. ``weights.h5: layer conv2d_2 kernel has shape
    (5, 5, 32) but a conv kernel needs 4 dimensions (kh, kw, c_in, c_out)``.
    """
