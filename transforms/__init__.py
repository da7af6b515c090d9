"""Pure image functions (sampling, blur, codecs, keys) and the Beam layer that wires them."""
