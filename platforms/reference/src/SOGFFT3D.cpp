#include "SOGFFT3D.h"
#include "SOGGridLoops.h"
#include "SOGParallelFor.h"
#include "openmm/OpenMMException.h"
#include "openmm/internal/ThreadPool.h"
#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <type_traits>

using namespace SOGPlugin;
using namespace std;


// Lines per batch: the innermost loop of every butterfly runs over (stride x batch) Reals. 16
// rather than 8 reads the x pass's lines (one page apart per value) in longer runs and gives the
// first stage's loops whole vectors; 16 rather than 32 keeps a batch of 128-point float lines and
// its work space (32 KB) in the level-1 cache: 1.1-1.3x faster than 32 from 64^3 to 256^3 with
// radix-8 stages (float, AVX2, Intel Xeon).
static const int BATCH = 16;

// The butterflies read and write through arrays of pointers to distinct blocks, which the
// compilers cannot prove apart: without this they leave the loops scalar (measured: 1.7x slower
// for a 200^3 float transform).
#if defined(__clang__)
#define SOG_BLOCKS_DO_NOT_OVERLAP _Pragma("clang loop vectorize(assume_safety)")
#elif defined(__GNUC__)
#define SOG_BLOCKS_DO_NOT_OVERLAP _Pragma("GCC ivdep")
#else
#define SOG_BLOCKS_DO_NOT_OVERLAP
#endif
static const int MAX_RADIX = 16;

// Vector shuffles (GCC >= 12, Clang) for the transposes between lines and batches.
#if defined(__has_builtin)
#if __has_builtin(__builtin_shufflevector)
#define SOG_FFT_HAS_SHUFFLES
#endif
#endif

#ifdef SOG_FFT_HAS_SHUFFLES
typedef float SOGFloat4 __attribute__((vector_size(16)));
typedef double SOGDouble2 __attribute__((vector_size(16)));

// Rows r[k] to columns in place: 4 x 4 floats, 2 x 2 doubles.
static inline void transposeBlock(SOGFloat4 r[4]) {
    const SOGFloat4 t0 = __builtin_shufflevector(r[0], r[1], 0, 4, 1, 5), t1 = __builtin_shufflevector(r[0], r[1], 2, 6, 3, 7);
    const SOGFloat4 t2 = __builtin_shufflevector(r[2], r[3], 0, 4, 1, 5), t3 = __builtin_shufflevector(r[2], r[3], 2, 6, 3, 7);
    r[0] = __builtin_shufflevector(t0, t2, 0, 1, 4, 5);
    r[1] = __builtin_shufflevector(t0, t2, 2, 3, 6, 7);
    r[2] = __builtin_shufflevector(t1, t3, 0, 1, 4, 5);
    r[3] = __builtin_shufflevector(t1, t3, 2, 3, 6, 7);
}

static inline void transposeBlock(SOGDouble2 r[2]) {
    const SOGDouble2 r0 = r[0];
    r[0] = __builtin_shufflevector(r0, r[1], 0, 2);
    r[1] = __builtin_shufflevector(r0, r[1], 1, 3);
}
#endif

/*
 * Between `count` lines of n contiguous values (line b at lines[b]) and a batch buffer (value j
 * of line b at batchValues[j*batch + b]), in either direction: a transpose, in square blocks of
 * one 16-byte vector per line where the compiler has vector shuffles (packing the grid's z lines
 * value by value cost as much as their butterflies), value by value for the rest.
 */
template <class Real, bool TO_BATCH>
static void transposeLines(Real* const* lines, int count, int n, Real* batchValues, int batch) {
    int blockLines = 0, blockValues = 0;
#ifdef SOG_FFT_HAS_SHUFFLES
    typedef typename conditional<sizeof(Real) == sizeof(float), SOGFloat4, SOGDouble2>::type Vector;
    const int W = sizeof(Vector)/sizeof(Real);
    blockLines = count - count % W;
    blockValues = n - n % W;
    for (int b0 = 0; b0 < blockLines; b0 += W)
        for (int j0 = 0; j0 < blockValues; j0 += W) {
            Vector rows[W];
            for (int k = 0; k < W; k++)
                memcpy(&rows[k], TO_BATCH ? lines[b0 + k] + j0 : batchValues + (size_t) (j0 + k)*batch + b0, sizeof(Vector));
            transposeBlock(rows);
            for (int k = 0; k < W; k++)
                memcpy(TO_BATCH ? batchValues + (size_t) (j0 + k)*batch + b0 : lines[b0 + k] + j0, &rows[k], sizeof(Vector));
        }
#endif
    for (int b = 0; b < count; b++)
        for (int j = (b < blockLines ? blockValues : 0); j < n; j++) {
            Real& batchValue = batchValues[(size_t) j*batch + b];
            if (TO_BATCH)
                batchValue = lines[b][j];
            else
                lines[b][j] = batchValue;
        }
}

#ifdef SOG_HAVE_AVX2_LOOPS
// Whether this processor runs the AVX-512 butterflies, asked once.
static bool useAvx512Butterflies() {
    static const bool avx512 = [] {
        __builtin_cpu_init();
        return useAvx2Loops() && __builtin_cpu_supports("avx512f");
    }();
    return avx512;
}
#endif

template <class Real>
struct SOGFFT3D<Real>::Lines {
    vector<long long> starts; // index of each line's first element
    int stride;         // distance between consecutive elements of a line
};

template <class Real>
SOGFFT3D<Real>::SOGFFT3D(int nx, int ny, int nz, bool allowSimdExtensions) {
    size[0] = nx;
    size[1] = ny;
    size[2] = nz;
#ifdef SOG_HAVE_AVX2_LOOPS
    const InstructionSet isa = (!allowSimdExtensions ? InstructionSet::Baseline : useAvx512Butterflies() ?
            InstructionSet::Avx512 : useAvx2Loops() ? InstructionSet::Avx2 : InstructionSet::Baseline);
#else
    (void) allowSimdExtensions;
    const InstructionSet isa = InstructionSet::Baseline;
#endif
    for (int axis = 0; axis < 3; axis++)
        plans[axis] = createPlan(size[axis], isa);
}

template <class Real>
typename SOGFFT3D<Real>::Plan1D SOGFFT3D<Real>::createPlan(int n, InstructionSet isa) {
    Plan1D plan;
    plan.size = n;
    plan.isa = isa;
    vector<int> radices;
    int remainder = n;
    // Radix 8 where it divides (fewer passes over the batch), then 4, then the other factors.
    for (int radix : {8, 4})
        while (remainder % radix == 0) {
            radices.push_back(radix);
            remainder /= radix;
        }
    for (int factor = 2; remainder > 1; factor++)
        while (remainder % factor == 0) {
            if (factor > MAX_RADIX)
                throw OpenMM::OpenMMException("SOG host FFT: unsupported FFT size " + to_string(n) + " (prime factor " +
                        to_string(factor) + ")");
            radices.push_back(factor);
            remainder /= factor;
        }
    int length = n;
    for (int radix : radices) {
        Stage stage;
        stage.radix = radix;
        stage.length = length;
        const int m = length/radix;
        stage.twiddleRe.resize((radix - 1)*m);
        stage.twiddleIm.resize((radix - 1)*m);
        for (int k = 1; k < radix; k++)
            for (int p = 0; p < m; p++) {
                double angle = 2*M_PI*((long long) p*k % length)/length;
                stage.twiddleRe[(k - 1)*m + p] = cos(angle);
                stage.twiddleIm[(k - 1)*m + p] = -sin(angle);
            }
        plan.stages.push_back(stage);
        length = m;
    }
    return plan;
}

// re[e] + i im[e] = (xr + i xi)(wr + i wi)
template <class Real>
static inline void storeRotated(Real* re, Real* im, int e, Real xr, Real xi, Real wr, Real wi) {
    re[e] = xr*wr - xi*wi;
    im[e] = xr*wi + xi*wr;
}

/*
 * Self-sorting decimation in frequency. A stage of radix r on transforms of length L = r*m at
 * stride s reads, for each p < m, the r blocks x[s*(p + j*m)], j < r, takes their length-r DFT
 * and writes block k, times exp(-+2 pi i p k/L), to y[s*(r*p + k)]. With a batch of lines as
 * the innermost index, every block is s*batch contiguous Reals sharing one twiddle factor.
 */
template <class Real>
void SOGFFT3D<Real>::transformBatch(const Plan1D& plan, Real* re, Real* im, Real* work, int batch, bool forward) {
#ifdef SOG_HAVE_AVX2_LOOPS
    if (plan.isa == InstructionSet::Avx512) {
        transformBatchAvx512(plan, re, im, work, batch, forward);
        return;
    }
    if (plan.isa == InstructionSet::Avx2) {
        transformBatchAvx2(plan, re, im, work, batch, forward);
        return;
    }
#endif
    transformBatchPortable(plan, re, im, work, batch, forward);
}

#ifdef SOG_HAVE_AVX2_LOOPS
// The same butterflies in 256-bit and 512-bit vectors: flatten inlines everything they call into
// these functions, the only ones compiled for AVX2 and AVX-512 (no out-of-line code needs more
// than the baseline). Floating-point contraction is off (-ffp-contract=off, CMakeLists.txt), so
// the results equal the baseline's bit for bit. AVX-512, where the processor has it, transforms
// 128^3 float grids 1.1-1.15x faster than AVX2 (Intel Xeon).
template <class Real>
__attribute__((target("avx2"), flatten))
void SOGFFT3D<Real>::transformBatchAvx2(const Plan1D& plan, Real* re, Real* im, Real* work, int batch, bool forward) {
    transformBatchPortable(plan, re, im, work, batch, forward);
}

template <class Real>
__attribute__((target("avx512f,avx2"), flatten))
void SOGFFT3D<Real>::transformBatchAvx512(const Plan1D& plan, Real* re, Real* im, Real* work, int batch, bool forward) {
    transformBatchPortable(plan, re, im, work, batch, forward);
}
#endif

template <class Real>
void SOGFFT3D<Real>::transformBatchPortable(const Plan1D& plan, Real* re, Real* im, Real* work, int batch, bool forward) {
    const int n = plan.size;
    const Real sign = (forward ? Real(-1) : Real(1)); // of the exponent
    Real* xr = re;
    Real* xi = im;
    Real* yr = work;
    Real* yi = work + n*batch;
    int stride = 1;
    for (const Stage& stage : plan.stages) {
        const int r = stage.radix;
        const int m = stage.length/r;
        const int block = stride*batch;
        for (int p = 0; p < m; p++) {
            Real wr[MAX_RADIX], wi[MAX_RADIX];
            wr[0] = 1.0;
            wi[0] = 0.0;
            for (int k = 1; k < r; k++) {
                wr[k] = stage.twiddleRe[(k - 1)*m + p];
                // stored for the forward sign; the backward transform uses the conjugate
                wi[k] = (forward ? stage.twiddleIm[(k - 1)*m + p] : -stage.twiddleIm[(k - 1)*m + p]);
            }
            const Real* __restrict ar[MAX_RADIX];
            const Real* __restrict ai[MAX_RADIX];
            Real* __restrict br[MAX_RADIX];
            Real* __restrict bi[MAX_RADIX];
            for (int j = 0; j < r; j++) {
                ar[j] = xr + (long long) stride*(p + j*m)*batch;
                ai[j] = xi + (long long) stride*(p + j*m)*batch;
                br[j] = yr + (long long) stride*(r*p + j)*batch;
                bi[j] = yi + (long long) stride*(r*p + j)*batch;
            }
            if (r == 2) {
                const Real w1r = wr[1], w1i = wi[1];
                SOG_BLOCKS_DO_NOT_OVERLAP
                for (int e = 0; e < block; e++) {
                    Real sr = ar[0][e] + ar[1][e], si = ai[0][e] + ai[1][e];
                    Real dr = ar[0][e] - ar[1][e], di = ai[0][e] - ai[1][e];
                    br[0][e] = sr;
                    bi[0][e] = si;
                    storeRotated(br[1], bi[1], e, dr, di, w1r, w1i);
                }
            }
            else if (r == 4) {
                SOG_BLOCKS_DO_NOT_OVERLAP
                for (int e = 0; e < block; e++) {
                    Real t0r = ar[0][e] + ar[2][e], t0i = ai[0][e] + ai[2][e];
                    Real t1r = ar[0][e] - ar[2][e], t1i = ai[0][e] - ai[2][e];
                    Real t2r = ar[1][e] + ar[3][e], t2i = ai[1][e] + ai[3][e];
                    // (a1 - a3) times sign*i
                    Real t3r = -sign*(ai[1][e] - ai[3][e]), t3i = sign*(ar[1][e] - ar[3][e]);
                    br[0][e] = t0r + t2r;
                    bi[0][e] = t0i + t2i;
                    Real xr1 = t1r + t3r, xi1 = t1i + t3i;
                    Real xr2 = t0r - t2r, xi2 = t0i - t2i;
                    Real xr3 = t1r - t3r, xi3 = t1i - t3i;
                    storeRotated(br[1], bi[1], e, xr1, xi1, wr[1], wi[1]);
                    storeRotated(br[2], bi[2], e, xr2, xi2, wr[2], wi[2]);
                    storeRotated(br[3], bi[3], e, xr3, xi3, wr[3], wi[3]);
                }
            }
            else if (r == 8) {
                // Radix 2 between a_j and a_{j+4} (the difference turned by w^j, w = exp(sign 2 pi i/8)),
                // then a radix-4 DFT of the sums (outputs 0, 2, 4, 6) and of the differences (1, 3, 5, 7).
                const Real h = Real(sqrt(0.5));
                SOG_BLOCKS_DO_NOT_OVERLAP
                for (int e = 0; e < block; e++) {
                    Real s0r = ar[0][e] + ar[4][e], s0i = ai[0][e] + ai[4][e];
                    Real s1r = ar[1][e] + ar[5][e], s1i = ai[1][e] + ai[5][e];
                    Real s2r = ar[2][e] + ar[6][e], s2i = ai[2][e] + ai[6][e];
                    Real s3r = ar[3][e] + ar[7][e], s3i = ai[3][e] + ai[7][e];
                    Real d0r = ar[0][e] - ar[4][e], d0i = ai[0][e] - ai[4][e];
                    Real e1r = ar[1][e] - ar[5][e], e1i = ai[1][e] - ai[5][e];
                    Real e2r = ar[2][e] - ar[6][e], e2i = ai[2][e] - ai[6][e];
                    Real e3r = ar[3][e] - ar[7][e], e3i = ai[3][e] - ai[7][e];
                    // d1 = e1 w, w = (1 + sign i)/sqrt(2); d2 = e2 sign i; d3 = e3 w^3, w^3 = (-1 + sign i)/sqrt(2)
                    Real d1r = h*(e1r - sign*e1i), d1i = h*(e1i + sign*e1r);
                    Real d2r = -sign*e2i, d2i = sign*e2r;
                    Real d3r = -h*(e3r + sign*e3i), d3i = h*(sign*e3r - e3i);
                    // radix 4 of the sums
                    Real t0r = s0r + s2r, t0i = s0i + s2i;
                    Real t1r = s0r - s2r, t1i = s0i - s2i;
                    Real t2r = s1r + s3r, t2i = s1i + s3i;
                    Real t3r = -sign*(s1i - s3i), t3i = sign*(s1r - s3r);
                    br[0][e] = t0r + t2r;
                    bi[0][e] = t0i + t2i;
                    storeRotated(br[2], bi[2], e, t1r + t3r, t1i + t3i, wr[2], wi[2]);
                    storeRotated(br[4], bi[4], e, t0r - t2r, t0i - t2i, wr[4], wi[4]);
                    storeRotated(br[6], bi[6], e, t1r - t3r, t1i - t3i, wr[6], wi[6]);
                    // radix 4 of the differences
                    Real u0r = d0r + d2r, u0i = d0i + d2i;
                    Real u1r = d0r - d2r, u1i = d0i - d2i;
                    Real u2r = d1r + d3r, u2i = d1i + d3i;
                    Real u3r = -sign*(d1i - d3i), u3i = sign*(d1r - d3r);
                    storeRotated(br[1], bi[1], e, u0r + u2r, u0i + u2i, wr[1], wi[1]);
                    storeRotated(br[3], bi[3], e, u1r + u3r, u1i + u3i, wr[3], wi[3]);
                    storeRotated(br[5], bi[5], e, u0r - u2r, u0i - u2i, wr[5], wi[5]);
                    storeRotated(br[7], bi[7], e, u1r - u3r, u1i - u3i, wr[7], wi[7]);
                }
            }
            else if (r == 3) {
                const Real h = sign*Real(sqrt(0.75)); // sign * sin(2 pi/3)
                SOG_BLOCKS_DO_NOT_OVERLAP
                for (int e = 0; e < block; e++) {
                    Real sr = ar[1][e] + ar[2][e], si = ai[1][e] + ai[2][e];
                    Real dr = ar[1][e] - ar[2][e], di = ai[1][e] - ai[2][e];
                    Real cr = ar[0][e] - Real(0.5)*sr, ci = ai[0][e] - Real(0.5)*si;
                    br[0][e] = ar[0][e] + sr;
                    bi[0][e] = ai[0][e] + si;
                    Real xr1 = cr - h*di, xi1 = ci + h*dr; // c + i h d
                    Real xr2 = cr + h*di, xi2 = ci - h*dr;
                    storeRotated(br[1], bi[1], e, xr1, xi1, wr[1], wi[1]);
                    storeRotated(br[2], bi[2], e, xr2, xi2, wr[2], wi[2]);
                }
            }
            else if (r == 5) {
                const Real c1 = Real(cos(0.4*M_PI)), c2 = Real(cos(0.8*M_PI));
                const Real s1 = sign*Real(sin(0.4*M_PI)), s2 = sign*Real(sin(0.8*M_PI));
                SOG_BLOCKS_DO_NOT_OVERLAP
                for (int e = 0; e < block; e++) {
                    Real p1r = ar[1][e] + ar[4][e], p1i = ai[1][e] + ai[4][e];
                    Real d1r = ar[1][e] - ar[4][e], d1i = ai[1][e] - ai[4][e];
                    Real p2r = ar[2][e] + ar[3][e], p2i = ai[2][e] + ai[3][e];
                    Real d2r = ar[2][e] - ar[3][e], d2i = ai[2][e] - ai[3][e];
                    br[0][e] = ar[0][e] + p1r + p2r;
                    bi[0][e] = ai[0][e] + p1i + p2i;
                    Real u1r = ar[0][e] + c1*p1r + c2*p2r, u1i = ai[0][e] + c1*p1i + c2*p2i;
                    Real u2r = ar[0][e] + c2*p1r + c1*p2r, u2i = ai[0][e] + c2*p1i + c1*p2i;
                    Real v1r = s1*d1r + s2*d2r, v1i = s1*d1i + s2*d2i; // X1 = u1 + i v1, X4 = u1 - i v1
                    Real v2r = s2*d1r - s1*d2r, v2i = s2*d1i - s1*d2i; // X2 = u2 + i v2, X3 = u2 - i v2
                    Real x1r = u1r - v1i, x1i = u1i + v1r;
                    Real x4r = u1r + v1i, x4i = u1i - v1r;
                    Real x2r = u2r - v2i, x2i = u2i + v2r;
                    Real x3r = u2r + v2i, x3i = u2i - v2r;
                    storeRotated(br[1], bi[1], e, x1r, x1i, wr[1], wi[1]);
                    storeRotated(br[2], bi[2], e, x2r, x2i, wr[2], wi[2]);
                    storeRotated(br[3], bi[3], e, x3r, x3i, wr[3], wi[3]);
                    storeRotated(br[4], bi[4], e, x4r, x4i, wr[4], wi[4]);
                }
            }
            else {
                // Any other radix: a direct DFT of size r.
                Real rootRe[MAX_RADIX], rootIm[MAX_RADIX];
                for (int j = 0; j < r; j++) {
                    rootRe[j] = Real(cos(2*M_PI*j/r));
                    rootIm[j] = sign*Real(sin(2*M_PI*j/r));
                }
                SOG_BLOCKS_DO_NOT_OVERLAP
                for (int e = 0; e < block; e++)
                    for (int k = 0; k < r; k++) {
                        Real sr = 0.0, si = 0.0;
                        for (int j = 0; j < r; j++) {
                            int q = (j*k) % r;
                            sr += ar[j][e]*rootRe[q] - ai[j][e]*rootIm[q];
                            si += ar[j][e]*rootIm[q] + ai[j][e]*rootRe[q];
                        }
                        storeRotated(br[k], bi[k], e, sr, si, wr[k], wi[k]);
                    }
            }
        }
        stride *= r;
        swap(xr, yr);
        swap(xi, yi);
    }
    if (xr != re) {
        copy(xr, xr + n*batch, re);
        copy(xi, xi + n*batch, im);
    }
}

template <class Real>
void SOGFFT3D<Real>::transformInBatches(const Plan1D& plan, int count, bool forward, OpenMM::ThreadPool* threads,
        const BatchIO& pack, const BatchIO& unpack) {
    const int n = plan.size;
    parallelFor(threads, count, [&](int begin, int end, int thread) {
        vector<Real> re(n*BATCH), im(n*BATCH), work(2*n*BATCH);
        for (int first = begin; first < end; first += BATCH) {
            const int batch = min(BATCH, end - first);
            pack(first, batch, re.data(), im.data());
            transformBatch(plan, re.data(), im.data(), work.data(), batch, forward);
            unpack(first, batch, re.data(), im.data());
        }
    });
}

template <class Real>
void SOGFFT3D<Real>::transformComplexLines(complex<Real>* data, const Plan1D& plan, const Lines& lines, bool forward,
        const vector<char>* usedInput, OpenMM::ThreadPool* threads) const {
    const int n = plan.size;
    Real* values = reinterpret_cast<Real*>(data);
    // A batch's lines are usually adjacent (consecutive m_z): value j of all of them is then one
    // run of complex values, split into re and im by a loop the compilers vectorise.
    auto adjacent = [&](const long long* starts, int batch) {
        return starts[batch - 1] - starts[0] == batch - 1;
    };
    auto pack = [&](int first, int batch, Real* re, Real* im) {
        const long long* starts = &lines.starts[first];
        const bool contiguous = adjacent(starts, batch);
        for (int j = 0; j < n; j++) {
            Real* __restrict batchRe = re + j*batch;
            Real* __restrict batchIm = im + j*batch;
            if (usedInput != nullptr && !(*usedInput)[j]) {
                fill(batchRe, batchRe + batch, Real(0));
                fill(batchIm, batchIm + batch, Real(0));
            }
            else if (contiguous) {
                const Real* __restrict run = values + 2*(starts[0] + (long long) j*lines.stride);
                for (int b = 0; b < batch; b++) {
                    batchRe[b] = run[2*b];
                    batchIm[b] = run[2*b + 1];
                }
            }
            else
                for (int b = 0; b < batch; b++) {
                    long long index = 2*(starts[b] + (long long) j*lines.stride);
                    batchRe[b] = values[index];
                    batchIm[b] = values[index + 1];
                }
        }
    };
    auto unpack = [&](int first, int batch, Real* re, Real* im) {
        const long long* starts = &lines.starts[first];
        const bool contiguous = adjacent(starts, batch);
        for (int j = 0; j < n; j++) {
            const Real* __restrict batchRe = re + j*batch;
            const Real* __restrict batchIm = im + j*batch;
            if (contiguous) {
                Real* __restrict run = values + 2*(starts[0] + (long long) j*lines.stride);
                for (int b = 0; b < batch; b++) {
                    run[2*b] = batchRe[b];
                    run[2*b + 1] = batchIm[b];
                }
            }
            else
                for (int b = 0; b < batch; b++) {
                    long long index = 2*(starts[b] + (long long) j*lines.stride);
                    values[index] = batchRe[b];
                    values[index + 1] = batchIm[b];
                }
        }
    };
    transformInBatches(plan, lines.starts.size(), forward, threads, pack, unpack);
}

template <class Real>
void SOGFFT3D<Real>::checkModes(const int maxMode[3]) const {
    for (int d = 0; d < 3; d++)
        if (maxMode[d] < 0 || 2*maxMode[d] >= size[d])
            throw OpenMM::OpenMMException("SOG host FFT: internal error, mode limit " + to_string(maxMode[d]) +
                    " does not fit an FFT grid of " + to_string(size[d]) + " points");
}

static vector<char> usedIndices(int size, int maxMode) {
    vector<char> used(size, 0);
    for (int m = -maxMode; m <= maxMode; m++)
        used[(m + size) % size] = 1;
    return used;
}

template <class Real>
typename SOGFFT3D<Real>::Lines SOGFFT3D<Real>::linesAlongY(int kz) const {
    // every (x, m_z) line of the half spectrum
    Lines lines;
    lines.stride = kz;
    for (int x = 0; x < size[0]; x++)
        for (int z = 0; z < kz; z++)
            lines.starts.push_back((long long) x*size[1]*kz + z);
    return lines;
}

template <class Real>
typename SOGFFT3D<Real>::Lines SOGFFT3D<Real>::linesAlongX(const vector<char>& usedY, int kz) const {
    // the (y, m_z) lines of the half spectrum at used m_y
    Lines lines;
    lines.stride = size[1]*kz;
    for (int y = 0; y < size[1]; y++)
        if (usedY[y])
            for (int z = 0; z < kz; z++)
                lines.starts.push_back((long long) y*kz + z);
    return lines;
}

template <class Real>
void SOGFFT3D<Real>::forward(const Real* grid, complex<Real>* spectrum, const int maxMode[3], OpenMM::ThreadPool* threads) const {
    checkModes(maxMode);
    const int nx = size[0], ny = size[1], nz = size[2];
    const int kz = maxMode[2] + 1; // stored z modes
    // z: real lines 2p and 2p+1 as the real and imaginary parts of one complex line C = a + i b.
    // Then A[k] = (C[k] + conj C[-k])/2 and B[k] = (C[k] - conj C[-k])/(2i).
    const int numLines = nx*ny, numPairs = (numLines + 1)/2;
    vector<Real> zeroLine(nz, Real(0)); // the partner of an odd last line
    auto pack = [&](int first, int batch, Real* re, Real* im) {
        Real* even[BATCH];
        Real* odd[BATCH];
        for (int b = 0; b < batch; b++) {
            const int line = 2*(first + b);
            even[b] = const_cast<Real*>(grid) + (long long) line*nz;
            odd[b] = (line + 1 < numLines ? even[b] + nz : zeroLine.data());
        }
        transposeLines<Real, true>(even, batch, nz, re, batch);
        transposeLines<Real, true>(odd, batch, nz, im, batch);
    };
    auto unpack = [&](int first, int batch, Real* re, Real* im) {
        for (int b = 0; b < batch; b++) {
            const int line = 2*(first + b);
            complex<Real>* a = spectrum + (long long) line*kz;
            complex<Real>* c = (line + 1 < numLines ? a + kz : nullptr);
            for (int k = 0; k < kz; k++) {
                const int mirror = (nz - k) % nz;
                Real cr = re[k*batch + b], ci = im[k*batch + b];
                Real mr = re[mirror*batch + b], mi = im[mirror*batch + b];
                const Real half = 0.5;
                a[k] = complex<Real>(half*(cr + mr), half*(ci - mi));
                if (c != nullptr)
                    c[k] = complex<Real>(half*(ci + mi), -half*(cr - mr));
            }
        }
    };
    transformInBatches(plans[2], numPairs, true, threads, pack, unpack);
    transformComplexLines(spectrum, plans[1], linesAlongY(kz), true, nullptr, threads);
    transformComplexLines(spectrum, plans[0], linesAlongX(usedIndices(ny, maxMode[1]), kz), true, nullptr, threads);
}

template <class Real>
void SOGFFT3D<Real>::backward(complex<Real>* spectrum, Real* grid, const int maxMode[3], OpenMM::ThreadPool* threads) const {
    checkModes(maxMode);
    const int nx = size[0], ny = size[1], nz = size[2];
    const int kz = maxMode[2] + 1;
    // x then y, reading only the used m_x and m_y (the rest is work space of the forward transform)
    const vector<char> usedX = usedIndices(nx, maxMode[0]), usedY = usedIndices(ny, maxMode[1]);
    transformComplexLines(spectrum, plans[0], linesAlongX(usedY, kz), false, &usedX, threads);
    transformComplexLines(spectrum, plans[1], linesAlongY(kz), false, &usedY, threads);
    // z: the Hermitian lines A and B of lines 2p and 2p+1 as one complex line C = A + i B, whose
    // transform is a + i b with both real.
    const int numLines = nx*ny, numPairs = (numLines + 1)/2;
    auto pack = [&](int first, int batch, Real* re, Real* im) {
        fill(re, re + nz*batch, Real(0));
        fill(im, im + nz*batch, Real(0));
        for (int b = 0; b < batch; b++) {
            const int line = 2*(first + b);
            const complex<Real>* a = spectrum + (long long) line*kz;
            const complex<Real>* c = (line + 1 < numLines ? a + kz : nullptr);
            for (int k = 0; k < kz; k++) {
                Real Ar = a[k].real(), Ai = a[k].imag();
                Real Br = (c == nullptr ? Real(0) : c[k].real()), Bi = (c == nullptr ? Real(0) : c[k].imag());
                re[k*batch + b] = Ar - Bi; // A + i B
                im[k*batch + b] = Ai + Br;
                if (k > 0) {
                    re[(nz - k)*batch + b] = Ar + Bi; // conj(A) + i conj(B)
                    im[(nz - k)*batch + b] = Br - Ai;
                }
            }
        }
    };
    auto unpack = [&](int first, int batch, Real* re, Real* im) {
        Real* even[BATCH];
        Real* odd[BATCH];
        for (int b = 0; b < batch; b++) {
            const int line = 2*(first + b);
            even[b] = grid + (long long) line*nz;
            odd[b] = even[b] + nz;
        }
        transposeLines<Real, false>(even, batch, nz, re, batch);
        // an odd last line has no partner: its imaginary part is not written
        const int pairs = (2*(first + batch) <= numLines ? batch : batch - 1);
        transposeLines<Real, false>(odd, pairs, nz, im, batch);
    };
    transformInBatches(plans[2], numPairs, false, threads, pack, unpack);
}

template class SOGPlugin::SOGFFT3D<float>;
template class SOGPlugin::SOGFFT3D<double>;
