"""clar_tf: Contrastive Learning of Auditory Representations (CLAR) in Keras 3 / TensorFlow.

Al-Tahan & Mohsenzadeh, "CLAR: Contrastive Learning of Auditory Representations",
AISTATS 2021. See README.md for usage.
"""
__version__ = "0.1.0"
