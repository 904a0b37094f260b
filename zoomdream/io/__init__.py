"""Input and output on the host: pictures and the canvas's colour space (:mod:`.images`),
ffmpeg for MP4 and GIF (:mod:`.video`), the folder of segments, checkpoints and the
render's record that makes long renders survive anything (:mod:`.parts`), and the sinks
that the render loop hands finished frames to (:mod:`.outputs`).
"""
