/*
 * Runs the shared SOGForce tests (tests/TestSOGForce.h) on the OpenCL platform in the precision
 * given as the first argument (single, mixed or double), and compares with the Reference platform.
 */
#include "TestSOGForce.h"

void initializeTests(int argc, char* argv[]) {
    Platform::loadPluginLibrary(OPENMM_OPENCL_PLUGIN);
    Platform::loadPluginLibrary(SOG_OPENCL_PLUGIN);
    platform = &Platform::getPlatformByName("OpenCL");
    string precision = (argc > 1 ? argv[1] : "single");
    platform->setPropertyDefaultValue("Precision", precision);
    if (precision != "double") {
        // Single-precision positions, weights and FFTs: the achievable relative error is set by
        // float round-off (~1e-7) amplified by the sums over grid points and modes, not by the
        // requested tolerance.
        checkTolerance = 1e-4;
        compareEnergyOnSelfScale = true;
        finiteDifferenceTolerance = 2e-2;
        derivativeTolerance = 2e-3;
    }
}

void runPlatformTests() {
}
