/*
 * Runs the shared SOGForce tests (tests/TestSOGForce.h) on the Reference platform, plus checks of
 * the plain-maths pieces that only the Reference platform has.
 */
#include "TestSOGForce.h"
#include "ReferenceSOGIxn.h"
#include "SOGFFT3D.h"
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
// even and odd sizes and line counts, and bitwise the same with a pool of threads; in double
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
    vector<Real> result(grid.size()), threadedResult(grid.size());
    fft.backward(spectrum.data(), result.data(), maxMode, nullptr);
    fft.backward(threaded.data(), threadedResult.data(), maxMode, &pool);
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
            }
}

// The kernel transform formula against numerical quadrature of phi.
void testKernelTransform() {
    const double beta = SOGForceImpl::calcKaiserBesselBeta(8);
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
    const double beta = SOGForceImpl::calcKaiserBesselBeta(16);
    for (double z : {0.0, 0.3, -0.77, 0.999999}) {
        double x = beta*sqrt(1 - z*z);
        ASSERT_EQUAL_TOL(cyl_bessel_i(0.0, x) - 1.0, SOGForceImpl::calcKernelValue(z, beta), 1e-13);
        double derivative = -beta*beta*z*(x > 0 ? cyl_bessel_i(1.0, x)/x : 0.5);
        ASSERT_EQUAL_TOL(derivative, SOGForceImpl::calcKernelDerivative(z, beta), 1e-13);
    }
}

// The polynomial spreading weights against the Bessel series, for every width the grid uses.
void testSpreadingKernel() {
    OpenMM_SFMT::SFMT sfmt;
    init_gen_rand(5, sfmt);
    for (int width = 4; width <= 16; width++) {
        const double beta = SOGForceImpl::calcKaiserBesselBeta(width), alpha = 0.5*width;
        SOGSpreadingKernel kernel(width, beta);
        ASSERT(kernel.getFitError() < 1e-14);
        // the Common kernel's single-precision fit: its own tolerance, with lower degrees
        SOGSpreadingKernel single(width, beta, 2e-8);
        ASSERT(single.getFitError() <= 2e-8);
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

void runPlatformTests() {
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
    testKernelTransform();
}
