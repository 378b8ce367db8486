"""CJ/T 188-2004, the Chinese protocol of water, heat and gas meters: frames, unit codes, the 901F
data block, the serial connection."""
