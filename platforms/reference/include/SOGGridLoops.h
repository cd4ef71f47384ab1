#ifndef OPENMM_SOGGRIDLOOPS_H_
#define OPENMM_SOGGRIDLOOPS_H_

/*
 * The host NUFFT engine's hot loops: the spreading weights, spreading (type 1) and interpolation
 * (type 2). ReferenceSOGIxn does everything else (grid order, threads, FFTs, k-space).
 *
 * They are compiled once per instruction set from src/SOGGridLoopsImpl.h: SOGGridLoops.cpp for
 * the build's baseline, SOGGridLoopsAvx2.cpp with AVX2 and FMA on x86-64 (twice the SIMD width
 * and fused multiply-adds), and selectGridLoops() picks one when the engine is created, by what
 * the processor supports. The loops take plain arrays and call no inline function they share
 * with the rest of the library: the linker keeps one copy of such a function, which could then be
 * the AVX2 one on a processor without AVX2.
 */

namespace SOGPlugin {

/**
 * What the spreading and interpolation loops read: the grid and the particles in grid order
 * (entry k is the k-th particle of that order, see ReferenceSOGIxn::calculate()).
 */
template <class Real>
struct SOGGridPass {
    int width;               // w, support points per axis
    int gridSize[3];         // n_d
    int numChannels;         // P
    const int* wrapTable[3]; // wrapTable[d][j + w] = j wrapped into [0, n_d), for j in [-w, n_d + w)
    const int* firstIndex;   // entry 3*k + d: the first grid index (unwrapped) of the support along d
    const Real* weights;     // entry (3*k + d)*w + t: spreading weight of support point t along d
    const Real* derivWeights; // the same for d/ds_d (interpolation only)
    const Real* charges;     // entry k*P + c
};

/**
 * The weight polynomials (SOGSpreadingKernel) and the scales the weights get.
 */
struct SOGWeightPolynomials {
    const double* valueCoefficients;      // entry k*w + t: coefficient of v^k for point t
    int valueDegree;
    const double* derivativeCoefficients; // null: no derivative weights
    int derivativeDegree;
    double valueScale;                    // 1/phi(0)
    double derivativeScale[3];            // 1/phi(0) times dz/ds_d
};

/**
 * Where interpolation puts its results, in grid order like its inputs: the caller adds them to
 * the particles (a tight loop of scattered writes, rather than one scattered write after each
 * particle's arithmetic, where every cache miss stalls it).
 */
struct SOGInterpolationOutput {
    const double* charges;     // entry k*P + c, in proton charges
    const double* selfKernel;  // g_c(0) per channel, kJ/mol/e^2
    double recip[3][3];        // recip[d]: column d of the inverse box matrix, 1/nm
    double* forces;            // if not null, entry 3*k + d is set to the force on entry k (kJ/mol/nm)
    double* chargeDerivatives; // if not null, entry k*P + c is set to dE/dq (kJ/mol/e)
};

/**
 * One instruction set's loops. Each works on a range [begin, end) of the grid order, so that
 * ReferenceSOGIxn shares the work among threads.
 */
template <class Real>
struct SOGGridLoops {
    /**
     * Weights (and derivative weights, if the polynomials have them) of sorted entries
     * [begin, end): variables[3*k + d] is the polynomials' variable 2u - 1 of entry k along d.
     */
    void (*computeWeights)(const SOGWeightPolynomials& polynomials, int width, const double* variables,
            int begin, int end, Real* weights, Real* derivWeights);
    /**
     * Add the charges of sorted entries [begin, end) to grids[c], at grid planes x in
     * [firstPlane, endPlane) only.
     */
    void (*spread)(const SOGGridPass<Real>& pass, int begin, int end, int firstPlane, int endPlane, Real* const* grids);
    /**
     * Interpolate the potential grids and their fractional gradients at sorted entries [begin, end).
     */
    void (*interpolate)(const SOGGridPass<Real>& pass, int begin, int end, const Real* const* grids,
            const SOGInterpolationOutput& output);
    const char* instructionSet; // "baseline" or "avx2"
};

namespace baseline {
extern const SOGGridLoops<float> floatLoops;
extern const SOGGridLoops<double> doubleLoops;
}

#ifdef SOG_HAVE_AVX2_LOOPS
namespace avx2 {
extern const SOGGridLoops<float> floatLoops;
extern const SOGGridLoops<double> doubleLoops;
}

/**
 * Whether this processor runs the AVX2 code of the host engine (it has AVX2 and FMA), asked once.
 */
bool useAvx2Loops();
#endif

/**
 * The fastest loops this processor runs: AVX2 where it has AVX2 and FMA (and the build compiled
 * them), else the baseline.
 */
template <class Real>
const SOGGridLoops<Real>& selectGridLoops();

} // namespace SOGPlugin

#endif /*OPENMM_SOGGRIDLOOPS_H_*/
