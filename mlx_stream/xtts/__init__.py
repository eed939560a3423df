"""XTTS v2 in MLX, part by part: text front end, voice conditioning, GPT, sampling, HiFi-GAN.

Nothing here imports torch; `convert.xtts` (which does) turns coqui's checkpoint into this layout.
"""
