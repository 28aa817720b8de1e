// Dumps every f32 tensor llama.cpp computes for one batch, for tensor-by-
// tensor parity checks against ReportLens (how the CPU numerics were made
// bit-exact: see the README paragraph on llama.cpp's CPU numerics).
//
// Build: in llama.cpp's source (the llama-cpp-python sdist's vendor/llama.cpp),
// copy this file over examples/eval-callback/eval-callback.cpp, then
//   cmake -B build -DCMAKE_BUILD_TYPE=Release -DLLAMA_CURL=OFF
//   cmake --build build --target llama-eval-callback -j2
// Run:
//   DUMP_DIR=/tmp/d DUMP_IDS=3733,14420,... build/bin/llama-eval-callback -m MODEL.gguf -p x -t 2
// writes /tmp/d/NNNN_<tensor name>.f32 (raw little-endian f32, ggml's
// row-major order) and /tmp/d/index.txt (sequence, name, op, ne0..ne3).
// DUMP_IDS feeds token ids as given (no tokenizer, no BOS).
#include "arg.h"
#include "common.h"
#include "debug.h"
#include "log.h"
#include "llama.h"

#include <clocale>
#include <cstdio>
#include <cstdlib>
#include "ggml.h"
#include "ggml-backend.h"

static int g_seq = 0;
static bool dump_cb(struct ggml_tensor * t, bool ask, void * ud) {
    (void) ud;
    if (ask) return true;
    const char * dir = getenv("DUMP_DIR");
    if (!dir || t->type != GGML_TYPE_F32 || !ggml_is_contiguous(t)) return true;
    std::vector<float> buf(ggml_nelements(t));
    ggml_backend_tensor_get(t, buf.data(), 0, ggml_nbytes(t));
    char path[512];
    snprintf(path, sizeof path, "%s/%04d_%s.f32", dir, g_seq, t->name);
    FILE * f = fopen(path, "wb"); fwrite(buf.data(), 4, buf.size(), f); fclose(f);
    snprintf(path, sizeof path, "%s/index.txt", dir);
    f = fopen(path, "a");
    fprintf(f, "%04d %s %s %lld %lld %lld %lld\n", g_seq, t->name, ggml_op_desc(t), (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2], (long long)t->ne[3]);
    fclose(f);
    g_seq++;
    return true;
}
#include <string>
#include <vector>

static bool run(llama_context * ctx, const common_params & params) {
    const llama_model * model = llama_get_model(ctx);
    const llama_vocab * vocab = llama_model_get_vocab(model);

    const bool add_bos = llama_vocab_get_add_bos(vocab);

    std::vector<llama_token> tokens;
    if (getenv("DUMP_IDS")) { std::string s = getenv("DUMP_IDS"); size_t p = 0; while (p < s.size()) { size_t q = s.find(',', p); if (q == std::string::npos) q = s.size(); tokens.push_back(std::stoi(s.substr(p, q - p))); p = q + 1; } }
    else tokens = common_tokenize(ctx, params.prompt, add_bos, true);

    if (tokens.empty()) {
        LOG_ERR("%s : there are not input tokens to process - (try to provide a prompt with '-p')\n", __func__);
        return false;
    }

    LOG_INF("number of input tokens = %zu\n", tokens.size());
    for (size_t i = 0; i < tokens.size(); ++i) {
        LOG_INF("  %d\n", tokens[i]);
    }

    common_batch batch = common_batch_get_one(ctx, tokens);
    if (llama_process(ctx, LLAMA_PROCESS_TYPE_DECODE, batch.get())) {
        LOG_ERR("%s : failed to eval\n", __func__);
        return false;
    }

    return true;
}

int main(int argc, char ** argv) {
    std::setlocale(LC_NUMERIC, "C");

    common_debug_cb_user_data cb_data;

    common_params params;

    common_init();

    if (!common_params_parse(argc, argv, params, LLAMA_EXAMPLE_COMMON)) {
        return 1;
    }

    llama_backend_init();
    llama_numa_init(params.numa);

    // pass the callback to the backend scheduler
    // it will be executed for each node during the graph computation
    params.cb_eval = dump_cb;
    params.cb_eval_user_data = &cb_data;
    params.warmup = false;

    // init
    auto llama_init = common_init_from_params(params);

    auto * model = llama_init->model();
    auto * ctx   = llama_init->context();

    if (model == nullptr || ctx == nullptr) {
        LOG_ERR("%s : failed to init\n", __func__);
        return 1;
    }

    // print system information
    {
        LOG_INF("\n");
        LOG_INF("%s\n", common_params_get_system_info(params).c_str());
        LOG_INF("\n");
    }

    bool OK = run(ctx, params);
    if (!OK) {
        return 1;
    }

    LOG("\n");
    llama_perf_context_print(ctx);

    llama_backend_free();

    return 0;
}
