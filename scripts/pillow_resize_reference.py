#!/usr/bin/env python3
"""Reference digests for Reparo's ImageResizing tests, computed by Pillow (Debian's python3-pil) as torchvision's
Resize computes them on PIL images: Image.resize((W, H), Image.BILINEAR).

Each case's input is H x W pixels of C channels whose byte i is ((i * 2654435761) mod 2**32) >> 24; the output is
printed as: mode, input H, input W, output H, output W, SHA-256 of the output bytes (row-major, channels interleaved).
Then the test fixture tests/Reparo.Tests/Fixtures/pillow-reference.jpg (24 x 20, quality 75, 4:2:0, made by Pillow)
as Image.open(path).convert("RGB") decodes it, at its size and resized to 11 x 13.
Usage (from the repository root): python3 scripts/pillow_resize_reference.py
"""
import hashlib
import PIL
from PIL import Image

CASES = [("RGB", 37, 53, 24, 34), ("RGB", 37, 53, 100, 143), ("RGB", 37, 53, 16, 20), ("RGB", 37, 53, 37, 20),
         ("RGB", 37, 53, 50, 53), ("L", 64, 48, 7, 5), ("RGB", 300, 200, 224, 149)]

print("# Pillow", PIL.__version__)
for mode, h, w, out_h, out_w in CASES:
    channels = len(mode)
    data = bytes(((i * 2654435761) % 2**32) >> 24 for i in range(h * w * channels))
    image = Image.frombytes(mode, (w, h), data).resize((out_w, out_h), Image.BILINEAR)
    print(mode, h, w, out_h, out_w, hashlib.sha256(image.tobytes()).hexdigest())

jpeg = Image.open("tests/Reparo.Tests/Fixtures/pillow-reference.jpg").convert("RGB")
for out_h, out_w in [(jpeg.height, jpeg.width), (11, 13)]:
    image = jpeg if (out_h, out_w) == (jpeg.height, jpeg.width) else jpeg.resize((out_w, out_h), Image.BILINEAR)
    print("JPEG", jpeg.height, jpeg.width, out_h, out_w, hashlib.sha256(image.tobytes()).hexdigest())
