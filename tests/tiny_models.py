"""Small random LLaMA models built from a config (no download), for the reference tests."""

import torch
from transformers import LlamaConfig, LlamaForCausalLM


def tiny_llama(seed=0, layers=2, kv_heads=2):
    """A two-layer LLaMA of hidden size 128 with norms away from 1, and input ids ``[2, 24]``."""
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=64, hidden_size=128, intermediate_size=256,
                         num_hidden_layers=layers, num_attention_heads=4,
                         num_key_value_heads=kv_heads, max_position_embeddings=64)
    config._attn_implementation = "sdpa"
    model = LlamaForCausalLM(config).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name:
                p.uniform_(0.5, 1.5)
    return model, torch.randint(0, 64, (2, 24))
