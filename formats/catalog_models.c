/*
 * The model catalog (see moekit/catalog.h): the config.json of well-known
 * checkpoints, so the planner can size a model by name without a download.
 *
 * Each string is the published Hugging Face config.json (keys as on the Hub,
 * compact, trimmed of auto_map and similar keys nothing here reads); it must
 * parse with mk_config_parse(), and tests/unit/test_catalog.c checks that the
 * parameter count implied by each one matches the published total.  Values
 * and their sources: /work/shared/reference/formats.md section 3.4 and
 * planner.md section 3.2.  DeepSeek-V3 carries its native block-FP8
 * quantization_config because the released checkpoint is FP8 (torch_dtype
 * "bfloat16" there names the unquantized tensors: embeddings, norms, gate).
 */
#include "moekit/catalog.h"

#include <stdbool.h>

static const mk_model_entry k_models[] = {
    {"deepseek-v3", "deepseek-ai/DeepSeek-V3",
     "{\"architectures\":[\"DeepseekV3ForCausalLM\"],\"attention_bias\":false,"
     "\"attention_dropout\":0.0,\"aux_loss_alpha\":0.001,\"bos_token_id\":0,"
     "\"eos_token_id\":1,\"ep_size\":1,\"first_k_dense_replace\":3,\"hidden_act\":\"silu\","
     "\"hidden_size\":7168,\"initializer_range\":0.02,\"intermediate_size\":18432,"
     "\"kv_lora_rank\":512,\"max_position_embeddings\":163840,\"model_type\":\"deepseek_v3\","
     "\"moe_intermediate_size\":2048,\"moe_layer_freq\":1,\"n_group\":8,"
     "\"n_routed_experts\":256,\"n_shared_experts\":1,\"norm_topk_prob\":true,"
     "\"num_attention_heads\":128,\"num_experts_per_tok\":8,\"num_hidden_layers\":61,"
     "\"num_key_value_heads\":128,\"num_nextn_predict_layers\":1,\"pretraining_tp\":1,"
     "\"q_lora_rank\":1536,\"qk_nope_head_dim\":128,\"qk_rope_head_dim\":64,"
     "\"quantization_config\":{\"quant_method\":\"fp8\",\"fmt\":\"e4m3\","
     "\"activation_scheme\":\"dynamic\",\"weight_block_size\":[128,128]},"
     "\"rms_norm_eps\":1e-06,\"rope_scaling\":{\"beta_fast\":32,\"beta_slow\":1,\"factor\":40,"
     "\"mscale\":1.0,\"mscale_all_dim\":1.0,\"original_max_position_embeddings\":4096,"
     "\"type\":\"yarn\"},\"rope_theta\":10000,\"routed_scaling_factor\":2.5,"
     "\"scoring_func\":\"sigmoid\",\"seq_aux\":true,\"tie_word_embeddings\":false,"
     "\"topk_group\":4,\"topk_method\":\"noaux_tc\",\"torch_dtype\":\"bfloat16\","
     "\"transformers_version\":\"4.33.1\",\"use_cache\":true,\"v_head_dim\":128,"
     "\"vocab_size\":129280}"},
    {"deepseek-v2-lite", "deepseek-ai/DeepSeek-V2-Lite",
     "{\"architectures\":[\"DeepseekV2ForCausalLM\"],\"attention_bias\":false,"
     "\"attention_dropout\":0.0,\"aux_loss_alpha\":0.001,\"bos_token_id\":100000,"
     "\"eos_token_id\":100001,\"first_k_dense_replace\":1,\"hidden_act\":\"silu\","
     "\"hidden_size\":2048,\"initializer_range\":0.02,\"intermediate_size\":10944,"
     "\"kv_lora_rank\":512,\"max_position_embeddings\":163840,\"model_type\":\"deepseek_v2\","
     "\"moe_intermediate_size\":1408,\"moe_layer_freq\":1,\"n_group\":1,"
     "\"n_routed_experts\":64,\"n_shared_experts\":2,\"norm_topk_prob\":false,"
     "\"num_attention_heads\":16,\"num_experts_per_tok\":6,\"num_hidden_layers\":27,"
     "\"num_key_value_heads\":16,\"pretraining_tp\":1,\"q_lora_rank\":null,"
     "\"qk_nope_head_dim\":128,\"qk_rope_head_dim\":64,\"rms_norm_eps\":1e-06,"
     "\"rope_scaling\":{\"beta_fast\":32,\"beta_slow\":1,\"factor\":40,\"mscale\":0.707,"
     "\"mscale_all_dim\":0.707,\"original_max_position_embeddings\":4096,\"type\":\"yarn\"},"
     "\"rope_theta\":10000,\"routed_scaling_factor\":1.0,\"scoring_func\":\"softmax\","
     "\"seq_aux\":true,\"tie_word_embeddings\":false,\"topk_group\":1,"
     "\"topk_method\":\"greedy\",\"torch_dtype\":\"bfloat16\","
     "\"transformers_version\":\"4.33.1\",\"use_cache\":true,\"v_head_dim\":128,"
     "\"vocab_size\":102400}"},
    {"mixtral-8x7b", "mistralai/Mixtral-8x7B-Instruct-v0.1",
     "{\"architectures\":[\"MixtralForCausalLM\"],\"attention_dropout\":0.0,"
     "\"bos_token_id\":1,\"eos_token_id\":2,\"hidden_act\":\"silu\",\"hidden_size\":4096,"
     "\"initializer_range\":0.02,\"intermediate_size\":14336,"
     "\"max_position_embeddings\":32768,\"model_type\":\"mixtral\",\"num_attention_heads\":32,"
     "\"num_experts_per_tok\":2,\"num_hidden_layers\":32,\"num_key_value_heads\":8,"
     "\"num_local_experts\":8,\"output_router_logits\":false,\"rms_norm_eps\":1e-05,"
     "\"rope_theta\":1000000.0,\"router_aux_loss_coef\":0.02,\"sliding_window\":null,"
     "\"tie_word_embeddings\":false,\"torch_dtype\":\"bfloat16\","
     "\"transformers_version\":\"4.36.0.dev0\",\"use_cache\":true,\"vocab_size\":32000}"},
    {"mixtral-8x22b", "mistralai/Mixtral-8x22B-Instruct-v0.1",
     "{\"architectures\":[\"MixtralForCausalLM\"],\"attention_dropout\":0.0,"
     "\"bos_token_id\":1,\"eos_token_id\":2,\"hidden_act\":\"silu\",\"hidden_size\":6144,"
     "\"initializer_range\":0.02,\"intermediate_size\":16384,"
     "\"max_position_embeddings\":65536,\"model_type\":\"mixtral\",\"num_attention_heads\":48,"
     "\"num_experts_per_tok\":2,\"num_hidden_layers\":56,\"num_key_value_heads\":8,"
     "\"num_local_experts\":8,\"output_router_logits\":false,\"rms_norm_eps\":1e-05,"
     "\"rope_theta\":1000000.0,\"router_aux_loss_coef\":0.001,\"sliding_window\":null,"
     "\"tie_word_embeddings\":false,\"torch_dtype\":\"bfloat16\","
     "\"transformers_version\":\"4.38.0\",\"use_cache\":true,\"vocab_size\":32768}"},
    {"qwen3-30b-a3b", "Qwen/Qwen3-30B-A3B",
     "{\"architectures\":[\"Qwen3MoeForCausalLM\"],\"attention_bias\":false,"
     "\"attention_dropout\":0.0,\"bos_token_id\":151643,\"decoder_sparse_step\":1,"
     "\"eos_token_id\":151645,\"head_dim\":128,\"hidden_act\":\"silu\",\"hidden_size\":2048,"
     "\"initializer_range\":0.02,\"intermediate_size\":6144,\"max_position_embeddings\":40960,"
     "\"max_window_layers\":48,\"mlp_only_layers\":[],\"model_type\":\"qwen3_moe\","
     "\"moe_intermediate_size\":768,\"norm_topk_prob\":true,\"num_attention_heads\":32,"
     "\"num_experts\":128,\"num_experts_per_tok\":8,\"num_hidden_layers\":48,"
     "\"num_key_value_heads\":4,\"output_router_logits\":false,\"rms_norm_eps\":1e-06,"
     "\"rope_scaling\":null,\"rope_theta\":1000000.0,\"router_aux_loss_coef\":0.001,"
     "\"sliding_window\":null,\"tie_word_embeddings\":false,\"torch_dtype\":\"bfloat16\","
     "\"transformers_version\":\"4.51.0\",\"use_cache\":true,\"use_sliding_window\":false,"
     "\"vocab_size\":151936}"},
    {"qwen3-235b-a22b", "Qwen/Qwen3-235B-A22B",
     "{\"architectures\":[\"Qwen3MoeForCausalLM\"],\"attention_bias\":false,"
     "\"attention_dropout\":0.0,\"bos_token_id\":151643,\"decoder_sparse_step\":1,"
     "\"eos_token_id\":151645,\"head_dim\":128,\"hidden_act\":\"silu\",\"hidden_size\":4096,"
     "\"initializer_range\":0.02,\"intermediate_size\":12288,"
     "\"max_position_embeddings\":40960,\"max_window_layers\":94,\"mlp_only_layers\":[],"
     "\"model_type\":\"qwen3_moe\",\"moe_intermediate_size\":1536,\"norm_topk_prob\":true,"
     "\"num_attention_heads\":64,\"num_experts\":128,\"num_experts_per_tok\":8,"
     "\"num_hidden_layers\":94,\"num_key_value_heads\":4,\"output_router_logits\":false,"
     "\"rms_norm_eps\":1e-06,\"rope_scaling\":null,\"rope_theta\":1000000.0,"
     "\"router_aux_loss_coef\":0.001,\"sliding_window\":null,\"tie_word_embeddings\":false,"
     "\"torch_dtype\":\"bfloat16\",\"transformers_version\":\"4.51.0\",\"use_cache\":true,"
     "\"use_sliding_window\":false,\"vocab_size\":151936}"},
    {"llama-3.1-8b", "meta-llama/Llama-3.1-8B-Instruct",
     "{\"architectures\":[\"LlamaForCausalLM\"],\"attention_bias\":false,"
     "\"attention_dropout\":0.0,\"bos_token_id\":128000,\"eos_token_id\":[128001,128008,"
     "128009],\"hidden_act\":\"silu\",\"hidden_size\":4096,\"initializer_range\":0.02,"
     "\"intermediate_size\":14336,\"max_position_embeddings\":131072,\"mlp_bias\":false,"
     "\"model_type\":\"llama\",\"num_attention_heads\":32,\"num_hidden_layers\":32,"
     "\"num_key_value_heads\":8,\"pretraining_tp\":1,\"rms_norm_eps\":1e-05,"
     "\"rope_scaling\":{\"factor\":8.0,\"high_freq_factor\":4.0,\"low_freq_factor\":1.0,"
     "\"original_max_position_embeddings\":8192,\"rope_type\":\"llama3\"},"
     "\"rope_theta\":500000.0,\"tie_word_embeddings\":false,\"torch_dtype\":\"bfloat16\","
     "\"transformers_version\":\"4.42.3\",\"use_cache\":true,\"vocab_size\":128256}"},
    {"llama-3.3-70b", "meta-llama/Llama-3.3-70B-Instruct",
     "{\"architectures\":[\"LlamaForCausalLM\"],\"attention_bias\":false,"
     "\"attention_dropout\":0.0,\"bos_token_id\":128000,\"eos_token_id\":[128001,128008,"
     "128009],\"hidden_act\":\"silu\",\"hidden_size\":8192,\"initializer_range\":0.02,"
     "\"intermediate_size\":28672,\"max_position_embeddings\":131072,\"mlp_bias\":false,"
     "\"model_type\":\"llama\",\"num_attention_heads\":64,\"num_hidden_layers\":80,"
     "\"num_key_value_heads\":8,\"pretraining_tp\":1,\"rms_norm_eps\":1e-05,"
     "\"rope_scaling\":{\"factor\":8.0,\"high_freq_factor\":4.0,\"low_freq_factor\":1.0,"
     "\"original_max_position_embeddings\":8192,\"rope_type\":\"llama3\"},"
     "\"rope_theta\":500000.0,\"tie_word_embeddings\":false,\"torch_dtype\":\"bfloat16\","
     "\"transformers_version\":\"4.47.0.dev0\",\"use_cache\":true,\"vocab_size\":128256}"},
    {"qwen3-32b", "Qwen/Qwen3-32B",
     "{\"architectures\":[\"Qwen3ForCausalLM\"],\"attention_bias\":false,"
     "\"attention_dropout\":0.0,\"bos_token_id\":151643,\"eos_token_id\":151645,"
     "\"head_dim\":128,\"hidden_act\":\"silu\",\"hidden_size\":5120,"
     "\"initializer_range\":0.02,\"intermediate_size\":25600,"
     "\"max_position_embeddings\":40960,\"max_window_layers\":64,\"model_type\":\"qwen3\","
     "\"num_attention_heads\":64,\"num_hidden_layers\":64,\"num_key_value_heads\":8,"
     "\"rms_norm_eps\":1e-06,\"rope_scaling\":null,\"rope_theta\":1000000,"
     "\"sliding_window\":null,\"tie_word_embeddings\":false,\"torch_dtype\":\"bfloat16\","
     "\"transformers_version\":\"4.51.0\",\"use_cache\":true,\"use_sliding_window\":false,"
     "\"vocab_size\":151936}"},
    {"qwen3-0.6b", "Qwen/Qwen3-0.6B",
     "{\"architectures\":[\"Qwen3ForCausalLM\"],\"attention_bias\":false,"
     "\"attention_dropout\":0.0,\"bos_token_id\":151643,\"eos_token_id\":151645,"
     "\"head_dim\":128,\"hidden_act\":\"silu\",\"hidden_size\":1024,"
     "\"initializer_range\":0.02,\"intermediate_size\":3072,\"max_position_embeddings\":40960,"
     "\"max_window_layers\":28,\"model_type\":\"qwen3\",\"num_attention_heads\":16,"
     "\"num_hidden_layers\":28,\"num_key_value_heads\":8,\"rms_norm_eps\":1e-06,"
     "\"rope_scaling\":null,\"rope_theta\":1000000,\"sliding_window\":null,"
     "\"tie_word_embeddings\":true,\"torch_dtype\":\"bfloat16\","
     "\"transformers_version\":\"4.51.0\",\"use_cache\":true,\"use_sliding_window\":false,"
     "\"vocab_size\":151936}"},
};

static int ascii_lower(int ch) { return ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch; }

static bool same_name(const char *a, const char *b) {
    for (; *a && *b; a++, b++)
        if (ascii_lower((unsigned char)*a) != ascii_lower((unsigned char)*b)) return false;
    return *a == *b;
}

const mk_model_entry *mk_model_catalog(size_t *n) {
    if (n) *n = sizeof k_models / sizeof k_models[0];
    return k_models;
}

const mk_model_entry *mk_model_catalog_find(const char *name) {
    if (!name) return NULL;
    for (size_t i = 0; i < sizeof k_models / sizeof k_models[0]; i++)
        if (same_name(k_models[i].name, name) || same_name(k_models[i].hf_id, name))
            return &k_models[i];
    return NULL;
}
