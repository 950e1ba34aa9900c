/*
 * bitconv: bit-packed XNOR/popcount 3x3 binary convolution for BBCU units (C11).
 *
 * Layouts
 *   float activations : NHWC float32, one image: [H][W][C].
 *   packed activations: a zero-bordered grid [(H+2)][(W+2)][nw] of uint64 words,
 *                       nw = ceil(C/64); bit k of word w is channel 64*w+k, 1 = (x+b) > 0.
 *                       A second grid of the same shape holds the "non-zero" mask
 *                       (bit = (x+b) != 0); border cells and tail bits are 0 in both.
 *   zero row flags    : uint8 per image row, 1 when that row holds an exact zero (x+b == 0).
 *   weights           : [9 taps][nw_in][co8] uint64, co8 = cout rounded up to 8; bit = W > 0.
 *                       Tap t = 3*ky + kx (cross-correlation, as torch conv2d).
 *   border correction : [16][co8] int32, E[type][q] = popcount of the weight words of the
 *                       taps that fall outside the image for border type
 *                       (1 top, 2 bottom, 4 left, 8 right).
 *
 * A unit computes, for each conv output q (reordered so the r*r pixel-shuffle phases are
 * contiguous blocks of chr channels: q = (i*r + j)*chr + c),
 *   count = sum over valid taps of +-1 products (exact integer),
 *   z = count*alpha (+bias) + b0; z = z > 0 ? z : a*z; z += b1; y = z + x_residual,
 * writes y at HR pixel (r*y+i, r*x+j) and optionally packs sign(y + bnext) for the next unit.
 */
#ifndef BBCU_BITCONV_H
#define BBCU_BITCONV_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define BC_API __declspec(dllexport)
#else
#define BC_API __attribute__((visibility("default")))
#endif

#define BC_ABI_VERSION 7

enum bc_isa { BC_ISA_PORTABLE = 0, BC_ISA_AVX2 = 1, BC_ISA_AVX512 = 2, BC_ISA_NEON = 3 };

enum bc_feature {
    BC_F_POPCNT = 1, BC_F_AVX2 = 2, BC_F_AVX512F = 4, BC_F_AVX512BW = 8,
    BC_F_AVX512VPOPCNTDQ = 16, BC_F_NEON = 32, BC_F_FMA = 64
};

enum bc_act { BC_ACT_NONE = 0, BC_ACT_RELU = 1, BC_ACT_LRELU = 2 }; /* lrelu slope 0.1 */

enum bc_out { BC_OUT_F32 = 0, BC_OUT_U8 = 1, BC_OUT_U16 = 2 };
enum bc_fin { BC_FIN_SR = 0, BC_FIN_DN = 1 };

typedef struct bc_unit {
    int32_t H, W;        /* input (LR) grid */
    int32_t cin, nw_in;  /* input channels and words per pixel */
    int32_t cout, co8;   /* conv outputs (r*r*chr) and padded count */
    int32_t r, chr;      /* pixel-shuffle factor (1 = plain unit), channels per output pixel */
    int32_t nw_out;      /* words per pixel of the output packing */
    int32_t post_act;    /* bc_act applied to the written y (only without bnext) */
    int32_t has_bias;
    const uint64_t *pin, *min;  /* packed input grid and non-zero mask grid */
    const uint8_t *zin;         /* zero row flags of the input, H bytes */
    const uint64_t *wt;
    const int32_t *ecorr;
    const float *alpha, *bias, *b0, *pa, *b1; /* [cout], in q order */
    const float *xres;          /* NHWC residual [H][W][chr] */
    float *yout;                /* NHWC [rH][rW][chr]; may equal xres when r == 1 (in place) */
    const float *bnext;         /* [chr] threshold of the next unit, or NULL: no packing */
    uint64_t *pout, *mout;      /* output grids [(rH+2)][(rW+2)][nw_out] */
    uint8_t *zout;              /* rH bytes */
    int32_t *counts;            /* benchmark: if set, write [H][W][cout] counts, no epilogue */
} bc_unit;

typedef struct bc_entry {
    int32_t H, W, C, nw, act;
    const float *src;    /* NCHW [C][H][W] */
    float *dst;          /* NHWC [H][W][C], act(src) */
    const float *bnext;  /* [C] */
    uint64_t *pout, *mout;
    uint8_t *zout;
} bc_entry;

/*
 * A chain of plain units (bitconv_chain.h): the optional entry, then units[0 .. n-1], all r == 1
 * on the same H x W grid, unit k + 1 reading the packed output of unit k (units[k].pout ==
 * units[k + 1].pin, the entry's pout == units[0].pin), residuals updated in place. Run as a
 * wavefront over bands of `band` rows (0: chosen from the row size), bit for bit what running
 * the entry and the units one by one gives.
 */
typedef struct bc_chain {
    int32_t n, band;
    const bc_entry *entry; /* or NULL */
    const bc_unit *units;  /* [n] */
} bc_chain;

/*
 * The full-precision tail fused with the output (fptail.h). The tail conv runs on a grid of
 * Hc x Wc pixels; each grid pixel owns an r x r block of output pixels, output channel c of
 * sub-pixel (i, j) being conv output c*r*r + i*r + j (PixelShuffle order). Output pixel (Y, X):
 *   BC_FIN_SR : (z + bilinear_sb(x * k))(Y, X) / k    (x: the Hx x Wx input, sb: output / input)
 *   BC_FIN_DN : x(Y, X) - z / k                         (sb = 1)
 * Only the window [y0, y1) x [x0, x1) is computed and stored; dst points at its first pixel,
 * rows dst_row elements apart, C channels per pixel, as float32 or clipped and rounded uint.
 * With wt the conv z = conv3x3(feat, zero padding) + bias is computed here (AVX2: vectorised
 * over input channels for fewer than 8 outputs, over outputs otherwise, with the weights
 * repacked per call); without, z is read from zin ([Hc][Wc][cz]).
 */
typedef struct bc_finish {
    int32_t Hc, Wc, cin, cz, r, C;
    int32_t Hx, Wx, sb, mode;
    int32_t y0, y1, x0, x1, dtype;
    int32_t gy0, gx0;    /* grid pixel (gy, gx) covers output pixels ((gy + gy0) * r + i, (gx + gx0) * r + j) */
    float k;
    int64_t dst_row;
    const float *feat;   /* NHWC [Hc][Wc][cin] */
    const float *wt;     /* [cz][9][cin], tap = 3*ky + kx */
    const float *bias;   /* [cz] or NULL */
    const float *zin;    /* NHWC [Hc][Wc][cz] when wt is NULL */
    const float *x;      /* NHWC [Hx][Wx][C], the model input in [0, 1] */
    void *dst;
} bc_finish;

/*
 * The full-precision head conv (fphead.h): dst = conv3x3(src, zero padding) + bias, accumulated
 * in float64 in a fixed order and rounded to float32 once; no activation (bc_entry applies it).
 */
typedef struct bc_head {
    int32_t H, W, cin, cout;
    const float *src;    /* NHWC [H][W][cin] (the model input times k) */
    const double *wt;    /* [9][cin][cout], tap = 3*ky + kx */
    const double *bias;  /* [cout] or NULL */
    float *dst;          /* NCHW [cout][H][W], what bc_entry reads */
} bc_head;

/* PNG Paeth filtering of h rows of rowbytes 8-bit samples (bpp bytes a pixel) from src into
 * dst (h rows of 1 + rowbytes: filter byte 4, then the filtered bytes); see pngfilter.h. */
typedef struct bc_png {
    const uint8_t *src;
    uint8_t *dst;
    int64_t rowbytes;
    int32_t h, bpp;
} bc_png;

BC_API int bc_abi_version(void);
BC_API unsigned bc_cpu_features(void);
BC_API unsigned bc_compiled_isas(void);   /* bit (1 << isa) per compiled variant */
BC_API int bc_isa_usable(int isa);        /* compiled and supported by this CPU */
BC_API int bc_best_isa(void);
BC_API int bc_set_isa(int isa);           /* 0 ok, -1 not compiled, -2 CPU lacks it */
BC_API int bc_get_isa(void);
BC_API int bc_amx_usable(void);           /* AMX tiles for the binary conv: built, CPU and OS allow them */
BC_API int bc_set_amx(int on);            /* 0 ok, -1 not usable (on only) */
BC_API int bc_get_amx(void);              /* units run on AMX now (wanted, usable, AVX-512 selected) */
BC_API int bc_png_paeth(const bc_png *g, int nthreads); /* 0 ok, -1 invalid */
BC_API int bc_unit_run(const bc_unit *u, int nthreads);
BC_API int bc_entry_run(const bc_entry *e, int nthreads);
BC_API int bc_chain_run(const bc_chain *c, int nthreads);
BC_API int bc_finish_run(const bc_finish *f, int nthreads);
BC_API int bc_head_run(const bc_head *h, int nthreads);

#ifdef __cplusplus
}
#endif
#endif
