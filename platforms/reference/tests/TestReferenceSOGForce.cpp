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

// The FFT against a direct DFT on 2,3,5-smooth grids, full and pruned to modes |m_d| <= K_d.
void testFFT() {
    const int n[3] = {12, 10, 15};
    const int maxMode[3] = {2, 1, 3};
    SOGFFT3D fft(n[0], n[1], n[2]);
    OpenMM_SFMT::SFMT sfmt;
    init_gen_rand(3, sfmt);
    auto isUsed = [&](int index, int d) {
        return index <= maxMode[d] || index >= n[d] - maxMode[d];
    };
    for (bool pruned : {false, true})
        for (bool forward : {true, false}) {
            vector<complex<double> > data(n[0]*n[1]*n[2]);
            for (int x = 0; x < n[0]; x++)
                for (int y = 0; y < n[1]; y++)
                    for (int z = 0; z < n[2]; z++) {
                        complex<double> value(genrand_real2(sfmt) - 0.5, genrand_real2(sfmt) - 0.5);
                        // a pruned backward transform requires zeros outside the used modes
                        bool zero = (pruned && !forward && !(isUsed(x, 0) && isUsed(y, 1) && isUsed(z, 2)));
                        data[(x*n[1] + y)*n[2] + z] = (zero ? 0.0 : value);
                    }
            vector<complex<double> > transformed(data);
            fft.transform(transformed, forward, nullptr, pruned ? maxMode : nullptr);
            double sign = (forward ? -1.0 : 1.0);
            for (int mx = 0; mx < n[0]; mx++)
                for (int my = 0; my < n[1]; my++)
                    for (int mz = 0; mz < n[2]; mz++) {
                        if (pruned && forward && !(isUsed(mx, 0) && isUsed(my, 1) && isUsed(mz, 2)))
                            continue; // not computed
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

void runPlatformTests() {
    testKernelValues();
    testNonFinitePosition();
    testFFT();
    testKernelTransform();
}
