"""The viewer's H.264 decoding: the pictures it pastes, and the streams it refuses."""

from __future__ import annotations

import av
import numpy as np
import pytest

from host_agent.video import VideoEncoder
from protocol import messages
from protocol.errors import ProtocolError
from tests.host_agent.screens import smooth_video
from viewer.video_decode import VideoDecoders

WIDTH, HEIGHT = 320, 192


def packets(count: int, crf: int = 26) -> list[messages.VideoPacket]:
    encoder = VideoEncoder(WIDTH, HEIGHT, crf)
    result = []
    for number in range(count):
        data, keyframe = encoder.encode(smooth_video(number, WIDTH, HEIGHT), number == 0)
        result.append(messages.VideoPacket(3, 16, 8, WIDTH, HEIGHT, keyframe, data))
    return result


def test_decoded_pictures_are_the_pixels_of_pyavs_own_rgb_conversion():
    # The viewer converts YUV to RGB through a numpy array instead of PyAV's to_image
    # (13 ms per 720p picture, most of it copying in Python): the pixels must not change.
    stream = packets(8)
    decoders = VideoDecoders()
    reference = av.CodecContext.create("h264", "r")
    reference.thread_count = 1  # as the viewer decodes: each packet gives its picture
    for packet in stream:
        picture = decoders.decode(packet)
        (frame,) = reference.decode(av.Packet(packet.data))
        assert picture is not None and picture.mode == "RGB"
        assert picture.size == (WIDTH, HEIGHT)
        assert np.array_equal(np.asarray(picture), np.asarray(frame.to_image()))


def test_a_stream_that_does_not_start_with_a_key_frame_is_refused():
    later = packets(2)[1]
    with pytest.raises(ProtocolError, match="key frame"):
        VideoDecoders().decode(later)


def test_a_picture_of_another_size_than_announced_is_refused():
    first = packets(1)[0]
    wrong = messages.VideoPacket(3, 16, 8, WIDTH + 2, HEIGHT, True, first.data)
    with pytest.raises(ProtocolError, match="announced"):
        VideoDecoders().decode(wrong)
