"""Random-weight GGUF files with the real tensor names, shapes and metadata of
the model families Hearth claims, scaled down (few layers, narrow) but keeping
each family's head size, grouped-query ratio and rope variant.

Run by `cargo xtask verify-models` in a venv with the `gguf` package (llama.cpp's
own writer) and numpy:

    python make_model.py SHAPE TOKENIZER.gguf OUT.gguf

The tokenizer (and its metadata) is copied from TOKENIZER.gguf, so text is real.
The `FULL` shapes (`cargo xtask verify-models --full`) are the real models'
layer counts, widths and vocabulary sizes; their vocabulary is the copied one
padded with control tokens to the real size, and their tensors are generated
and written one at a time (an 8B file never sits in memory whole).
Weights are scaled so the logits are peaked like a trained model's (a standard
deviation of about 4 nats), not flat.
"""

import math
import sys

import numpy as np
import gguf

# name: (arch, layers, d_model, heads, kv_heads, head_dim, ffn, extra)
SHAPES = {
    # Llama 3.2 1B: head 64, 32/8 heads, llama3 rope scaling (factor 32).
    "llama-3.2-1b": ("llama", 2, 512, 8, 2, 64, 1024, {"rope_base": 500000.0, "llama3_factor": 32.0}),
    # Llama 3.1 8B: head 128, 32/8 heads, llama3 rope scaling (factor 8).
    "llama-3.1-8b": ("llama", 2, 512, 4, 1, 128, 1024, {"rope_base": 500000.0, "llama3_factor": 8.0}),
    # Mistral 7B v0.3: head 128, 32/8 heads, rope base 1e6, no scaling.
    "mistral-7b-v0.3": ("llama", 2, 512, 4, 1, 128, 1024, {"rope_base": 1000000.0}),
    # Qwen2.5 0.5B: head 64, 14/2 heads, width 896 (not a multiple of 256), q/k/v biases.
    "qwen2.5-0.5b": ("qwen2", 2, 448, 7, 1, 64, 1024, {"rope_base": 1000000.0, "qkv_bias": True}),
    # Qwen3 0.6B: head 128 wider than width / heads, 16/8 heads, q/k norms.
    "qwen3-0.6b": ("qwen3", 2, 256, 4, 2, 128, 768, {"rope_base": 1000000.0, "qk_norm": True}),
    # Gemma 3 1B: head 256, 4/1 heads, sliding window (short here: 32) on five
    # layers of six, tied and scaled embeddings, q/k norms, post norms.
    "gemma-3-1b": ("gemma3", 6, 512, 2, 1, 256, 1024, {"rope_base": 1000000.0, "window": 32}),
    # Phi-3.5-mini: head 96, 32/32 heads, fused qkv and gate/up.
    "phi-3.5-mini": ("phi3", 2, 384, 4, 4, 96, 512, {"rope_base": 10000.0}),
    # Phi-4-mini: head 128, 24/8 heads, partial rotary (96 of 128), fused qkv and gate/up.
    "phi-4-mini": ("phi3", 2, 384, 3, 1, 128, 512, {"rope_base": 10000.0, "rope_dims": 96}),
    # Qwen2.5 0.5B as the long-context Qwen2.5/Qwen3 files declare YaRN
    # (`rope.scaling.type = yarn`, factor 4), scaled down: an original context
    # of 1024 stretched to the file's 4096, so the interpolation ramp falls
    # inside the rotated dimensions and `verify-models --long --ctx 4096`
    # scores positions past the original context. llama.cpp applies YaRN at
    # every position, so a short window tests it too.
    "qwen2.5-yarn": ("qwen2", 2, 448, 7, 1, 64, 1024, {"rope_base": 1000000.0, "qkv_bias": True, "yarn": 4.0}),
    # The same two as their 128k releases declare them (not test files: run by
    # `verify-models --long`): context 131072, original context 4096, LongRoPE
    # factors (rope_factors_long/short) and the attention factor the converter
    # writes; llama.cpp takes the long factors when its context exceeds 4096.
    "phi-3.5-mini-128k": ("phi3", 2, 384, 4, 4, 96, 512,
                          {"rope_base": 10000.0, "longrope": True, "window": 262144}),
    "phi-4-mini-128k": ("phi3", 2, 384, 3, 1, 128, 512,
                        {"rope_base": 10000.0, "rope_dims": 96, "longrope": True, "window": 262144}),
}

# The real shapes: name: (arch, layers, d_model, heads, kv_heads, head_dim,
# ffn, vocab, extra). "tied": no output.weight (the embedding is the head).
FULL = {
    "llama-3.2-1b-full": ("llama", 16, 2048, 32, 8, 64, 8192, 128256,
                          {"rope_base": 500000.0, "llama3_factor": 32.0, "tied": True}),
    "llama-3.2-3b-full": ("llama", 28, 3072, 24, 8, 128, 8192, 128256,
                          {"rope_base": 500000.0, "llama3_factor": 32.0, "tied": True}),
    "llama-3.1-8b-full": ("llama", 32, 4096, 32, 8, 128, 14336, 128256,
                          {"rope_base": 500000.0, "llama3_factor": 8.0}),
    "mistral-7b-v0.3-full": ("llama", 32, 4096, 32, 8, 128, 14336, 32768, {"rope_base": 1000000.0}),
    "qwen2.5-0.5b-full": ("qwen2", 24, 896, 14, 2, 64, 4864, 151936,
                          {"rope_base": 1000000.0, "qkv_bias": True, "tied": True}),
    "qwen3-0.6b-full": ("qwen3", 28, 1024, 16, 8, 128, 3072, 151936,
                        {"rope_base": 1000000.0, "qk_norm": True, "tied": True}),
    "qwen3-4b-full": ("qwen3", 36, 2560, 32, 8, 128, 9728, 151936,
                      {"rope_base": 1000000.0, "qk_norm": True, "tied": True}),
    "gemma-3-1b-full": ("gemma3", 26, 1152, 4, 1, 256, 6912, 262144, {"rope_base": 1000000.0, "window": 512}),
    "phi-3.5-mini-full": ("phi3", 32, 3072, 32, 32, 96, 8192, 32064, {"rope_base": 10000.0}),
    "phi-4-mini-full": ("phi3", 32, 3072, 24, 8, 128, 8192, 200064,
                        {"rope_base": 10000.0, "rope_dims": 96, "tied": True}),
}

CONTEXT = 4096

# The LongRoPE shapes: their training and original contexts.
LONGROPE_CONTEXT = 131072
LONGROPE_ORIGINAL = 4096

# The YaRN shape's original context (its context is CONTEXT = factor x this).
YARN_ORIGINAL = 1024


def longrope_factors(n):
    """Per-frequency divisors shaped like Phi-3.5-mini's (`rope_scaling`):
    short ones rising from 1 to about 2.1, long ones from about 1.1 to 64, both
    steepest in the middle frequencies."""
    x = np.linspace(-6.0, 6.0, n)
    ramp = 1.0 / (1.0 + np.exp(-x))
    short = 1.0 + 1.1 * ramp
    long = 1.08 + 63.0 * ramp
    return long.astype(np.float32), short.astype(np.float32)


def longrope_attn_factor(context, original):
    """What `convert_hf_to_gguf.py` writes as `rope.scaling.attn_factor` for
    LongRoPE: sqrt(1 + ln(scale) / ln(original))."""
    scale = context / original
    return math.sqrt(1 + math.log(scale) / math.log(original)) if scale > 1.0 else 1.0


def llama3_rope_factors(head_dim, base, factor):
    """The `rope_freqs` tensor llama.cpp's converter writes for llama3 scaling."""
    low_freq_factor, high_freq_factor, old_ctx = 1.0, 4.0, 8192
    low_wavelen = old_ctx / low_freq_factor
    high_wavelen = old_ctx / high_freq_factor
    factors = []
    for i in range(0, head_dim, 2):
        freq = 1.0 / (base ** (i / head_dim))
        wavelen = 2 * math.pi / freq
        if wavelen < high_wavelen:
            factors.append(1.0)
        elif wavelen > low_wavelen:
            factors.append(factor)
        else:
            smooth = (old_ctx / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor)
            factors.append(1.0 / ((1 - smooth) / factor + smooth))
    return np.array(factors, dtype=np.float32)


def main():
    shape_name, tokenizer_path, out_path = sys.argv[1:4]
    src = gguf.GGUFReader(tokenizer_path)
    vocab = len(src.fields["tokenizer.ggml.tokens"].data)
    full = shape_name in FULL
    if full:
        # Phi-3.5's and Mistral's vocabularies are smaller than the copied
        # one: they keep the copied size (the tokens must all exist).
        arch, layers, d, heads, kv, hd, ffn, real_vocab, extra = FULL[shape_name]
        vocab = max(vocab, real_vocab)
    else:
        arch, layers, d, heads, kv, hd, ffn, extra = SHAPES[shape_name]
    rng = np.random.default_rng(sum(map(ord, shape_name)))

    w = gguf.GGUFWriter(out_path, arch)
    # Not "phi-3" / "phi3": llama.cpp patches the real Phi-3 vocabulary's
    # special tokens when the name says so, and the copied vocabulary has none.
    w.add_name("random weights, " + shape_name.replace("-", " "))
    longrope = extra.get("longrope", False)
    w.add_context_length(LONGROPE_CONTEXT if longrope else CONTEXT)
    w.add_embedding_length(d)
    w.add_block_count(layers)
    w.add_feed_forward_length(ffn)
    w.add_head_count(heads)
    w.add_head_count_kv(kv)
    w.add_key_length(hd)
    w.add_value_length(hd)
    w.add_layer_norm_rms_eps(1e-6)
    w.add_rope_freq_base(extra["rope_base"])
    w.add_rope_dimension_count(extra.get("rope_dims", hd))
    w.add_vocab_size(vocab)
    w.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    if "window" in extra:
        w.add_sliding_window(extra["window"])
    if longrope:
        w.add_rope_scaling_orig_ctx_len(LONGROPE_ORIGINAL)
        w.add_rope_scaling_attn_factors(longrope_attn_factor(LONGROPE_CONTEXT, LONGROPE_ORIGINAL))
    if "yarn" in extra:
        # What convert_hf_to_gguf.py writes for `rope_scaling: {"type": "yarn", ...}`.
        w.add_rope_scaling_type(gguf.RopeScalingType.YARN)
        w.add_rope_scaling_factor(extra["yarn"])
        w.add_rope_scaling_orig_ctx_len(YARN_ORIGINAL)
    for key, field in src.fields.items():
        if not key.startswith("tokenizer."):
            continue
        value = field.contents()
        vtype = field.types[0]
        if full and key == "tokenizer.ggml.tokens":
            value = value + [f"<|reserved_special_token_{i}|>" for i in range(vocab - len(value))]
        elif full and key == "tokenizer.ggml.token_type":
            value = value + [int(gguf.TokenType.CONTROL)] * (vocab - len(value))
        if vtype == gguf.GGUFValueType.ARRAY:
            w.add_array(key, value)
        elif vtype == gguf.GGUFValueType.STRING:
            w.add_string(key, value)
        elif vtype == gguf.GGUFValueType.BOOL:
            w.add_bool(key, value)
        elif vtype == gguf.GGUFValueType.UINT32:
            w.add_uint32(key, value)
        elif vtype == gguf.GGUFValueType.INT32:
            w.add_int32(key, value)
        elif vtype == gguf.GGUFValueType.FLOAT32:
            w.add_float32(key, value)

    # While the full shapes are declared, tensors are only their shape and type.
    dry = [False]

    def matrix(rows, cols, std):
        if dry[0]:
            return np.empty((rows, cols), dtype=np.float16)
        if not full:
            return (rng.standard_normal((rows, cols), dtype=np.float32) * std).astype(np.float16)
        # Row blocks: an 8B model's matrices never exist in f32 whole.
        out = np.empty((rows, cols), dtype=np.float16)
        step = max(1, (1 << 24) // cols)
        for r in range(0, rows, step):
            n = min(step, rows - r)
            out[r:r + n] = rng.standard_normal((n, cols), dtype=np.float32) * std
        return out

    def norm(n):
        if dry[0]:
            return np.empty(n, dtype=np.float32)
        return (1.0 + 0.1 * rng.standard_normal(n)).astype(np.float32)

    def vector(n, std):
        if dry[0]:
            return np.empty(n, dtype=np.float32)
        return (std * rng.standard_normal(n)).astype(np.float32)

    # Each tensor as (name, what makes it): the small shapes are made and
    # added in order; the full ones are declared first and made while the
    # file is written, in the same order.
    pending = []

    def add(name, make):
        if full:
            pending.append((name, make))
        else:
            w.add_tensor(name, make())

    logit_std = 4.0
    tied = arch == "gemma3" or extra.get("tied", False)
    add("token_embd.weight", lambda: matrix(vocab, d, logit_std / math.sqrt(d) if tied else 1.0))
    add("output_norm.weight", lambda: norm(d))
    if not tied:
        add("output.weight", lambda: matrix(vocab, d, logit_std / math.sqrt(d)))
    if "llama3_factor" in extra:
        add("rope_freqs.weight", lambda: llama3_rope_factors(hd, extra["rope_base"], extra["llama3_factor"]))
    if longrope:
        long_factors, short_factors = longrope_factors(extra.get("rope_dims", hd) // 2)
        add("rope_factors_long.weight", lambda: long_factors)
        add("rope_factors_short.weight", lambda: short_factors)
    q, kvd = heads * hd, kv * hd
    for i in range(layers):
        b = f"blk.{i}."
        add(b + "attn_norm.weight", lambda: norm(d))
        if arch == "phi3":
            add(b + "attn_qkv.weight", lambda: matrix(q + 2 * kvd, d, 1 / math.sqrt(d)))
        else:
            add(b + "attn_q.weight", lambda: matrix(q, d, 1 / math.sqrt(d)))
            add(b + "attn_k.weight", lambda: matrix(kvd, d, 1 / math.sqrt(d)))
            add(b + "attn_v.weight", lambda: matrix(kvd, d, 1 / math.sqrt(d)))
        if extra.get("qkv_bias"):
            add(b + "attn_q.bias", lambda: vector(q, 0.1))
            add(b + "attn_k.bias", lambda: vector(kvd, 0.1))
            add(b + "attn_v.bias", lambda: vector(kvd, 0.1))
        if extra.get("qk_norm") or arch == "gemma3":
            add(b + "attn_q_norm.weight", lambda: norm(hd))
            add(b + "attn_k_norm.weight", lambda: norm(hd))
        add(b + "attn_output.weight", lambda: matrix(d, q, 1 / math.sqrt(q)))
        if arch == "gemma3":
            # The embeddings are tied and scaled by sqrt(width): with unit
            # post norms the residual stays close to the input token's own
            # embedding, and the model predicts that token back with a lead
            # of ~70 nats at every position (a test that proves nothing).
            # Louder layers make its answers depend on the context.
            add(b + "post_attention_norm.weight", lambda: 8.0 * norm(d))
            add(b + "post_ffw_norm.weight", lambda: 8.0 * norm(d))
        add(b + "ffn_norm.weight", lambda: norm(d))
        if arch == "phi3":
            add(b + "ffn_up.weight", lambda: matrix(2 * ffn, d, 1 / math.sqrt(d)))
        else:
            add(b + "ffn_gate.weight", lambda: matrix(ffn, d, 1 / math.sqrt(d)))
            add(b + "ffn_up.weight", lambda: matrix(ffn, d, 1 / math.sqrt(d)))
        add(b + "ffn_down.weight", lambda: matrix(d, ffn, 1 / math.sqrt(ffn)))

    if not full:
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
        return
    dry[0] = True
    for name, make in pending:
        like = make()
        w.add_tensor_info(name, like.shape, like.dtype, like.nbytes)
    dry[0] = False
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    for name, make in pending:
        w.write_tensor_data(make())
    w.close()


if __name__ == "__main__":
    main()
