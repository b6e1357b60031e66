"""Files <-> `Volume`: the only package that knows file formats and patient geometry."""

from jaxseg.io.errors import ReadError
from jaxseg.io.info import describe
from jaxseg.io.nifti import read_nifti, write_nifti
from jaxseg.io.volume import Volume

__all__ = ["ReadError", "Volume", "describe", "read_nifti", "write_nifti"]
