/*
 * Runs the shared SOGForce tests (tests/TestSOGForce.h) on the Reference platform, plus checks of
 * the plain-maths pieces that only the Reference platform has.
 */
#include "TestSOGForce.h"
#include "ReferenceSOGIxn.h"
#include "SOGFFT3D.h"
#include "SOGGridLoops.h"
#include "internal/SOGSpreadingKernel.h"
#include "openmm/internal/ThreadPool.h"
#include <complex>
#include <map>

extern "C" void registerKernelFactories();

void initializeTests(int argc, char* argv[]) {
    registerKernelFactories();
    platform = &Platform::getPlatformByName("Reference");
}

// The real-grid FFTs against direct DFTs (summed in double from the same inputs), on grids with
// even and odd sizes and line counts, and bitwise the same with a pool of threads and with the
// baseline instruction set instead of AVX2 or AVX-512; in double
// precision (the Reference platform) to 1e-12 and in single precision (the CPU platform) to
// tolerance (relative to max(1, |expected|)), a few hundred float roundings.
template <class Real>
void testFFT(const int n[3], const int maxMode[3], double tolerance) {
    SOGFFT3D<Real> fft(n[0], n[1], n[2]);
    ThreadPool pool(3);
    OpenMM_SFMT::SFMT sfmt;
    init_gen_rand(3, sfmt);
    const int kz = maxMode[2] + 1;
    auto wrap = [&](int m, int d) {
        return (m + n[d]) % n[d];
    };
    auto spectrumIndex = [&](int mx, int my, int mz) {
        return (wrap(mx, 0)*n[1] + wrap(my, 1))*kz + mz;
    };
    // forward: a real grid to its modes |m_d| <= K_d, m_z >= 0
    vector<Real> grid(n[0]*n[1]*n[2]);
    for (Real& value : grid)
        value = (Real) (genrand_real2(sfmt) - 0.5);
    vector<complex<Real> > spectrum(fft.getSpectrumSize(maxMode)), threaded(spectrum.size());
    fft.forward(grid.data(), spectrum.data(), maxMode, nullptr);
    fft.forward(grid.data(), threaded.data(), maxMode, &pool);
    // The baseline instruction set gives the same bits as AVX2 (where this processor has it).
    SOGFFT3D<Real> baselineFFT(n[0], n[1], n[2], false);
    vector<complex<Real> > baseline(spectrum.size());
    baselineFFT.forward(grid.data(), baseline.data(), maxMode, nullptr);
    for (int mx = -maxMode[0]; mx <= maxMode[0]; mx++)
        for (int my = -maxMode[1]; my <= maxMode[1]; my++)
            for (int mz = 0; mz <= maxMode[2]; mz++) {
                complex<double> expected = 0.0;
                for (int x = 0; x < n[0]; x++)
                    for (int y = 0; y < n[1]; y++)
                        for (int z = 0; z < n[2]; z++) {
                            double phase = 2*M_PI*((double) mx*x/n[0] + (double) my*y/n[1] + (double) mz*z/n[2]);
                            expected += (double) grid[(x*n[1] + y)*n[2] + z]*polar(1.0, -phase);
                        }
                complex<Real> found = spectrum[spectrumIndex(mx, my, mz)];
                ASSERT_EQUAL_TOL(expected.real(), found.real(), tolerance);
                ASSERT_EQUAL_TOL(expected.imag(), found.imag(), tolerance);
                ASSERT(found == threaded[spectrumIndex(mx, my, mz)]);
                ASSERT(found == baseline[spectrumIndex(mx, my, mz)]);
            }
    // backward: a Hermitian spectrum on |m_d| <= K_d to its real grid; the other entries are ignored
    map<vector<int>, complex<double> > modes;
    for (int mx = -maxMode[0]; mx <= maxMode[0]; mx++)
        for (int my = -maxMode[1]; my <= maxMode[1]; my++)
            for (int mz = -maxMode[2]; mz <= maxMode[2]; mz++) {
                vector<int> m = {mx, my, mz}, minus = {-mx, -my, -mz};
                if (modes.count(minus) != 0)
                    modes[m] = conj(modes[minus]);
                else
                    modes[m] = complex<double>((Real) (genrand_real2(sfmt) - 0.5), (m == minus ? 0.0 : (Real) (genrand_real2(sfmt) - 0.5)));
            }
    for (auto& entry : spectrum)
        entry = complex<Real>((Real) (1e3*genrand_real2(sfmt)), (Real) 1e3);
    for (auto& entry : modes)
        if (entry.first[2] >= 0)
            spectrum[spectrumIndex(entry.first[0], entry.first[1], entry.first[2])] = complex<Real>(entry.second);
    threaded = spectrum;
    baseline = spectrum;
    vector<Real> result(grid.size()), threadedResult(grid.size()), baselineResult(grid.size());
    fft.backward(spectrum.data(), result.data(), maxMode, nullptr);
    fft.backward(threaded.data(), threadedResult.data(), maxMode, &pool);
    baselineFFT.backward(baseline.data(), baselineResult.data(), maxMode, nullptr);
    for (int x = 0; x < n[0]; x++)
        for (int y = 0; y < n[1]; y++)
            for (int z = 0; z < n[2]; z++) {
                complex<double> expected = 0.0;
                for (auto& entry : modes) {
                    const vector<int>& m = entry.first;
                    double phase = 2*M_PI*((double) m[0]*x/n[0] + (double) m[1]*y/n[1] + (double) m[2]*z/n[2]);
                    expected += entry.second*polar(1.0, phase);
                }
                int index = (x*n[1] + y)*n[2] + z;
                ASSERT_EQUAL_TOL(0.0, expected.imag(), 1e-12);
                ASSERT_EQUAL_TOL(expected.real(), result[index], tolerance);
                ASSERT(result[index] == threadedResult[index]);
                ASSERT(result[index] == baselineResult[index]);
            }
}

// The kernel transform formula against numerical quadrature of phi.
void testKernelTransform() {
    const double beta = SOGForceImpl::calcKaiserBesselBeta(1e-8, 8);
    for (double omega : {0.0, 1.3, 4.0, 9.0}) {
        const int steps = 20000;
        double integral = 0.0;
        for (int i = 0; i < steps; i++) {
            double z = -1.0 + (i + 0.5)*2.0/steps;
            integral += SOGForceImpl::calcKernelValue(z, beta)*cos(omega*z)*2.0/steps;
        }
        ASSERT_EQUAL_TOL(integral, SOGForceImpl::calcKernelTransform(omega, beta), 1e-7);
    }
}

// The series used for the spreading kernel against the C++17 special functions.
void testKernelValues() {
    const double beta = SOGForceImpl::calcKaiserBesselBeta(1e-8, 16);
    for (double z : {0.0, 0.3, -0.77, 0.999999}) {
        double x = beta*sqrt(1 - z*z);
        ASSERT_EQUAL_TOL(cyl_bessel_i(0.0, x) - 1.0, SOGForceImpl::calcKernelValue(z, beta), 1e-13);
        double derivative = -beta*beta*z*(x > 0 ? cyl_bessel_i(1.0, x)/x : 0.5);
        ASSERT_EQUAL_TOL(derivative, SOGForceImpl::calcKernelDerivative(z, beta), 1e-13);
    }
}

// The polynomial spreading weights against the Bessel series, for every width and window
// shape the grid rules use (the fine rule's at tolerance 1e-8, the coarse rule's at 1e-2).
void testSpreadingKernel() {
    OpenMM_SFMT::SFMT sfmt;
    init_gen_rand(5, sfmt);
    ASSERT(SOGForceImpl::getNufftRule(1e-2).upsampling == SOGForceImpl::coarseGridRule.upsampling);
    ASSERT(SOGForceImpl::getNufftRule(1e-8).upsampling == SOGForceImpl::fineGridRule.upsampling);
    for (double ruleTolerance : {1e-8, 1e-2})
    for (int width = 4; width <= 16; width++) {
        const double beta = SOGForceImpl::calcKaiserBesselBeta(ruleTolerance, width), alpha = 0.5*width;
        SOGSpreadingKernel kernel(width, beta);
        ASSERT(kernel.getFitError() < 1e-14);
        // the single-precision fit (Common kernel, float host engine): its own tolerance, lower degrees
        const double singleTolerance = SOGSpreadingKernel::getRoundOffTolerance(true);
        SOGSpreadingKernel single(width, beta, singleTolerance);
        ASSERT(singleTolerance <= 2e-8 && single.getFitError() <= singleTolerance);
        ASSERT(single.getDegree(false) < kernel.getDegree(false) && single.getDegree(true) < kernel.getDegree(true));
        const double peak = SOGForceImpl::calcKernelValue(0.0, beta);
        double values[16], derivatives[16];
        for (int sample = 0; sample < 200; sample++) {
            double u = (sample == 0 ? 0.0 : genrand_real2(sfmt));
            kernel.evaluate(u, values, derivatives);
            for (int t = 0; t < width; t++) {
                double z = 1.0 - (u + t)/alpha;
                ASSERT_EQUAL_TOL(SOGForceImpl::calcKernelValue(z, beta)/peak, values[t]/peak, 3e-14);
                // (at u = 0 the derivative jumps at the edge of the support, t = 0)
                if (u > 0 || t > 0)
                    ASSERT(fabs(SOGForceImpl::calcKernelDerivative(z, beta) - derivatives[t]) < 3e-14*beta*beta*peak);
            }
        }
    }
}

/*
 * One instruction set's grid loops against plain loops written here (the oracle): the weights
 * against SOGSpreadingKernel::evaluate, spreading against a direct sum over each particle's
 * w^3 support points, interpolation against direct sums of the potential and its gradient. Grid
 * sizes and first indices are chosen so that supports wrap around every axis; widths 5 and 8
 * take the compile-time-width loops, 14 the run-time fallback. Threads' x slabs are mimicked by
 * spreading the planes in two pieces.
 */
template <class Real>
void testGridLoops(const SOGGridLoops<Real>& loops, int w, double tolerance) {
    OpenMM_SFMT::SFMT sfmt;
    init_gen_rand(11 + w, sfmt);
    const int n[3] = {w + 11, 2*w + 3, w + 4}, P = 2, numParticles = 40;
    const double beta = SOGForceImpl::calcKaiserBesselBeta(1e-8, w), alpha = 0.5*w;
    SOGSpreadingKernel kernel(w, beta, SOGSpreadingKernel::getRoundOffTolerance(sizeof(Real) == sizeof(float)));
    const double scale = 1.0/SOGForceImpl::calcKernelValue(0.0, beta);
    // everything by sorted entry k, as the engine passes it
    vector<int> firstIndex(3*numParticles);
    vector<double> variables(3*numParticles), charges(numParticles*P);
    for (int i = 0; i < 3*numParticles; i++)
        variables[i] = 2.0*genrand_real2(sfmt) - 1.0;
    for (int k = 0; k < numParticles; k++)
        for (int d = 0; d < 3; d++)
            firstIndex[3*k + d] = (k < 3 ? -(w/2) - k : (int) (genrand_real2(sfmt)*n[d]) - w/2); // the first wrap below 0
    for (double& q : charges)
        q = genrand_real2(sfmt) - 0.5;
    charges[0] = 0.0; // a zero charge is skipped
    SOGWeightPolynomials polynomials;
    polynomials.valueCoefficients = kernel.getCoefficients(false).data();
    polynomials.valueDegree = kernel.getDegree(false);
    polynomials.derivativeCoefficients = kernel.getCoefficients(true).data();
    polynomials.derivativeDegree = kernel.getDegree(true);
    polynomials.valueScale = scale;
    for (int d = 0; d < 3; d++)
        polynomials.derivativeScale[d] = scale*n[d]/alpha;
    vector<Real> weights(3*numParticles*w), derivWeights(3*numParticles*w), sortedCharges(numParticles*P);
    loops.computeWeights(polynomials, w, variables.data(), 0, 10, weights.data(), derivWeights.data());
    loops.computeWeights(polynomials, w, variables.data(), 10, numParticles, weights.data(), derivWeights.data());
    for (int k = 0; k < numParticles; k++) {
        for (int c = 0; c < P; c++)
            sortedCharges[k*P + c] = (Real) charges[k*P + c];
        for (int d = 0; d < 3; d++) {
            double values[16], derivatives[16];
            kernel.evaluate(0.5*(variables[3*k + d] + 1.0), values, derivatives);
            for (int t = 0; t < w; t++) {
                ASSERT_EQUAL_TOL(scale*values[t], weights[(3*k + d)*w + t], tolerance);
                ASSERT(fabs(scale*derivatives[t]*n[d]/alpha - derivWeights[(3*k + d)*w + t]) <= tolerance*beta*beta*n[d]/alpha);
            }
        }
    }
    vector<int> wrapTables[3];
    SOGGridPass<Real> pass;
    pass.width = w;
    pass.numChannels = P;
    for (int d = 0; d < 3; d++) {
        pass.gridSize[d] = n[d];
        for (int j = -w; j < n[d] + w; j++)
            wrapTables[d].push_back(((j % n[d]) + n[d]) % n[d]);
        pass.wrapTable[d] = wrapTables[d].data();
    }
    pass.firstIndex = firstIndex.data();
    pass.weights = weights.data();
    pass.derivWeights = derivWeights.data();
    pass.charges = sortedCharges.data();
    auto weight = [&](const vector<Real>& values, int k, int d, int t) {
        return (double) values[(3*k + d)*w + t];
    };
    auto gridIndex = [&](int k, int tx, int ty, int tz) {
        const int* j = &firstIndex[3*k];
        return ((size_t) wrapTables[0][j[0] + tx + w]*n[1] + wrapTables[1][j[1] + ty + w])*n[2] + wrapTables[2][j[2] + tz + w];
    };
    const size_t points = (size_t) n[0]*n[1]*n[2];
    vector<double> expected(P*points, 0.0);
    for (int k = 0; k < numParticles; k++)
        for (int c = 0; c < P; c++)
            for (int tx = 0; tx < w; tx++)
                for (int ty = 0; ty < w; ty++)
                    for (int tz = 0; tz < w; tz++)
                        expected[c*points + gridIndex(k, tx, ty, tz)] += (double) sortedCharges[k*P + c]*
                                weight(weights, k, 0, tx)*weight(weights, k, 1, ty)*weight(weights, k, 2, tz);
    vector<vector<Real> > grids(P, vector<Real>(points, (Real) 0));
    vector<Real*> gridPointers = {grids[0].data(), grids[1].data()};
    const int split = n[0]/3;
    loops.spread(pass, 0, numParticles, 0, split, gridPointers.data());
    loops.spread(pass, 0, numParticles, split, n[0], gridPointers.data());
    for (int c = 0; c < P; c++)
        for (size_t g = 0; g < points; g++)
            ASSERT(fabs(expected[c*points + g] - grids[c][g]) <= tolerance);
    // interpolation of random potential grids
    for (auto& grid : grids)
        for (Real& value : grid)
            value = (Real) (genrand_real2(sfmt) - 0.5);
    const double selfKernel[2] = {0.7, -1.3};
    SOGInterpolationOutput output;
    output.charges = charges.data();
    output.selfKernel = selfKernel;
    for (int d = 0; d < 3; d++)
        for (int e = 0; e < 3; e++)
            output.recip[d][e] = (d == e ? 0.5 + d : 0.1*(e - d));
    vector<double> forces(3*numParticles, NAN), chargeDerivatives(numParticles*P, NAN); // every entry is set
    output.forces = forces.data();
    output.chargeDerivatives = chargeDerivatives.data();
    const Real* const* potentials = gridPointers.data();
    loops.interpolate(pass, 0, 7, potentials, output);
    loops.interpolate(pass, 7, numParticles, potentials, output);
    for (int k = 0; k < numParticles; k++) {
        double force[3] = {0.0, 0.0, 0.0};
        for (int c = 0; c < P; c++) {
            double phi = 0.0, gradient[3] = {0.0, 0.0, 0.0};
            for (int tx = 0; tx < w; tx++)
                for (int ty = 0; ty < w; ty++)
                    for (int tz = 0; tz < w; tz++) {
                        const double u = grids[c][gridIndex(k, tx, ty, tz)];
                        const double wx = weight(weights, k, 0, tx), wy = weight(weights, k, 1, ty), wz = weight(weights, k, 2, tz);
                        phi += wx*wy*wz*u;
                        gradient[0] += weight(derivWeights, k, 0, tx)*wy*wz*u;
                        gradient[1] += wx*weight(derivWeights, k, 1, ty)*wz*u;
                        gradient[2] += wx*wy*weight(derivWeights, k, 2, tz)*u;
                    }
            const double q = charges[k*P + c];
            ASSERT_EQUAL_TOL(phi - selfKernel[c]*q, chargeDerivatives[k*P + c], tolerance);
            for (int d = 0; d < 3; d++)
                force[d] -= (output.recip[0][d]*gradient[0] + output.recip[1][d]*gradient[1] + output.recip[2][d]*gradient[2])*q;
        }
        for (int d = 0; d < 3; d++)
            ASSERT(fabs(force[d] - forces[3*k + d]) <= tolerance*n[0]*max(1.0, fabs(force[d])));
    }
}

/*
 * Every instruction set's loops that this build has and this processor runs, in both precisions.
 */
void testAllGridLoops() {
    vector<pair<const SOGGridLoops<float>*, const SOGGridLoops<double>*> > sets = {{&baseline::floatLoops, &baseline::doubleLoops}};
#ifdef SOG_HAVE_AVX2_LOOPS
    if (string(selectGridLoops<float>().instructionSet) == "avx2")
        sets.push_back({&avx2::floatLoops, &avx2::doubleLoops});
    else
        printf("grid loops: this processor lacks AVX2 or FMA; only the baseline loops were tested\n");
#endif
    ASSERT(string(selectGridLoops<float>().instructionSet) == selectGridLoops<double>().instructionSet);
    for (auto& set : sets)
        for (int w : {5, 8, 14}) {
            testGridLoops<float>(*set.first, w, 2e-5);
            testGridLoops<double>(*set.second, w, 1e-12);
        }
}

void runPlatformTests() {
    testAllGridLoops();
    testKernelValues();
    testSpreadingKernel();
    testNonFinitePosition();
    const int evenSize[3] = {12, 10, 15}, evenModes[3] = {2, 1, 3};
    testFFT<double>(evenSize, evenModes, 1e-12);
    testFFT<float>(evenSize, evenModes, 2e-5);
    const int oddSize[3] = {9, 5, 16}, oddModes[3] = {4, 0, 7}; // an odd number of z lines
    testFFT<double>(oddSize, oddModes, 1e-12);
    testFFT<float>(oddSize, oddModes, 2e-5);
    const int radix7Size[3] = {14, 7, 6}, radix7Modes[3] = {3, 2, 2};
    testFFT<double>(radix7Size, radix7Modes, 1e-12);
    testFFT<float>(radix7Size, radix7Modes, 2e-5);
    const int radix8Size[3] = {64, 8, 40}, radix8Modes[3] = {5, 3, 9}; // radix-8 stages: 8 x 8, 8, 8 x 5
    testFFT<double>(radix8Size, radix8Modes, 1e-12);
    testFFT<float>(radix8Size, radix8Modes, 2e-5);
    testKernelTransform();
}
