"""XTTS v2 in MLX, part by part: text front end, voice conditioning, GPT, sampling, HiFi-GAN.

Nothing here imports torch, not even `weights.convert`, which reads coqui's `model.pth` with
`mlx_stream.torchfile`.
"""
