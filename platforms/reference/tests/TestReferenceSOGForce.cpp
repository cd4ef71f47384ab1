/*
 * Runs the shared SOGForce tests (tests/TestSOGForce.h) on the Reference platform, plus checks of
 * the plain-maths pieces that only the Reference platform has.
 */
#include "TestSOGForce.h"
#include "ReferenceSOGIxn.h"
#include "SOGFFT3D.h"
#include <complex>

extern "C" void registerKernelFactories();

void initializeTests(int argc, char* argv[]) {
    registerKernelFactories();
    platform = &Platform::getPlatformByName("Reference");
}

// The FFT against a direct DFT on a 2,3,5-smooth grid.
void testFFT() {
    const int n[3] = {6, 10, 4};
    SOGFFT3D fft(n[0], n[1], n[2]);
    OpenMM_SFMT::SFMT sfmt;
    init_gen_rand(3, sfmt);
    vector<complex<double> > data(n[0]*n[1]*n[2]);
    for (auto& value : data)
        value = complex<double>(genrand_real2(sfmt) - 0.5, genrand_real2(sfmt) - 0.5);
    for (bool forward : {true, false}) {
        vector<complex<double> > transformed(data);
        fft.transform(transformed, forward);
        double sign = (forward ? -1.0 : 1.0);
        for (int mx = 0; mx < n[0]; mx++)
            for (int my = 0; my < n[1]; my++)
                for (int mz = 0; mz < n[2]; mz++) {
                    complex<double> expected = 0.0;
                    for (int x = 0; x < n[0]; x++)
                        for (int y = 0; y < n[1]; y++)
                            for (int z = 0; z < n[2]; z++) {
                                double phase = 2*M_PI*((double) mx*x/n[0] + (double) my*y/n[1] + (double) mz*z/n[2]);
                                expected += data[(x*n[1] + y)*n[2] + z]*polar(1.0, sign*phase);
                            }
                    complex<double> found = transformed[(mx*n[1] + my)*n[2] + mz];
                    ASSERT_EQUAL_TOL(expected.real(), found.real(), 1e-12);
                    ASSERT_EQUAL_TOL(expected.imag(), found.imag(), 1e-12);
                }
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

void runPlatformTests() {
    testNonFinitePosition();
    testFFT();
    testKernelTransform();
}
