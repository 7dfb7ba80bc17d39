"""Writes the .npy files tests/test_npy.c reads, with NumPy's own writer (np.save):
a float32 array of shape (2, 3, 4) holding arange(24) / 8 - 1, a 0-d float32, and three that
cnn refuses (float64, Fortran order, big-endian float32).
Run with Debian's /usr/bin/python3 (numpy) from this folder."""
import numpy as np

np.save("a234.npy", np.arange(24, dtype=np.float32).reshape(2, 3, 4) / 8 - 1)
np.save("scalar.npy", np.float32(3.5))
np.save("f64.npy", np.arange(6, dtype=np.float64))
np.save("fortran.npy", np.asfortranarray(np.arange(6, dtype=np.float32).reshape(2, 3)))
np.save("big_endian.npy", np.arange(4, dtype=">f4"))
