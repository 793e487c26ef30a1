/* o(x) of minibatch discrimination (Salimans et al. 2016, "Improved Techniques for Training GANs", §3.2) and its
 * gradient on a CPU, over the unordered pairs i < j: each pair's exp(-L1) is computed once and added to both of its
 * rows, half the work of the [K, N, N] kernels, and nothing of size N^2 is stored (the backward recomputes it).
 * Built and loaded by gan_lab/nets/layers/pair_sums_cpu.py (the machine's compiler, -O3 -march=native, CDIM = C).
 *
 * Layout: M [N][C][K] with K (the kernels, a multiple of W) contiguous; the W lanes of a vector are W kernels.
 * E_ij = [d_ij < far] exp(-d_ij), d_ij = sum_c |M_ic - M_jc| (per kernel); s_i = sum_{j != i} E_ij.
 * GCC / Clang vector extensions: W lanes in one AVX-512 register, two AVX2 ones or four SSE / NEON ones. */
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

#define W 16
#ifndef CDIM
#error "compile with -DCDIM=<kernel_dim>"
#endif
#define C CDIM

typedef float vf __attribute__((vector_size(4 * W)));
typedef int32_t vi __attribute__((vector_size(4 * W)));

/* a scalar broadcast by the vector extension's scalar operand: one instruction (a loop of lane stores made GCC build
 * splat(far) lane by lane inside the pair loop, ~35 extra instructions per pair) */
static inline vf splat(float x) { return (vf){} + x; }
static inline vi splati(int32_t x) { return (vi){} + x; }
static inline vf load(const float *p) { vf v; memcpy(&v, p, sizeof v); return v; }
static inline void store(float *p, vf v) { memcpy(p, &v, sizeof v); }
static inline vf vabs(vf x) { return (vf)((vi)x & splati(0x7fffffff)); }
static inline vf vmask(vf x, vi m) { return (vf)((vi)x & m); }
static inline vf vselect(vi m, vf a, vf b) { return (vf)(((vi)a & m) | ((vi)b & ~m)); }

/* exp(x) for x in [-far, 0], far <= 80 (Cephes expf: x = n ln2 + r, |r| <= ln2 / 2, a degree-6 polynomial in r;
 * 2^n >= 2^-116 is built from its exponent bits, a normal float). */
static inline vf vexp(vf x) {
    vf n = (x * splat(1.44269504088896341f) + splat(12582912.0f)) - splat(12582912.0f); /* round to nearest */
    vf r = x - n * splat(0.693359375f) + n * splat(2.12194440e-4f);
    vf p = splat(1.9875691500e-4f);
    p = p * r + splat(1.3981999507e-3f);
    p = p * r + splat(8.3334519073e-3f);
    p = p * r + splat(4.1665795894e-2f);
    p = p * r + splat(1.6666665459e-1f);
    p = p * r + splat(5.0000001201e-1f);
    p = p * r * r + r + splat(1.0f);
    vi e = (__builtin_convertvector(n, vi) + splati(127)) << 23;
    return p * (vf)e;
}

/* E_ij of one pair, its distances' per-dimension differences in diff (when not NULL) */
static inline vf pair_kernel(const vf *mi, const float *mj, int64_t K, float far, vf *diff) {
    vf d = splat(0.0f);
    for (int c = 0; c < C; c++) {
        vf x = mi[c] - load(mj + c * K);
        if (diff) diff[c] = x;
        d += vabs(x);
    }
    vi near = d < splat(far);
    return vmask(vexp(-vselect(near, d, splat(far))), near);
}

/* s [N][K] = sum_{j != i} E_ij */
void pair_sums(const float *M, float *s, int64_t N, int64_t K, float far, int nthreads) {
    int64_t blocks = K / W;
    #pragma omp parallel for num_threads(nthreads) schedule(static) if (nthreads > 1)
    for (int64_t b = 0; b < blocks; b++) {
        const float *m = M + b * W;
        float *sb = s + b * W;
        for (int64_t i = 0; i < N; i++) store(sb + i * K, splat(0.0f));
        for (int64_t i = 0; i < N; i++) {
            vf mi[C], si = splat(0.0f);
            for (int c = 0; c < C; c++) mi[c] = load(m + (i * C + c) * K);
            for (int64_t j = i + 1; j < N; j++) {
                vf e = pair_kernel(mi, m + j * C * K, K, far, NULL);
                si += e;
                store(sb + j * K, load(sb + j * K) + e);
            }
            store(sb + i * K, load(sb + i * K) + si);
        }
    }
}

/* gM [N][C][K] = d/dM_ic of sum_i' g_i' s_i' = -sum_j (g_i + g_j) E_ij sign(M_ic - M_jc) (E symmetric) */
void pair_sums_grad(const float *M, const float *g, float *gM, int64_t N, int64_t K, float far, int nthreads) {
    int64_t blocks = K / W;
    #pragma omp parallel for num_threads(nthreads) schedule(static) if (nthreads > 1)
    for (int64_t b = 0; b < blocks; b++) {
        const float *m = M + b * W, *gb = g + b * W;
        float *gm = gM + b * W;
        for (int64_t i = 0; i < N * C; i++) store(gm + i * K, splat(0.0f));
        for (int64_t i = 0; i < N; i++) {
            vf mi[C], acc[C], gi = load(gb + i * K);
            for (int c = 0; c < C; c++) { mi[c] = load(m + (i * C + c) * K); acc[c] = splat(0.0f); }
            for (int64_t j = i + 1; j < N; j++) {
                vf diff[C];
                vf w = (gi + load(gb + j * K)) * pair_kernel(mi, m + j * C * K, K, far, diff);
                for (int c = 0; c < C; c++) {  /* t = w sign(diff): w with diff's sign bit flipped in, 0 where diff = 0 */
                    vf t = vmask((vf)(((vi)diff[c] & splati(INT32_MIN)) ^ (vi)w), diff[c] != splat(0.0f));
                    acc[c] -= t;
                    store(gm + (j * C + c) * K, load(gm + (j * C + c) * K) + t);
                }
            }
            for (int c = 0; c < C; c++) store(gm + (i * C + c) * K, load(gm + (i * C + c) * K) + acc[c]);
        }
    }
}

/* dst[j * dst_row + i] = src[i * src_row + j] for i < rows, j < cols, in W x W tiles that stay in L1 */
static void transpose(const float *src, int64_t src_row, float *dst, int64_t dst_row, int64_t rows, int64_t cols) {
    for (int64_t i0 = 0; i0 < rows; i0 += W)
        for (int64_t j0 = 0; j0 < cols; j0 += W)
            for (int64_t j = j0; j < j0 + W && j < cols; j++)
                for (int64_t i = i0; i < i0 + W && i < rows; i++) dst[j * dst_row + i] = src[i * src_row + j];
}

/* The layer's layout [K][C][N] (N contiguous: the projection's output, and the layout its backward expects of the
 * gradient) to and from the kernel's [N][C][Kp] (Kp = K padded to a multiple of W, zeros beyond K): a gradient in the
 * layer's layout spares the projection's compiled backward its own copy of a permuted one. */
void rows_from_layer(const float *mt, float *rows, int64_t N, int64_t K, int64_t Kp) {
    for (int c = 0; c < C; c++) {
        transpose(mt + c * N, C * N, rows + c * Kp, C * Kp, K, N);
        for (int64_t n = 0; n < N; n++) memset(rows + (n * C + c) * Kp + K, 0, (Kp - K) * sizeof(float));
    }
}

void layer_from_rows(const float *rows, float *mt, int64_t N, int64_t K, int64_t Kp) {
    for (int c = 0; c < C; c++) transpose(rows + c * Kp, C * Kp, mt + c * N, C * N, N, K);
}

#ifdef __cplusplus
}
#endif
