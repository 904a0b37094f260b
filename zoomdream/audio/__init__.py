"""The soundtrack: decoded, analysed into per-time features (loudness, attacks, beats,
frequency bands), and read by scheduled values that follow the music."""
