"""npsrcnn: SRCNN (Dong, Loy, He, Tang 2014) from scratch in NumPy and Numba.

>>> import numpy as np, npsrcnn
>>> model = npsrcnn.SRCNN.build("9-1-5", filters=(64, 32), padding="same")
>>> model.forward(np.zeros((20, 20), np.float32)).shape
(20, 20)
"""

from npsrcnn.chunked import predict_dask
from npsrcnn.color import luma, rgb_to_y, rgb_to_ycbcr, ycbcr_to_rgb
from npsrcnn.errors import NpsrcnnError
from npsrcnn.image import from_float, modcrop, read_image, shave, to_float, write_image
from npsrcnn.metrics import mse, psnr, ssim
from npsrcnn.model import SRCNN, ConvLayer
from npsrcnn.modelfile import shipped_scales, shipped_weights
from npsrcnn.predict import predict
from npsrcnn.resize import degrade, imresize, resize

__version__ = "0.1.0"
__all__ = [
    "SRCNN",
    "ConvLayer",
    "NpsrcnnError",
    "predict",
    "predict_dask",
    "read_image",
    "write_image",
    "to_float",
    "from_float",
    "modcrop",
    "shave",
    "degrade",
    "resize",
    "imresize",
    "rgb_to_ycbcr",
    "ycbcr_to_rgb",
    "rgb_to_y",
    "luma",
    "psnr",
    "mse",
    "ssim",
    "shipped_weights",
    "shipped_scales",
]
