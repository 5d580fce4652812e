"""Build a LLaVA with random weights from its config and a tokenizer trained here: nothing is downloaded.

Two shapes: "tiny" (~1 MB, what the tests load) and "llava-1.5-7b" (LLaVA-1.5-7B's layers, widths and
vocabulary: CLIP ViT-L/14-336 + Llama-2-7B, for scripts/gpu_check.py). The tokenizer is a small byte-level
BPE, so prompts tokenise into more tokens than with the real one (prefill costs a little more)."""
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

_SPECIAL = ["<unk>", "<s>", "</s>", "<pad>", "<image>"]
# A few strings the prompts and JSON replies use, so the vocabulary covers them without <unk> everywhere.
_CORPUS = [
    'USER: <image>\nAnswer with JSON only. ASSISTANT: {"suitable": true, "copy_fits": false, "subject": "cup"}',
    '{"legibility": 7, "placement": 5, "harmony": 6, "covers_product": false, "overall": 6, "reason": "ok"}',
    "subject_box free_regions reason text box image ad copy brightness contrast sharpness saliency",
    "0 1 2 3 4 5 6 7 8 9 10 [ ] , : . true false null the a is of and to",
]
_CHAT_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] == 'user' %}USER: "
    "{% for part in message['content'] %}{% if part['type'] == 'image' %}<image>\n"
    "{% else %}{{ part['text'] }}{% endif %}{% endfor %} "
    "{% else %}ASSISTANT: {% for part in message['content'] %}{{ part['text'] }}{% endfor %} {% endif %}"
    "{% endfor %}{% if add_generation_prompt %}ASSISTANT:{% endif %}"
)
SHAPES: dict[str, dict] = {
    "tiny": {  # 32/8 = 4x4 = 16 patches, plus the CLS token = 17 image tokens per picture
        "vision": dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                       image_size=32, patch_size=8, projection_dim=32),
        "text": dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                     num_key_value_heads=2, max_position_embeddings=512),
        "vocab_size": 0, "strategy": "full", "feature_layer": -1,
    },
    "llava-1.5-7b": {  # llava-hf/llava-1.5-7b-hf's config.json: 576 image tokens (CLS dropped), 32064 tokens
        "vision": dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16,
                       image_size=336, patch_size=14, projection_dim=768),
        "text": dict(hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32,
                     num_key_value_heads=32, max_position_embeddings=4096, rms_norm_eps=1e-5),
        "vocab_size": 32064, "strategy": "default", "feature_layer": -2,
    },
}


def train_tokenizer():
    """A byte-level BPE trained on the corpus above, with <image> as a special token."""
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=300, special_tokens=_SPECIAL, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(_CORPUS, trainer=trainer)
    tok.decoder = decoders.ByteLevel()
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="<unk>", bos_token="<s>", eos_token="</s>", pad_token="<pad>",
        extra_special_tokens={"image_token": "<image>"},
    )


def build_llava(path: str | Path, shape: str = "tiny", device: str = "cpu", dtype=None) -> Path:
    """Write a random LLaVA of `shape` with its processor into `path`; weights are made on `device`."""
    import torch
    from transformers import (
        CLIPImageProcessor,
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
    )

    spec = SHAPES[shape]
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tokenizer = train_tokenizer()
    image_size, patch = spec["vision"]["image_size"], spec["vision"]["patch_size"]
    cls = 0 if spec["strategy"] == "default" else 1  # "default" drops CLIP's class token
    text = LlamaConfig(
        vocab_size=max(len(tokenizer), spec["vocab_size"]), **spec["text"], bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    )
    config = LlavaConfig(
        vision_config=CLIPVisionConfig(**spec["vision"]), text_config=text,
        image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
        image_seq_length=(image_size // patch) ** 2 + cls, vision_feature_select_strategy=spec["strategy"],
        vision_feature_layer=spec["feature_layer"],
    )
    with torch.device(device):  # straight onto the GPU for the 7B shapes: no 14 GB detour through host memory
        model = LlavaForConditionalGeneration._from_config(config, dtype=dtype or torch.float32).eval()
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.save_pretrained(path)
    del model
    image_processor = CLIPImageProcessor(
        size={"shortest_edge": image_size}, crop_size={"height": image_size, "width": image_size}
    )
    processor = LlavaProcessor(
        image_processor=image_processor, tokenizer=tokenizer, patch_size=patch,
        vision_feature_select_strategy=spec["strategy"], chat_template=_CHAT_TEMPLATE, image_token="<image>",
        num_additional_image_tokens=1,  # CLIP's class token (dropped again by the "default" strategy)
    )
    processor.save_pretrained(path)
    return path
