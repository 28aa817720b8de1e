// One ggml_mul_mat on the CPU backend, for kernel-by-kernel parity checks
// against ReportLens (how the K-quant numerics were pinned: a plain CPU
// buffer takes the tiled K-quant path for 8+ rows, vec_dot below; set
// GGML_CPU_TILED_MM=0 for vec_dot everywhere). Weights as raw ggml blocks,
// activations and output as raw f32 (row-major, K values a row).
// Build against a llama.cpp build (see tools/llamacpp-dump.cpp):
//   gcc -O2 tools/ggml-mul-mat.c -o ggml-mul-mat -I$LL/ggml/include -L$LL/build/bin \
//       -lggml -lggml-cpu -lggml-base -Wl,-rpath,$LL/build/bin
// Run: ggml-mul-mat GGML_TYPE K N M weights.bin x.bin out.bin THREADS
#include "ggml.h"
#include "ggml-cpu.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
// usage: g TYPE K N M wfile xfile outfile threads
int main(int argc, char **argv) {
  int type = atoi(argv[1]); int K = atoi(argv[2]), N = atoi(argv[3]), M = atoi(argv[4]);
  struct ggml_init_params ip = { .mem_size = 512*1024*1024, .mem_buffer = NULL, .no_alloc = false };
  struct ggml_context *ctx = ggml_init(ip);
  struct ggml_tensor *w = ggml_new_tensor_2d(ctx, (enum ggml_type)type, K, N);
  struct ggml_tensor *x = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, K, M);
  FILE *f = fopen(argv[5], "rb"); size_t nw = fread(w->data, 1, ggml_nbytes(w), f); fclose(f);
  f = fopen(argv[6], "rb"); size_t nx = fread(x->data, 1, ggml_nbytes(x), f); fclose(f);
  if (nw != ggml_nbytes(w) || nx != ggml_nbytes(x)) { fprintf(stderr, "short read %zu %zu\n", nw, nx); return 1; }
  struct ggml_tensor *y = ggml_mul_mat(ctx, w, x);
  struct ggml_cgraph *gf = ggml_new_graph(ctx);
  ggml_build_forward_expand(gf, y);
  ggml_graph_compute_with_ctx(ctx, gf, atoi(argv[8]));
  f = fopen(argv[7], "wb"); fwrite(y->data, 1, ggml_nbytes(y), f); fclose(f);
  return 0;
}
