/*
 * The loops of SOGGridLoops.h, for one instruction set. The including source defines
 * SOG_GRID_ISA (the namespace: baseline or avx2) and SOG_GRID_VECTOR_BYTES (the SIMD width the z
 * loops are padded to) and is compiled with that instruction set's flags. Everything here lives
 * in that namespace, so each instruction set has its own copy of every function; nothing from the
 * standard library is instantiated (see SOGGridLoops.h).
 */

#include "SOGGridLoops.h"
#if !defined(__GNUC__)
#include <cstring>
#endif

namespace SOGPlugin {
namespace SOG_GRID_ISA {

template <int N>
struct Width {
    static constexpr int value = N;
};

/*
 * The hot loops run over w = 4..16 points per axis. Calling body(Width<W>()) with W = w makes
 * every loop bound a compile-time constant, which the compiler unrolls (about 2x faster than the
 * same loops with a run-time bound; the z loops' SIMD vectors are explicit, see Simd below);
 * W = 0 is the run-time fallback.
 */
template <class Body>
static inline void withWidth(int w, Body&& body) {
    switch (w) {
        case 4: body(Width<4>()); break;
        case 5: body(Width<5>()); break;
        case 6: body(Width<6>()); break;
        case 7: body(Width<7>()); break;
        case 8: body(Width<8>()); break;
        case 9: body(Width<9>()); break;
        case 10: body(Width<10>()); break;
        case 11: body(Width<11>()); break;
        case 12: body(Width<12>()); break;
        default: body(Width<0>());
    }
}


/*
 * The z loops are written with SIMD vectors of SOG_GRID_VECTOR_BYTES (GCC and Clang vector
 * extensions): left to themselves, the compilers unroll those short constant-length loops
 * completely and then leave them scalar. Elsewhere a "vector" is one value, and the same code
 * runs scalar. Loads and stores go through memcpy (grid rows are not aligned to vectors).
 */
#if defined(__GNUC__)
template <class Real>
struct Simd;
template <>
struct Simd<float> {
    typedef float Vector __attribute__((vector_size(SOG_GRID_VECTOR_BYTES)));
};
template <>
struct Simd<double> {
    typedef double Vector __attribute__((vector_size(SOG_GRID_VECTOR_BYTES)));
};
#define SOG_GRID_COPY __builtin_memcpy
#else
template <class Real>
struct Simd {
    typedef Real Vector;
};
#define SOG_GRID_COPY std::memcpy
#endif

template <class Vector, class Real>
static inline Vector loadVector(const Real* values) {
    Vector v;
    SOG_GRID_COPY(&v, values, sizeof(Vector));
    return v;
}

template <class Vector, class Real>
static inline void storeVector(Real* values, Vector v) {
    SOG_GRID_COPY(values, &v, sizeof(Vector));
}

/*
 * The z loops of spreading and interpolation run over the support padded with zero weights to a
 * whole number of SIMD vectors (5 -> 8 floats), so that they have no scalar remainder. The
 * run-time-width fallback (W = 0) does not pad and sizes the local arrays for the widest
 * kernel, 16.
 */
template <class Real, int W>
static constexpr int paddedWidth() {
    constexpr int lanes = (int) (sizeof(typename Simd<Real>::Vector)/sizeof(Real));
    constexpr int padded = (W + lanes - 1)/lanes*lanes;
    return (W > 0 ? (padded < 16 ? padded : 16) : 16);
}

/*
 * result[d][t] = sum_k coefficients[k*w + t] v[d]^k for the three axes d and t < w, by Horner's
 * rule (the polynomials of SOGSpreadingKernel::evaluate, with the width fixed at compile time),
 * times scale[d], rounded to Real at the end (single precision keeps its 7 digits: the polynomial
 * itself is summed in double).
 * The three axes advance together: 3w independent chains instead of w keep the multipliers busy
 * (one axis at a time, the dependent steps of each chain set the pace).
 */
template <int W, class Real>
static inline void evaluateWeights(const double* coefficients, int degree, int w, const double v[3], const double scale[3],
        Real* const result[3]) {
    const int width = (W > 0 ? W : w);
    double sum[3][16];
    for (int d = 0; d < 3; d++)
        for (int t = 0; t < width; t++)
            sum[d][t] = coefficients[degree*width + t];
    for (int k = degree - 1; k >= 0; k--) {
        const double* c = coefficients + k*width;
        for (int d = 0; d < 3; d++)
            for (int t = 0; t < width; t++)
                sum[d][t] = sum[d][t]*v[d] + c[t];
    }
    for (int d = 0; d < 3; d++)
        for (int t = 0; t < width; t++)
            result[d][t] = (Real) (scale[d]*sum[d][t]);
}

template <class Real>
static void computeWeights(const SOGWeightPolynomials& polynomials, int w, const double* variables,
        int begin, int end, Real* weights, Real* derivWeights) {
    withWidth(w, [&](auto width) {
        constexpr int W = decltype(width)::value;
        const double valueScale[3] = {polynomials.valueScale, polynomials.valueScale, polynomials.valueScale};
        for (int k = begin; k < end; k++) {
            const double* v = &variables[3*k];
            Real* const values[3] = {&weights[3*k*w], &weights[(3*k + 1)*w], &weights[(3*k + 2)*w]};
            evaluateWeights<W>(polynomials.valueCoefficients, polynomials.valueDegree, w, v, valueScale, values);
            if (polynomials.derivativeCoefficients != nullptr) {
                Real* const derivatives[3] = {&derivWeights[3*k*w], &derivWeights[(3*k + 1)*w], &derivWeights[(3*k + 2)*w]};
                evaluateWeights<W>(polynomials.derivativeCoefficients, polynomials.derivativeDegree, w, v,
                        polynomials.derivativeScale, derivatives);
            }
        }
    });
}

/*
 * Wrapped grid indices of sorted entry k along each axis: indices[d][t], t < w.
 */
template <class Real>
static inline void wrappedIndices(const SOGGridPass<Real>& pass, int k, int indices[3][16]) {
    const int w = pass.width;
    for (int d = 0; d < 3; d++) {
        const int* table = &pass.wrapTable[d][pass.firstIndex[3*k + d] + w];
        for (int t = 0; t < w; t++)
            indices[d][t] = table[t];
    }
}

template <class Real>
static void spread(const SOGGridPass<Real>& pass, int begin, int end, int firstPlane, int endPlane, Real* const* grids) {
    const int* n = pass.gridSize;
    const int P = pass.numChannels;
    withWidth(pass.width, [&](auto width) {
        constexpr int W = decltype(width)::value;
        const int ww = (W > 0 ? W : pass.width);
        constexpr int WP = paddedWidth<Real, W>(); // the local arrays' size
        const int wp = (W > 0 ? WP : ww);
        typedef typename Simd<Real>::Vector Vector;
        constexpr int L = (int) (sizeof(Vector)/sizeof(Real)); // WP is a multiple of L
        int indices[3][16];
        for (int k = begin; k < end; k++) {
            const Real* wx = &pass.weights[(3*k)*ww];
            const Real* wy = &pass.weights[(3*k + 1)*ww];
            // A local copy, padded with zeros to wp, as whole SIMD vectors.
            Real wz[WP] = {};
            for (int tz = 0; tz < ww; tz++)
                wz[tz] = pass.weights[(3*k + 2)*ww + tz];
            Vector wzVectors[WP/L];
            for (int v = 0; v < WP/L; v++)
                wzVectors[v] = loadVector<Vector>(wz + v*L);
            wrappedIndices(pass, k, indices);
            const bool contiguous = (indices[2][0] + wp <= n[2]); // the padded z run does not wrap
            for (int ch = 0; ch < P; ch++) {
                const Real q = pass.charges[k*P + ch];
                if (q == 0)
                    continue;
                Real* grid = grids[ch];
                for (int tx = 0; tx < ww; tx++) {
                    const int gx = indices[0][tx];
                    if (gx < firstPlane || gx >= endPlane)
                        continue;
                    const Real qx = q*wx[tx];
                    for (int ty = 0; ty < ww; ty++) {
                        const Real a = qx*wy[ty];
                        Real* row = grid + ((long long) gx*n[1] + indices[1][ty])*n[2];
                        if (W > 0 && contiguous) {
                            Real* points = row + indices[2][0];
                            for (int v = 0; v < WP/L; v++) // adds zero beyond the support
                                storeVector(points + v*L, loadVector<Vector>(points + v*L) + a*wzVectors[v]);
                        }
                        else
                            for (int tz = 0; tz < ww; tz++)
                                row[indices[2][tz]] += a*wz[tz];
                    }
                }
            }
        }
    });
}

template <class Real>
static void interpolate(const SOGGridPass<Real>& pass, int begin, int end, const Real* const* grids,
        const SOGInterpolationOutput& output) {
    const int* n = pass.gridSize;
    const int P = pass.numChannels;
    const double (*recip)[3] = output.recip;
    withWidth(pass.width, [&](auto width) {
        constexpr int W = decltype(width)::value;
        const int ww = (W > 0 ? W : pass.width);
        constexpr int WP = paddedWidth<Real, W>(); // the local arrays' size
        const int wp = (W > 0 ? WP : ww);
        typedef typename Simd<Real>::Vector Vector;
        constexpr int L = (int) (sizeof(Vector)/sizeof(Real)); // WP is a multiple of L
        int indices[3][16];
        for (int k = begin; k < end; k++) {
            wrappedIndices(pass, k, indices);
            const bool contiguous = (indices[2][0] + wp <= n[2]);
            const Real* wx = &pass.weights[(3*k)*ww];
            const Real* wy = &pass.weights[(3*k + 1)*ww];
            const Real* dx = &pass.derivWeights[(3*k)*ww];
            const Real* dy = &pass.derivWeights[(3*k + 1)*ww];
            Real wz[WP] = {}, dz[WP] = {}; // padded with zeros to wp, as for spreading
            for (int tz = 0; tz < ww; tz++) {
                wz[tz] = pass.weights[(3*k + 2)*ww + tz];
                dz[tz] = pass.derivWeights[(3*k + 2)*ww + tz];
            }
            double force[3] = {0.0, 0.0, 0.0};
            for (int ch = 0; ch < P; ch++) {
                // Per z offset tz, the sums over x and y of wx wy u, dx wy u and wx dy u: each
                // row adds elementwise (the SIMD loop, no reduction), and the z sums come last:
                // phi = sum wz V, and the fractional gradient (sum wz X, sum wz Y, sum dz V).
                const Real* grid = grids[ch];
                Real V[WP] = {}, X[WP] = {}, Y[WP] = {};
                if (W > 0) {
                    Vector sumV[WP/L] = {}, sumX[WP/L] = {}, sumY[WP/L] = {};
                    Real wrappedRow[WP] = {}; // a support that wraps, gathered (zeros beyond it)
                    for (int tx = 0; tx < ww; tx++) {
                        const Real* plane = grid + (long long) indices[0][tx]*n[1]*(long long) n[2];
                        for (int ty = 0; ty < ww; ty++) {
                            const Real a = wx[tx]*wy[ty], b = dx[tx]*wy[ty], c = wx[tx]*dy[ty];
                            const Real* row = plane + (long long) indices[1][ty]*n[2];
                            const Real* points = row + indices[2][0];
                            if (!contiguous) {
                                for (int tz = 0; tz < ww; tz++)
                                    wrappedRow[tz] = row[indices[2][tz]];
                                points = wrappedRow;
                            }
                            for (int v = 0; v < WP/L; v++) {
                                const Vector u = loadVector<Vector>(points + v*L);
                                sumV[v] += a*u;
                                sumX[v] += b*u;
                                sumY[v] += c*u;
                            }
                        }
                    }
                    for (int v = 0; v < WP/L; v++) {
                        storeVector(V + v*L, sumV[v]);
                        storeVector(X + v*L, sumX[v]);
                        storeVector(Y + v*L, sumY[v]);
                    }
                }
                else
                    for (int tx = 0; tx < ww; tx++) {
                        const Real* plane = grid + (long long) indices[0][tx]*n[1]*(long long) n[2];
                        for (int ty = 0; ty < ww; ty++) {
                            const Real a = wx[tx]*wy[ty], b = dx[tx]*wy[ty], c = wx[tx]*dy[ty];
                            const Real* row = plane + (long long) indices[1][ty]*n[2];
                            for (int tz = 0; tz < ww; tz++) {
                                const Real u = row[indices[2][tz]];
                                V[tz] += a*u;
                                X[tz] += b*u;
                                Y[tz] += c*u;
                            }
                        }
                    }
                double phi = 0.0, g0 = 0.0, g1 = 0.0, g2 = 0.0;
                for (int tz = 0; tz < ww; tz++) {
                    phi += (double) wz[tz]*V[tz];
                    g0 += (double) wz[tz]*X[tz];
                    g1 += (double) wz[tz]*Y[tz];
                    g2 += (double) dz[tz]*V[tz];
                }
                const double q = output.charges[k*P + ch];
                for (int d = 0; d < 3; d++) // d phi/dr = sum_e (d phi/ds_e) recip[e]
                    force[d] -= (recip[0][d]*g0 + recip[1][d]*g1 + recip[2][d]*g2)*q;
                if (output.chargeDerivatives != nullptr)
                    output.chargeDerivatives[k*P + ch] = phi - output.selfKernel[ch]*q;
            }
            if (output.forces != nullptr)
                for (int d = 0; d < 3; d++)
                    output.forces[3*k + d] = force[d];
        }
    });
}

extern const SOGGridLoops<float> floatLoops = {computeWeights<float>, spread<float>, interpolate<float>,
        SOG_GRID_ISA_NAME};
extern const SOGGridLoops<double> doubleLoops = {computeWeights<double>, spread<double>, interpolate<double>,
        SOG_GRID_ISA_NAME};

} // namespace SOG_GRID_ISA
} // namespace SOGPlugin
