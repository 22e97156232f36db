"""pausegate_codecs against independent references: CPython's audioop (G.711) and FFmpeg via PyAV.

The registry's silence facts are checked by decoding them with a real decoder,
after real audio, as a recorder would.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from pausegate_codecs import registry
from pausegate_codecs.g711 import decode_alaw, decode_ulaw, encode_alaw, encode_ulaw

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

av = pytest.importorskip("av")

ALL_CODES = bytes(range(256))
ALL_SAMPLES = np.arange(-32768, 32768, dtype=np.int16)


def test_decode_matches_audioop_for_every_code() -> None:
    ulaw = np.frombuffer(audioop.ulaw2lin(ALL_CODES, 2), dtype=np.int16)
    alaw = np.frombuffer(audioop.alaw2lin(ALL_CODES, 2), dtype=np.int16)
    np.testing.assert_array_equal(decode_ulaw(ALL_CODES), ulaw)
    np.testing.assert_array_equal(decode_alaw(ALL_CODES), alaw)


def test_alaw_encode_matches_audioop_for_every_sample() -> None:
    assert encode_alaw(ALL_SAMPLES) == audioop.lin2alaw(ALL_SAMPLES.tobytes(), 2)


def test_ulaw_encode_is_within_one_step_of_audioop() -> None:
    """audioop shifts before taking the magnitude (rounding negatives towards -inf); the
    ITU-T G.191 reference and pausegate take the magnitude first. Both are G.711:
    they differ by one code at a few negative step boundaries, never more."""
    ours = decode_ulaw(encode_ulaw(ALL_SAMPLES)).astype(np.int32)
    ref = decode_ulaw(audioop.lin2ulaw(ALL_SAMPLES.tobytes(), 2)).astype(np.int32)
    differ = np.nonzero(ours != ref)[0]
    assert np.all(ALL_SAMPLES[differ] < 0)
    assert len(differ) < 512
    # One step: the two decoded values are neighbours in the µ-law table.
    steps = np.sort(np.unique(decode_ulaw(ALL_CODES).astype(np.int32)))
    index = {int(v): i for i, v in enumerate(steps)}
    assert all(
        abs(index[int(a)] - index[int(b)]) == 1
        for a, b in zip(ours[differ], ref[differ], strict=True)
    )
    positive = ALL_SAMPLES >= 0
    assert encode_ulaw(ALL_SAMPLES[positive]) == audioop.lin2ulaw(
        ALL_SAMPLES[positive].tobytes(), 2
    )


@pytest.mark.parametrize(
    ("codec", "decode"), [(registry.PCMU, decode_ulaw), (registry.PCMA, decode_alaw)]
)
def test_g711_silence_decodes_to_zero_or_the_smallest_step(
    codec: registry.Codec, decode: object
) -> None:
    silence = codec.silence(160)
    assert len(silence) == 160
    assert np.abs(decode(silence)).max() <= 8  # type: ignore[operator]


def test_l16_silence_is_zero_samples() -> None:
    codec = registry.lookup("L16", 16000, 2)
    assert codec is not None
    assert codec.sample_gated
    assert codec.bytes_per_tick == 4
    assert codec.silence(640) == b"\x00" * 640


def _encode(
    name: str, rate: int, layout: str, frames: int, samples: int, seed: int = 1
) -> list[bytes]:
    rng = np.random.default_rng(seed)
    enc = av.CodecContext.create(name, "w")
    enc.sample_rate = rate
    enc.layout = layout
    enc.format = "s16"
    channels = 2 if layout == "stereo" else 1
    out: list[bytes] = []
    for i in range(frames):
        pcm = (rng.standard_normal((1, samples * channels)) * 4000).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout=layout)
        frame.sample_rate = rate
        frame.pts = i * samples
        out.extend(bytes(p) for p in enc.encode(frame))
    return out


def _decoder(name: str, rate: int, layout: str) -> object:
    dec = av.CodecContext.create(name, "r")
    dec.sample_rate = rate
    dec.layout = layout
    return dec


def _peaks(dec: object, packets: list[bytes]) -> list[int]:
    peaks: list[int] = []
    for p in packets:
        for frame in dec.decode(av.Packet(p)):  # type: ignore[attr-defined]
            peaks.append(int(np.abs(frame.to_ndarray()).max()))
    return peaks


def test_g722_silence_byte_decodes_below_minus_40_dbfs_after_speech() -> None:
    speech = b"".join(_encode("g722", 16000, "mono", 10, 320))
    dec = _decoder("g722", 16000, "mono")
    _peaks(dec, [speech])
    silence = registry.G722.silence(160)
    assert silence is not None
    assert len(silence) == 160
    peaks = _peaks(dec, [silence] * 5)
    # The ADPCM predictor needs the first packet to settle; then it stays below -40 dBFS.
    assert max(peaks[1:]) < 32768 * 10 ** (-40 / 20)


def test_opus_silence_keeps_the_duration() -> None:
    packets = _encode("libopus", 48000, "stereo", 6, 960)
    for p in packets:
        silent = registry.OPUS.silence(p)
        assert silent is not None
        assert registry.OPUS.samples(silent) == registry.OPUS.samples(p) == 960


def test_opus_silence_is_silent_after_one_packet() -> None:
    """Empty frames would be concealed (the decoder extrapolates the audio before the
    pause for about 100 ms); encoded silence goes quiet after the codec's overlap."""
    packets = _encode("libopus", 48000, "stereo", 6, 960)
    dec = _decoder("libopus", 48000, "stereo")
    _peaks(dec, packets[:4])
    peaks = _peaks(dec, [registry.OPUS.silence(packets[4]) or b""] * 5)
    # The first packet may still carry the codec's overlap with the last real frame.
    assert max(peaks[1:]) < 32768 * 10 ** (-40 / 20)
