"""pausegate_codecs: pure media code (codec facts, silence, G.711, DTMF); no sockets, no clocks."""
